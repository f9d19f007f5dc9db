"""Property-based fuzzing of every API operation from its own OpenAPI document (schemathesis):
whatever the input, the answer is never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

# schemathesis and TestClient call the app as `Host: testserver`; every write goes as JSON (the
# browser guard refuses bodiless writes without a JSON content type: see browser_guard.py).
IN_PROCESS_HOSTS = ["testserver"]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    store = SQLiteStore(tmp_path_factory.mktemp("fuzz") / "mintaka.db")
    yield create_app(OrchestrationService(store), require_api_key=False, hosts=IN_PROCESS_HOSTS)
    store.close()


@pytest.fixture
def fresh_app(tmp_path):
    """An app on an empty store (the fuzzed one holds whatever the fuzzer made)."""
    store = SQLiteStore(tmp_path / "mintaka.db")
    yield create_app(OrchestrationService(store), require_api_key=False, hosts=IN_PROCESS_HOSTS)
    store.close()


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow  # schemathesis over every operation: 30 s
def test_no_operation_answers_a_server_error(fuzzed_app):
    # Driven with hypothesis directly (not schemathesis's pytest plugin, which trails pytest releases).
    operations = _operations(fuzzed_app)
    assert len(operations) >= 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_without_a_server_error(case):
            case.call_and_validate(checks=[not_a_server_error], headers=JSON)

        answers_without_a_server_error()


# Regressions the fuzzer found: each once answered 500.


def test_a_null_in_a_work_queue_update_is_refused_and_the_queue_stays_readable(fresh_app):
    from fastapi.testclient import TestClient

    with TestClient(fresh_app) as client:
        assert client.post("/api/work_queues", json={"name": "nullable"}).status_code in (200, 201)
        refused = client.patch("/api/work_queues/nullable", json={"paused": None, "priority": None})
        assert refused.status_code == 422 and "not null" in refused.json()["detail"]
        assert client.patch("/api/work_queues/nullable", json={"concurrency_limit": None}).status_code == 200
        queue = client.get("/api/work_queues/nullable").json()
        assert (queue["paused"], queue["priority"]) == (False, 1)
        assert client.get("/api/work_queues").status_code == 200


def test_an_event_with_the_longest_id_makes_its_run(fresh_app):
    from fastapi.testclient import TestClient

    deployment = {
        "flow_name": "on-event",
        "name": "prod",
        "entrypoint": "flows.py:on_event",
        "storage": {"type": "local", "url": "/srv/flows"},
        "triggers": [{"match": {"source": ["uploads"]}}],
    }
    with TestClient(fresh_app) as client:
        assert client.post("/api/deployments", json=deployment).status_code in (200, 201)
        event = {"id": "e" * 200, "source": "uploads", "detail": {"key": "a.csv"}}
        first = client.post("/api/events", json=event)
        assert first.status_code in (200, 201), first.text
        assert len(first.json()["flow_run_ids"]) == 1
        assert client.post("/api/events", json=event).json() == first.json()  # idempotent per event id
