"""The orchestration API in-process: FastAPI's test client against `create_app` on a real
SQLite file. Status codes, bodies, filters, pagination, and error answers that name the bad
field and write nothing."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator

import pytest
from support.servers import LOCAL

from mintaka_server.api import create_app
from mintaka_server.api.errors import INTERNAL_ERROR_MESSAGE
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


class SteppingClock:
    """A real clock for the service that starts where the test says and ticks 1 ms per read,
    so creation times are known and distinct (unless `step` is zero)."""

    def __init__(self, start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(milliseconds=1)):
        self.now = start
        self.step = step

    def __call__(self) -> dt.datetime:
        value = self.now
        self.now += self.step
        return value


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def api(tmp_path, clock) -> Iterator[TestClient]:
    store = SQLiteStore(tmp_path / "mintaka.db")
    with TestClient(create_app(OrchestrationService(store, clock=clock)), **LOCAL) as client:
        yield client
    store.close()


def new_run(api: TestClient, flow_name: str = "etl", **fields) -> dict:
    response = api.post("/api/flow_runs", json={"flow_name": flow_name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def propose(api: TestClient, kind: str, run_id: str, state_type: str, **state) -> dict:
    response = api.post(f"/api/{kind}/{run_id}/set_state", json={"state": {"type": state_type, **state}})
    assert response.status_code == 200, response.text
    return response.json()


def list_ids(api: TestClient, **params) -> list[str]:
    response = api.get("/api/flow_runs", params=params)
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["items"]]


# -- basics


def test_health_and_openapi(api):
    assert api.get("/api/health").json() == {"status": "ok"}
    schema = api.get("/api/openapi.json").json()
    assert {
        "/api/health",
        "/api/flows",
        "/api/flow_runs",
        "/api/flow_runs/{run_id}",
        "/api/flow_runs/{run_id}/states",
        "/api/flow_runs/{run_id}/set_state",
        "/api/flow_runs/{run_id}/logs",
        "/api/task_runs",
        "/api/task_runs/{run_id}",
        "/api/task_runs/{run_id}/states",
        "/api/task_runs/{run_id}/set_state",
        "/api/logs",
        "/api/concurrency_limits",
        "/api/concurrency_limits/{tag}",
    } <= set(schema["paths"])
    assert api.get("/api/docs").status_code == 200


def test_flows_are_created_once_and_listed_by_name(api):
    first = api.post("/api/flows", json={"name": "load"})
    assert first.status_code == 201
    again = api.post("/api/flows", json={"name": "load"})
    assert again.json()["id"] == first.json()["id"]
    new_run(api, "extract")  # a run creates its flow on first use
    assert [f["name"] for f in api.get("/api/flows").json()] == ["extract", "load"]


# -- lifecycle


def test_flow_run_moves_through_running_to_completed_with_history(api):
    run = new_run(api, parameters={"n": 3}, tags=["nightly"])
    assert run["state"]["type"] == "PENDING"
    assert run["parameters"] == {"n": 3}

    running = propose(api, "flow_runs", run["id"], "RUNNING")
    assert running["status"] == "ACCEPT"
    assert running["state"]["type"] == "RUNNING"
    done = propose(api, "flow_runs", run["id"], "COMPLETED", message="all good")
    assert done["status"] == "ACCEPT"

    detail = api.get(f"/api/flow_runs/{run['id']}").json()
    assert detail["state"]["type"] == "COMPLETED"
    assert detail["state"]["message"] == "all good"
    assert [s["type"] for s in detail["states"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert detail["start_time"] is not None and detail["end_time"] is not None
    assert detail["run_count"] == 1
    states = api.get(f"/api/flow_runs/{run['id']}/states").json()
    assert [s["id"] for s in states] == [s["id"] for s in detail["states"]]


def test_terminal_state_is_final(api):
    run = new_run(api)
    propose(api, "flow_runs", run["id"], "RUNNING")
    propose(api, "flow_runs", run["id"], "COMPLETED")
    answer = propose(api, "flow_runs", run["id"], "RUNNING")
    assert answer["status"] == "REJECT"
    assert answer["state"]["type"] == "COMPLETED"
    assert answer["details"]["reason"]
    assert len(api.get(f"/api/flow_runs/{run['id']}/states").json()) == 3


def test_duplicate_proposal_is_answered_without_moving_twice(api):
    run = new_run(api)
    key = {"state_details": {"idempotency_key": "attempt-1"}}
    first = propose(api, "flow_runs", run["id"], "RUNNING", **key)
    second = propose(api, "flow_runs", run["id"], "RUNNING", **key)
    assert first["status"] == second["status"] == "ACCEPT"
    assert second["state"]["id"] == first["state"]["id"]
    assert [s["type"] for s in api.get(f"/api/flow_runs/{run['id']}/states").json()] == [
        "PENDING",
        "RUNNING",
    ]


def test_custom_state_name_is_kept(api):
    run = new_run(api)
    propose(api, "flow_runs", run["id"], "RUNNING")
    propose(api, "flow_runs", run["id"], "FAILED", name="Expected Failure", message="no input")
    state = api.get(f"/api/flow_runs/{run['id']}").json()["state"]
    assert (state["type"], state["name"], state["message"]) == ("FAILED", "Expected Failure", "no input")


def test_task_runs_are_created_moved_and_listed_on_their_flow_run(api):
    run = new_run(api)
    propose(api, "flow_runs", run["id"], "RUNNING")
    created = api.post("/api/task_runs", json={"flow_run_id": run["id"], "task_key": "extract", "tags": ["db"]})
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["name"] == "extract-0"
    same = api.post("/api/task_runs", json={"flow_run_id": run["id"], "task_key": "extract"}).json()
    assert same["id"] == task["id"]  # (flow run, task key, dynamic key) identifies a task run

    assert propose(api, "task_runs", task["id"], "RUNNING")["status"] == "ACCEPT"
    assert propose(api, "task_runs", task["id"], "COMPLETED")["status"] == "ACCEPT"
    assert api.get(f"/api/task_runs/{task['id']}").json()["state"]["type"] == "COMPLETED"
    history = api.get(f"/api/task_runs/{task['id']}/states").json()
    assert [s["type"] for s in history] == ["PENDING", "RUNNING", "COMPLETED"]
    detail = api.get(f"/api/flow_runs/{run['id']}").json()
    assert [t["id"] for t in detail["task_runs"]] == [task["id"]]


def test_no_task_starts_in_a_finished_flow_run(api):
    run = new_run(api)
    propose(api, "flow_runs", run["id"], "RUNNING")
    task = api.post("/api/task_runs", json={"flow_run_id": run["id"], "task_key": "late"}).json()
    propose(api, "flow_runs", run["id"], "COMPLETED")
    answer = propose(api, "task_runs", task["id"], "RUNNING")
    assert answer["status"] in {"ABORT", "REJECT"}
    # It never started: it ended with its flow run (an unfinished task run of a finished flow run).
    assert api.get(f"/api/task_runs/{task['id']}").json()["state"]["type"] == "CRASHED"


# -- filters and pagination


def test_filters_by_flow_state_tag_and_time_window(api, clock):
    clock.now = T0
    a1 = new_run(api, "a", tags=["nightly"])
    clock.now = T0 + dt.timedelta(hours=1)
    a2 = new_run(api, "a")
    clock.now = T0 + dt.timedelta(hours=2)
    b1 = new_run(api, "b", tags=["nightly", "big"])
    propose(api, "flow_runs", a2["id"], "RUNNING")

    assert list_ids(api) == [b1["id"], a2["id"], a1["id"]]
    assert list_ids(api, flow_name="a") == [a2["id"], a1["id"]]
    assert list_ids(api, state_type="RUNNING") == [a2["id"]]
    assert list_ids(api, state_type="PENDING") == [b1["id"], a1["id"]]
    assert list_ids(api, tag="nightly") == [b1["id"], a1["id"]]
    assert list_ids(api, tag="big", flow_name="b") == [b1["id"]]
    assert list_ids(api, tag="nightly", flow_name="a", state_type="PENDING") == [a1["id"]]
    since = (T0 + dt.timedelta(minutes=30)).isoformat()
    until = (T0 + dt.timedelta(minutes=90)).isoformat()
    assert list_ids(api, since=since) == [b1["id"], a2["id"]]
    assert list_ids(api, until=until) == [a2["id"], a1["id"]]
    assert list_ids(api, since=since, until=until) == [a2["id"]]
    assert list_ids(api, since=since, until=until, tag="nightly") == []
    assert list_ids(api, flow_name="nope") == []


@pytest.mark.parametrize("tick", [dt.timedelta(milliseconds=1), dt.timedelta(0)], ids=["distinct", "ties"])
@pytest.mark.parametrize("params", [{}, {"flow_name": "etl"}, {"tag": "t"}], ids=["all", "flow", "tag"])
def test_pagination_is_newest_first_without_gaps_or_duplicates(api, clock, tick, params):
    clock.step = tick
    created = [new_run(api, tags=["t"])["id"] for _ in range(23)]
    everything = list_ids(api, limit=500, **params)
    assert sorted(everything) == sorted(created)
    if tick:
        assert everything == created[::-1]

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 5, **params, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/flow_runs", params=query).json()
        seen += [run["id"] for run in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert pages == 5


def test_bad_cursor_is_a_422_naming_the_cursor(api):
    response = api.get("/api/flow_runs", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert "cursor" in response.json()["detail"]


# -- logs


def test_logs_are_written_in_batches_and_read_in_order(api):
    run = new_run(api)
    batch = [
        {"flow_run_id": run["id"], "message": f"line {i}", "timestamp": (T0 + dt.timedelta(seconds=i)).isoformat()}
        for i in range(5)
    ]
    response = api.post("/api/logs", json=batch[::-1])
    assert response.status_code == 204
    logs = api.get(f"/api/flow_runs/{run['id']}/logs").json()
    assert [log["message"] for log in logs] == [f"line {i}" for i in range(5)]
    page = api.get(f"/api/flow_runs/{run['id']}/logs", params={"limit": 2, "offset": 1}).json()
    assert [log["message"] for log in page] == ["line 1", "line 2"]


# -- concurrency limits


def test_concurrency_limits_crud(api):
    created = api.post("/api/concurrency_limits", json={"tag": "db", "limit": 2})
    assert created.status_code == 201
    assert created.json()["limit"] == 2 and created.json()["active_slots"] == 0
    api.post("/api/concurrency_limits", json={"tag": "api", "limit": 5})
    api.post("/api/concurrency_limits", json={"tag": "db", "limit": 3})  # update in place
    assert api.get("/api/concurrency_limits/db").json()["limit"] == 3
    assert [(x["tag"], x["limit"]) for x in api.get("/api/concurrency_limits").json()] == [
        ("api", 5),
        ("db", 3),
    ]
    assert api.delete("/api/concurrency_limits/db").status_code == 204
    assert api.get("/api/concurrency_limits/db").status_code == 404
    again = api.delete("/api/concurrency_limits/db")
    assert again.status_code == 404
    assert "db" in again.json()["detail"]
    assert [x["tag"] for x in api.get("/api/concurrency_limits").json()] == ["api"]


# -- bad requests: 4xx naming the field, nothing written


def snapshot(api: TestClient, run_id: str, task_id: str) -> dict:
    """Everything a bad request could have written."""
    return {
        "flows": api.get("/api/flows").json(),
        "runs": api.get("/api/flow_runs", params={"limit": 500}).json(),
        "run": api.get(f"/api/flow_runs/{run_id}").json(),
        "task": api.get(f"/api/task_runs/{task_id}").json(),
        "task_states": api.get(f"/api/task_runs/{task_id}/states").json(),
        "logs": api.get(f"/api/flow_runs/{run_id}/logs").json(),
        "limits": api.get("/api/concurrency_limits").json(),
    }


BAD_REQUESTS = [
    ("POST", "/api/flows", {"name": ""}, "body.name"),
    ("POST", "/api/flows", {}, "body.name"),
    ("POST", "/api/flow_runs", {"flow_name": ""}, "body.flow_name: String should have at least 1 character"),
    ("POST", "/api/flow_runs", {"flow_name": "x", "tags": ["ok", ""]}, "body.tags.1"),
    ("POST", "/api/flow_runs", {"flow_name": "x", "colour": "red"}, "body.colour: Extra inputs"),
    ("POST", "/api/flow_runs", {"flow_name": "x", "state": {"type": "DONE"}}, "body.state.type"),
    ("POST", "/api/flow_runs", {"flow_name": "x", "empirical_policy": {"retries": -1}}, "body.empirical_policy"),
    ("POST", "/api/flow_runs", {"flow_name": "x", "parent_task_run_id": "nope"}, "body.parent_task_run_id"),
    ("POST", "/api/flow_runs", ["flow_name"], "body"),
    ("POST", "/api/task_runs", {"flow_run_id": "{run}", "task_key": ""}, "body.task_key"),
    ("POST", "/api/task_runs", {"flow_run_id": "12", "task_key": "t"}, "body.flow_run_id"),
    ("POST", "/api/logs", [{"flow_run_id": "{run}", "message": "ok"}, {"message": "x", "level": 500}], "body.1.level"),
    ("POST", "/api/logs", [{"flow_run_id": "{run}", "message": "ok"}, {"msg": "x"}], "body.1.message"),
    ("POST", "/api/concurrency_limits", {"tag": "db", "limit": -1}, "body.limit"),
    ("POST", "/api/concurrency_limits", {"tag": "", "limit": 1}, "body.tag"),
    ("POST", "/api/flow_runs/{run}/set_state", {"state": {"type": "FINISHED"}}, "body.state.type"),
    ("POST", "/api/flow_runs/{run}/set_state", {"state": {"type": "RUNNING"}, "now": True}, "body.now"),
    ("POST", "/api/flow_runs/{run}/set_state", {}, "body.state: Field required"),
    (
        "POST",
        "/api/task_runs/{task}/set_state",
        {"state": {"type": "RUNNING", "timestamp": "soon"}},
        "body.state.timestamp",
    ),
    ("GET", "/api/flow_runs?state_type=DONE", None, "query.state_type"),
    ("GET", "/api/flow_runs?limit=0", None, "query.limit"),
    ("GET", "/api/flow_runs?limit=many", None, "query.limit"),
    ("GET", "/api/flow_runs?since=yesterday", None, "query.since"),
    ("GET", "/api/flow_runs?flow=etl", None, "query.flow: Extra inputs"),
    ("GET", "/api/flow_runs/{run}/logs?limit=0", None, "query.limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "names"), BAD_REQUESTS)
def test_bad_request_names_the_field_and_writes_nothing(api, method, path, body, names):
    run = new_run(api, tags=["t"])
    task = api.post("/api/task_runs", json={"flow_run_id": run["id"], "task_key": "t"}).json()
    api.post("/api/concurrency_limits", json={"tag": "db", "limit": 1})
    before = snapshot(api, run["id"], task["id"])

    def fill(value):
        if isinstance(value, str):
            return value.replace("{run}", run["id"]).replace("{task}", task["id"])
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    response = api.request(method, fill(path), json=fill(body))
    assert response.status_code == 422, response.text
    payload = response.json()
    assert names in payload["detail"]
    assert payload["errors"] and all("loc" in e and "msg" in e for e in payload["errors"])
    assert snapshot(api, run["id"], task["id"]) == before


def test_malformed_json_body_is_a_422(api):
    response = api.post("/api/flow_runs", content=b'{"flow_name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body")
    assert api.get("/api/flow_runs").json()["items"] == []


UNKNOWN = str(uuid.uuid4())
ID_ROUTES = [
    ("GET", "/api/flow_runs/{id}", None),
    ("GET", "/api/flow_runs/{id}/states", None),
    ("GET", "/api/flow_runs/{id}/logs", None),
    ("POST", "/api/flow_runs/{id}/set_state", {"state": {"type": "RUNNING"}}),
    ("GET", "/api/task_runs/{id}", None),
    ("GET", "/api/task_runs/{id}/states", None),
    ("POST", "/api/task_runs/{id}/set_state", {"state": {"type": "RUNNING"}}),
]


@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES)
def test_unknown_id_is_a_404_naming_the_id(api, method, path, body):
    response = api.request(method, path.format(id=UNKNOWN), json=body)
    assert response.status_code == 404
    assert UNKNOWN in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES)
def test_malformed_id_is_a_422_naming_the_path_field(api, method, path, body):
    response = api.request(method, path.format(id="not-a-uuid"), json=body)
    assert response.status_code == 422
    assert "path.run_id" in response.json()["detail"]


def test_task_run_in_unknown_flow_run_is_a_404(api):
    response = api.post("/api/task_runs", json={"flow_run_id": UNKNOWN, "task_key": "t"})
    assert response.status_code == 404
    assert UNKNOWN in response.json()["detail"]


def test_unknown_concurrency_limit_is_a_404(api):
    response = api.get("/api/concurrency_limits/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_unexpected_error_is_a_generic_500_without_traceback(tmp_path, caplog):
    store = SQLiteStore(tmp_path / "broken.db")
    store.close()  # every query now fails inside the adapter: a real, unexpected error
    with TestClient(create_app(OrchestrationService(store)), **LOCAL) as client:
        response = client.get("/api/flows")
        assert client.get("/api/health").json() == {"status": "ok"}
    assert response.status_code == 500
    assert response.json() == {"detail": INTERNAL_ERROR_MESSAGE}
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    assert any("Unhandled error in GET /api/flows" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info for r in caplog.records)  # the details stay in the server log


def test_default_app_serves_the_store_in_mintaka_home(tmp_path, monkeypatch):
    from mintaka.settings import reset_settings

    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    monkeypatch.delenv("MINTAKA_DATABASE", raising=False)
    reset_settings()
    try:
        with TestClient(create_app(), **LOCAL) as client:
            assert client.post("/api/flows", json={"name": "home"}).status_code == 201
        assert (tmp_path / "mintaka.db").exists()
        with TestClient(create_app(), **LOCAL) as client:
            assert [f["name"] for f in client.get("/api/flows").json()] == ["home"]
    finally:
        reset_settings()


def test_sdk_embedded_path_and_cli_do_not_import_fastapi(tmp_path):
    code = (
        "import sys, mintaka, mintaka.client.embedded, mintaka.client.http, mintaka.cli\n"
        "from mintaka.client.embedded import EmbeddedTransport\n"
        "from mintaka.schemas import FlowRunCreate\n"
        f"EmbeddedTransport({str(tmp_path / 'x.db')!r}).create_flow_run(FlowRunCreate(flow_name='f'))\n"
        "heavy = sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env["MINTAKA_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_public_exports():
    import mintaka.cli
    import mintaka_server.api

    assert mintaka_server.api.__all__ == ["create_app"]
    assert callable(mintaka_server.api.create_app)
    assert sorted(mintaka.cli.__all__) == ["app", "main"]
