"""API keys in the service: the key's shape, hash-only storage, constant-time verification that
refuses wrong, malformed, unknown and revoked keys, and the short per-process cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3

import pytest
from pydantic import ValidationError

from mintaka.exceptions import ObjectNotFound
from mintaka.schemas import ApiKeyCreate, ApiKeyScope
from mintaka.states import utcnow
from mintaka_server.services import ApiKeyService, OrchestrationService
from mintaka_server.services.api_keys import parse_key


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tick() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def keys(sqlite_store, tick) -> ApiKeyService:
    return ApiKeyService(sqlite_store, cache_seconds=5.0, monotonic=tick)


def test_a_key_reads_mk_id_secret_and_only_its_hash_is_stored(keys, sqlite_store, tmp_path):
    created = keys.create(ApiKeyCreate(name="ci"))
    prefix, key_id, secret = created.key.split("_", 2)
    assert (prefix, key_id) == ("mk", created.id)
    assert len(key_id) == 12 and len(secret) >= 43  # 6 random bytes; token_urlsafe(32)
    assert parse_key(created.key) == (key_id, secret)

    [record] = sqlite_store.list_api_keys()
    assert record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in record.model_dump_json()
    with contextlib.closing(sqlite3.connect(tmp_path / "mintaka.db")) as db:  # the whole database
        dump = "\n".join(db.iterdump())
    assert record.secret_hash in dump and secret not in dump
    listed = keys.list()
    assert [(k.id, k.name, k.revoked) for k in listed] == [(key_id, "ci", None)]
    assert "secret_hash" not in listed[0].model_dump() and not hasattr(listed[0], "key")


def test_verify_accepts_the_key_and_nothing_else(keys):
    created = keys.create(ApiKeyCreate(name="ci"))
    other = keys.create(ApiKeyCreate(name="other"))
    assert keys.verify(created.key).id == created.id
    assert keys.verify(f"  {created.key}  ").id == created.id
    _, key_id, secret = created.key.split("_", 2)
    _, other_id, other_secret = other.key.split("_", 2)
    refused = [
        f"mk_{key_id}_{secret[:-1]}x" if secret[-1] != "x" else f"mk_{key_id}_{secret[:-1]}y",
        f"mk_{key_id}_{other_secret}",  # another key's secret under this id
        f"mk_{other_id}_{secret}",
        f"mk_{'0' * 12}_{secret}",  # unknown id
        f"xx_{key_id}_{secret}",
        f"mk_{key_id.upper()}_{secret}",
        f"mk_{key_id}",
        "mk__",
        secret,
        "",
    ]
    for key in refused:
        assert keys.verify(key) is None, key


def test_revoked_keys_are_refused_at_once_through_the_service(keys):
    created = keys.create(ApiKeyCreate(name="ci"))
    assert keys.verify(created.key) is not None  # now cached
    keys.revoke(created.id)
    assert keys.verify(created.key) is None
    keys.revoke(created.id)  # again: harmless, keeps the first time
    [listed] = keys.list()
    assert listed.revoked is not None
    with pytest.raises(ObjectNotFound, match="No API key"):
        keys.revoke("000000000000")


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_window_passes(keys, sqlite_store, tick):
    created = keys.create(ApiKeyCreate(name="ci"))
    assert keys.verify(created.key) is not None
    sqlite_store.revoke_api_key(created.id, utcnow())  # another process (container, CLI) revoked it
    tick.now += 4.9
    assert keys.verify(created.key) is not None  # still cached: at most cache_seconds late
    tick.now += 0.2
    assert keys.verify(created.key) is None


def test_verification_costs_one_store_read_per_window(keys, sqlite_store, tick, monkeypatch):
    created = keys.create(ApiKeyCreate(name="ci"))
    reads = []
    real = sqlite_store.read_api_key
    monkeypatch.setattr(sqlite_store, "read_api_key", lambda key_id: reads.append(key_id) or real(key_id))
    for _ in range(20):
        assert keys.verify(created.key) is not None
    assert reads == [created.id]
    tick.now += 6
    assert keys.verify(created.key) is not None
    assert len(reads) == 2
    assert keys.verify("mk_000000000000_nope") is None  # unknown ids are not cached...
    assert keys.verify("mk_000000000000_nope") is None
    assert len(reads) == 4


def test_the_orchestration_service_exposes_keys_and_settings_under_the_client_names(sqlite_store):
    from mintaka.client import MintakaClient
    from mintaka.schemas import ResultStorageSetting

    service = OrchestrationService(sqlite_store)
    for name in ("create_api_key", "list_api_keys", "revoke_api_key", "read_result_storage",
                 "set_result_storage", "clear_result_storage"):  # fmt: skip
        assert name in MintakaClient.__abstractmethods__ and callable(getattr(service, name))
    created = service.create_api_key(ApiKeyCreate(name="ci"))
    assert service.api_keys.verify(created.key) is not None
    assert service.read_result_storage() is None
    assert service.set_result_storage(ResultStorageSetting(url="s3://b/p")).url == "s3://b/p"
    assert service.read_result_storage().url == "s3://b/p"
    service.clear_result_storage()
    assert service.read_result_storage() is None


def test_a_key_has_the_scope_it_was_made_with_write_by_default(keys):
    assert keys.create(ApiKeyCreate(name="ci")).scope is ApiKeyScope.write
    viewer = keys.create(ApiKeyCreate(name="viewer", scope="read"))
    assert viewer.scope is ApiKeyScope.read and keys.verify(viewer.key).scope is ApiKeyScope.read
    assert [k.scope for k in keys.list()] == [ApiKeyScope.write, ApiKeyScope.read]
    with pytest.raises(ValidationError, match=r"read.*write.*admin"):
        ApiKeyCreate(name="root", scope="root")


def test_a_key_stored_before_scopes_existed_reads_as_write(keys, sqlite_store, tmp_path):
    created = keys.create(ApiKeyCreate(name="old", scope="admin"))
    with contextlib.closing(sqlite3.connect(tmp_path / "mintaka.db")) as db, db:
        (doc,) = db.execute("SELECT doc FROM api_keys WHERE id = ?", (created.id,)).fetchone()
        legacy = {k: v for k, v in json.loads(doc).items() if k != "scope"}  # as an older version wrote it
        db.execute("UPDATE api_keys SET doc = ? WHERE id = ?", (json.dumps(legacy), created.id))
    assert keys.verify(created.key).scope is ApiKeyScope.write


def test_scopes_nest():
    read, write, admin = ApiKeyScope.read, ApiKeyScope.write, ApiKeyScope.admin
    assert [(a.value, b.value) for a in ApiKeyScope for b in ApiKeyScope if a.allows(b)] == [
        ("read", "read"),
        ("write", "read"),
        ("write", "write"),
        ("admin", "read"),
        ("admin", "write"),
        ("admin", "admin"),
    ]
    assert not read.allows(write) and not write.allows(admin) and admin.allows(read)
