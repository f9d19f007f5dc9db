"""The SDK on every transport, for suites outside tests/integration/sdk (e.g. tests/compat):
the embedded API on SQLite, and the SDK over HTTP to a uvicorn server backed by DynamoDB
(moto's server, or `AWS_ENDPOINT_URL`). Choose with
MINTAKA_TEST_SDK_TRANSPORT=embedded|http-dynamodb|all (default: all).

A suite's conftest.py wires it in with

    from support.sdk_transports import client, history, pytest_generate_tests  # noqa: F401

(the `dynamodb_tables` fixture comes from tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from mintaka.testing import harness

from .servers import serve_in_thread

TRANSPORTS = ("embedded", "http-dynamodb")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sdk_transport" in metafunc.fixturenames:
        choice = os.environ.get("MINTAKA_TEST_SDK_TRANSPORT", "all")
        chosen = TRANSPORTS if choice == "all" else [choice]
        # Over HTTP each test starts a server and a table: the full suite's job, not the fast lane's.
        params = [pytest.param(t, marks=pytest.mark.slow if t != "embedded" else ()) for t in chosen]
        metafunc.parametrize("sdk_transport", params)


@pytest.fixture
def client(request: pytest.FixtureRequest, sdk_transport: str):
    """A fresh store behind the chosen transport (results under a fresh MINTAKA_HOME either
    way); yields the client the SDK uses, so tests can inspect what was recorded."""
    with harness() as embedded:
        if sdk_transport == "embedded":
            yield embedded
            return
        yield from _over_http_on_dynamodb(request)


def _over_http_on_dynamodb(request: pytest.FixtureRequest):
    from mintaka.client import set_client
    from mintaka.client.http import HttpTransport
    from mintaka.clock import now  # the SDK's clock: time skipping reaches this server too
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.dynamodb import DynamoDBStore

    tables = request.getfixturevalue("dynamodb_tables")
    with tables.table() as table:
        store = DynamoDBStore(table.name, endpoint_url=tables.endpoint)
        with serve_in_thread(create_app(OrchestrationService(store, clock=now), require_api_key=False)) as base_url:
            http = HttpTransport(f"{base_url}/api")
            previous = set_client(http)
            try:
                yield http
            finally:
                from mintaka.logging import flush_logs

                flush_logs()
                set_client(previous)
                http.close()
        store.close()


@pytest.fixture
def history(client):
    """history("task" | "flow", run_id) -> the names of the run's states, oldest first."""

    def names(kind: str, run_id) -> list[str]:
        if kind == "task":
            return [s.name for s in client.read_task_run_states(run_id)]
        return [s.name for s in client.read_flow_run_states(run_id)]

    return names
