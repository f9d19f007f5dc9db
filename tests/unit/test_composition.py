"""The composition root: one `build(settings)` for every entry point, building only what the
settings turn on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mintaka.settings import reset_settings
from mintaka_server import composition
from mintaka_server.queues import EmbeddedWorkQueues
from mintaka_server.server_settings import ServerSettings, reset_server_settings
from mintaka_server.storage.sqlite import SQLiteStore


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path) -> Iterator[None]:
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    for name in ("MINTAKA_STORE", "MINTAKA_WORK_QUEUES", "MINTAKA_SCHEDULE_GROUP", "MINTAKA_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    reset_server_settings()
    yield
    reset_settings()
    reset_server_settings()


def test_the_defaults_build_the_embedded_setup_on_one_store(tmp_path):
    services = composition.build(ServerSettings())
    try:
        assert isinstance(services.store, SQLiteStore)
        assert services.orchestration.store is services.deployments.store is services.store
        assert isinstance(services.queues, EmbeddedWorkQueues)
        assert services.deployments.dispatcher is None and services.deployments.schedule_sync is None
        assert services.worker.deployments is services.deployments and services.worker.launcher is None
    finally:
        services.close()


def test_sqs_queues_are_the_dispatcher_and_a_half_configured_scheduler_is_refused(tmp_path):
    pytest.importorskip("boto3")
    store = SQLiteStore(tmp_path / "x.db")
    settings = ServerSettings(work_queues="sqs", aws_endpoint_url="http://127.0.0.1:1")
    services = composition.build(settings, store)
    assert services.deployments.dispatcher is services.queues
    with pytest.raises(composition.CloudMisconfigured, match="MINTAKA_TRIGGER_FUNCTION_ARN"):
        composition.build(settings.model_copy(update={"schedule_group": "g"}), store)
    store.close()


def test_embedded_settings_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("MINTAKA_WORK_QUEUES", "sqs")
    monkeypatch.setenv("MINTAKA_STORE", "dynamodb")
    assert ServerSettings().work_queues == "sqs"
    settings = composition.embedded_settings()
    assert (settings.store, settings.work_queues, settings.schedule_group) == ("sqlite", "embedded", None)


def test_every_entry_point_builds_through_the_root(monkeypatch, tmp_path):
    """The app factory and the embedded transport get their services from `build`."""
    from mintaka.client.embedded import EmbeddedTransport
    from mintaka_server.api import create_app

    built = []
    real = composition.build

    def counting(*args, **kwargs):
        built.append(args[0] if args else kwargs.get("settings"))
        return real(*args, **kwargs)

    monkeypatch.setattr(composition, "build", counting)
    transport = EmbeddedTransport(tmp_path / "embedded.db")
    app = create_app()
    try:
        assert len(built) == 2
        assert app.state.deployments.orchestration is app.state.service
        assert transport.deployments.orchestration is transport.service
    finally:
        transport.close()
        app.state.service.store.close()


def test_one_settings_class_whose_server_fields_come_from_the_environment_only(monkeypatch, tmp_path):
    import json

    from mintaka.exceptions import InvalidRequest
    from mintaka.profile import setting_name
    from mintaka.settings import Settings, get_settings
    from mintaka_server.server_settings import get_server_settings

    assert ServerSettings is Settings
    (tmp_path / "config.json").write_text(json.dumps({"store": "dynamodb", "api_timeout": "7"}))
    reset_settings()
    assert (get_settings().store, get_settings().api_timeout) == ("sqlite", 7.0)  # the profile's store is ignored
    with pytest.raises(InvalidRequest, match="Unknown setting 'store'"):
        setting_name("store")
    monkeypatch.setenv("MINTAKA_STORE", "dynamodb")
    reset_settings()
    assert get_server_settings() is get_settings() and get_settings().store == "dynamodb"
