"""Server settings and the store they pick: `MINTAKA_STORE`, the table name, AWS endpoint/region."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from mintaka.settings import reset_settings
from mintaka_server.config import DYNAMODB_MODULE, StoreUnavailable, build_store
from mintaka_server.server_settings import ServerSettings, get_server_settings, reset_server_settings
from mintaka_server.storage.sqlite import SQLiteStore

ENV = (
    "MINTAKA_STORE",
    "MINTAKA_TABLE_PREFIX",
    "MINTAKA_AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "MINTAKA_AWS_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "MINTAKA_RESULTS_BUCKET",
    "MINTAKA_DATABASE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path) -> Iterator[None]:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    reset_server_settings()
    reset_settings()
    yield
    reset_server_settings()
    reset_settings()


def test_defaults():
    settings = ServerSettings()
    assert settings.store == "sqlite"
    assert settings.table_name == "mintaka"
    assert settings.aws_endpoint_url is None
    assert settings.aws_region == "us-east-1"
    assert settings.results_bucket is None


def test_environment(monkeypatch):
    monkeypatch.setenv("MINTAKA_STORE", "dynamodb")
    monkeypatch.setenv("MINTAKA_TABLE_PREFIX", "prod-")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("MINTAKA_RESULTS_BUCKET", "team-results")
    settings = ServerSettings()
    assert (settings.store, settings.table_name) == ("dynamodb", "prod-mintaka")
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.aws_region == "eu-west-1"
    assert settings.results_bucket == "team-results"

    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # Lambda sets AWS_REGION; it wins over the default
    monkeypatch.setenv("MINTAKA_AWS_ENDPOINT_URL", "http://localhost:4566")  # ours wins over AWS_*
    settings = ServerSettings()
    assert settings.aws_region == "eu-central-1"
    assert settings.aws_endpoint_url == "http://localhost:4566"


def test_unknown_store_is_refused(monkeypatch):
    monkeypatch.setenv("MINTAKA_STORE", "postgres")
    with pytest.raises(ValueError, match="store"):
        ServerSettings()


def test_settings_are_read_once_until_reset(monkeypatch):
    first = get_server_settings()
    monkeypatch.setenv("MINTAKA_TABLE_PREFIX", "dev-")
    assert get_server_settings() is first
    reset_server_settings()
    assert get_server_settings().table_name == "dev-mintaka"


def test_sqlite_store_lives_in_mintaka_home(tmp_path):
    store = build_store()
    try:
        assert isinstance(store, SQLiteStore)
        assert (tmp_path / "mintaka.db").exists()
    finally:
        store.close()


class RecordingDynamoDBStore:
    def __init__(self, table_name: str, endpoint_url: str | None = None, region: str | None = None):
        self.args = {"table_name": table_name, "endpoint_url": endpoint_url, "region": region}


def test_dynamodb_store_gets_table_endpoint_and_region(monkeypatch):
    fake = type(sys)("fake_dynamodb")
    fake.DynamoDBStore = RecordingDynamoDBStore
    monkeypatch.setitem(sys.modules, DYNAMODB_MODULE, fake)
    settings = ServerSettings(
        store="dynamodb", table_prefix="t-", aws_endpoint_url="http://127.0.0.1:5000", aws_region="eu-west-1"
    )
    store = build_store(settings)
    assert store.args == {"table_name": "t-mintaka", "endpoint_url": "http://127.0.0.1:5000", "region": "eu-west-1"}


def test_missing_dynamodb_adapter_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, DYNAMODB_MODULE, None)  # import of it fails
    with pytest.raises(StoreUnavailable, match=r"MINTAKA_STORE=dynamodb.*no DynamoDB adapter"):
        build_store(ServerSettings(store="dynamodb"))


def test_missing_aws_dependency_names_the_extra(monkeypatch, tmp_path):
    package = tmp_path / "shadow" / "dynamodb"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import mintaka_test_missing_dependency_xyz\n")
    import mintaka_server.storage as storage_package

    monkeypatch.delitem(sys.modules, DYNAMODB_MODULE, raising=False)
    monkeypatch.setattr(storage_package, "__path__", [str(tmp_path / "shadow"), *storage_package.__path__])
    with pytest.raises(StoreUnavailable, match=r"mintaka_test_missing_dependency_xyz.*mintaka\[aws\]"):
        build_store(ServerSettings(store="dynamodb"))
    monkeypatch.delitem(sys.modules, DYNAMODB_MODULE, raising=False)
