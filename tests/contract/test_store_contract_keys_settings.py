"""Contract for API keys and server settings, on every store adapter."""

from __future__ import annotations

import datetime as dt

import pytest

from mintaka.exceptions import Conflict
from mintaka.schemas import ApiKeyScope
from mintaka_server.storage import ApiKeyRecord


def key(key_id: str, seconds: int = 0) -> ApiKeyRecord:
    created = dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    return ApiKeyRecord(id=key_id, name=f"name-{key_id}", created=created, secret_hash=f"hash-{key_id}")


class TestApiKeys:
    def test_create_read_list_oldest_first(self, store):
        store.create_api_key(key("b", 2))
        store.create_api_key(key("a", 1))
        assert store.read_api_key("a") == key("a", 1)
        assert store.read_api_key("missing") is None
        assert [k.id for k in store.list_api_keys()] == ["a", "b"]

    def test_duplicate_id_is_a_conflict_and_keeps_the_first(self, store):
        store.create_api_key(key("a"))
        with pytest.raises(Conflict):
            store.create_api_key(key("a").model_copy(update={"secret_hash": "other"}))
        assert store.read_api_key("a").secret_hash == "hash-a"

    def test_the_scope_is_kept(self, store):
        for key_id, scope in [("r", ApiKeyScope.read), ("w", ApiKeyScope.write), ("x", ApiKeyScope.admin)]:
            store.create_api_key(key(key_id).model_copy(update={"scope": scope}))
        assert [(k.id, k.scope) for k in store.list_api_keys()] == [
            ("r", ApiKeyScope.read),
            ("w", ApiKeyScope.write),
            ("x", ApiKeyScope.admin),
        ]
        store.revoke_api_key("x", dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
        assert store.read_api_key("x").scope is ApiKeyScope.admin

    def test_revoke_keeps_the_first_time(self, store):
        store.create_api_key(key("a"))
        first = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
        assert store.revoke_api_key("a", first) is True
        assert store.revoke_api_key("a", first + dt.timedelta(days=1)) is True
        assert store.read_api_key("a").revoked == first
        assert store.revoke_api_key("missing", first) is False


class TestSettings:
    def test_write_read_replace(self, store):
        assert store.read_setting("result-storage") is None
        store.write_setting("result-storage", {"url": "s3://bucket/a"})
        store.write_setting("result-storage", {"url": "s3://bucket/b"})
        assert store.read_setting("result-storage") == {"url": "s3://bucket/b"}
