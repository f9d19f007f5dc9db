"""Deployments, schedules, events and work queues through the API in-process (FastAPI's test
client on `create_app` over a real SQLite file, with a clock the test moves)."""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid
import warnings
from collections.abc import Iterator

import pytest
from support.servers import LOCAL

from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.storage.sqlite import SQLiteStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "who": {"type": "string", "default": "world"}},
    "required": ["n"],
    "additionalProperties": False,
}


class Clock:
    """The service's clock: stands still until the test moves it."""

    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "mintaka.db")
    yield store
    store.close()


@pytest.fixture
def deployments(store, clock) -> DeploymentService:
    return DeploymentService(OrchestrationService(store, clock=clock), clock=clock)


@pytest.fixture
def api(deployments) -> Iterator[TestClient]:
    with TestClient(create_app(deployments.orchestration, deployments=deployments), **LOCAL) as client:
        yield client


def deployment_body(flow: str = "etl", name: str = "prod", **fields) -> dict:
    return {
        "flow_name": flow,
        "name": name,
        "entrypoint": "flows/etl.py:etl",
        "storage": {"type": "local", "url": "/srv/project"},
        "parameters": {"n": 1},
        "parameter_schema": SCHEMA,
        **fields,
    }


def upsert(api, **fields) -> dict:
    response = api.post("/api/deployments", json=deployment_body(**fields))
    assert response.status_code == 200, response.text
    return response.json()


def new_run(api, full_name: str = "etl/prod", **body) -> dict:
    response = api.post(f"/api/deployments/{full_name}/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def runs_of(api, full_name: str, **params) -> list[dict]:
    response = api.get("/api/flow_runs", params={"deployment_name": full_name, "limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def propose(api, run_id: str, state_type: str) -> dict:
    response = api.post(f"/api/flow_runs/{run_id}/set_state", json={"state": {"type": state_type}})
    assert response.status_code == 200, response.text
    return response.json()


def queue_runs(api, name: str, limit: int = 10) -> list[str]:
    response = api.post(f"/api/work_queues/{name}/get_runs", params={"limit": limit})
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()]


# -- deployments


def test_upsert_keeps_id_and_creation_time_and_replaces_the_rest(api, clock):
    first = upsert(api, tags=["a"])
    clock.advance(60)
    second = upsert(api, tags=["b"], parameters={"n": 2})
    assert second["id"] == first["id"] and second["created"] == first["created"]
    assert second["updated"] > first["updated"]
    read = api.get("/api/deployments/etl/prod").json()
    assert (read["tags"], read["parameters"]) == (["b"], {"n": 2})
    upsert(api, name="dev")
    assert sorted(d["name"] for d in api.get("/api/deployments").json()) == ["dev", "prod"]
    assert api.get("/api/flows").json()[0]["name"] == "etl"


def test_delete_then_404(api):
    upsert(api)
    assert api.delete("/api/deployments/etl/prod").status_code == 204
    for method, path in (
        ("GET", "/api/deployments/etl/prod"),
        ("DELETE", "/api/deployments/etl/prod"),
        ("POST", "/api/deployments/etl/prod/pause_schedule"),
        ("POST", "/api/deployments/etl/prod/runs"),
    ):
        response = api.request(method, path, json={} if path.endswith("runs") else None)
        assert response.status_code == 404, (method, path)
        assert "etl/prod" in response.json()["detail"]


def test_invalid_parameters_are_422_naming_the_parameter_and_nothing_is_written(api):
    response = api.post("/api/deployments", json=deployment_body(parameters={"n": "five"}))
    assert response.status_code == 422
    assert 'n: "five" is not of type "integer"' in response.json()["detail"]
    unknown = api.post("/api/deployments", json=deployment_body(parameters={"n": 1, "nn": 2}))
    assert unknown.status_code == 422 and "'nn' was unexpected" in unknown.json()["detail"]
    missing = api.post("/api/deployments", json=deployment_body(parameters={}))
    assert missing.status_code == 422 and '"n" is a required property' in missing.json()["detail"]
    assert api.get("/api/deployments/etl/prod").status_code == 404
    assert api.get("/api/deployments").json() == []


def test_a_schema_written_to_hang_the_server_is_answered_at_once(api):
    """A parameter schema is a request body too. A pattern with nested repetition takes a
    backtracking engine (Python's `re`) exponential time: ~1 s at 24 characters, years at 60.
    And a `$ref` to another document is never fetched (nothing of ours calls where it points)."""
    hanging = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    started = time.perf_counter()
    response = api.post(
        "/api/deployments", json=deployment_body(parameter_schema=hanging, parameters={"code": "a" * 60 + "!"})
    )
    assert time.perf_counter() - started < 5
    assert response.status_code == 422 and "does not match" in response.json()["detail"]
    assert len(response.json()["detail"]) < 400  # the echoed value is cut short
    upsert(api, parameter_schema=hanging, parameters={"code": "aaa"})
    started = time.perf_counter()
    refused = api.post("/api/deployments/etl/prod/runs", json={"parameters": {"code": "a" * 5000 + "!"}})
    assert time.perf_counter() - started < 5 and refused.status_code == 422

    with socket.socket() as listener:  # where the schema points: nothing may connect to it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        remote = {"$ref": f"http://127.0.0.1:{listener.getsockname()[1]}/schema.json"}
        response = api.post("/api/deployments", json=deployment_body(name="remote", parameter_schema=remote))
        assert response.status_code == 422 and "does not fetch schemas" in response.json()["detail"]
        with pytest.raises(TimeoutError):
            listener.accept()


def test_a_pause_whose_input_schema_points_elsewhere_is_refused_and_the_run_goes_on(api):
    """A pause's input schema with a `$ref` to another document could never check a resume's
    input (the server fetches nothing), so the run could never be resumed with input: the PAUSED
    proposal is refused at the edge, naming the field, and the run stays as it was."""
    run = api.post("/api/flow_runs", json={"flow_name": "waits", "state": {"type": "RUNNING"}}).json()
    for remote in ("http://169.254.169.254/latest/meta-data", "other.json#/$defs/Input"):
        schema = {"type": "object", "properties": {"code": {"$ref": remote}}}
        pause = {"type": "PAUSED", "state_details": {"pause_key": "approve", "run_input_schema": schema}}
        response = api.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": pause})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "run_input_schema" in detail and f"does not fetch schemas ({remote})" in detail
        created_paused = api.post("/api/flow_runs", json={"flow_name": "waits-too", "state": pause})
        assert created_paused.status_code == 422 and "does not fetch schemas" in created_paused.json()["detail"]
    # A reference inside the schema, and data that merely looks like one, are fine.
    local = {
        "$defs": {"Code": {"type": "string"}},
        "type": "object",
        "properties": {"code": {"$ref": "#/$defs/Code", "examples": [{"$ref": "http://x"}]}},
    }
    pause = {"type": "PAUSED", "state_details": {"pause_key": "approve", "run_input_schema": local}}
    assert api.get(f"/api/flow_runs/{run['id']}").json()["state"]["type"] == "RUNNING"
    accepted = api.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": pause})
    assert accepted.status_code in (200, 201) and accepted.json()["status"] == "ACCEPT", accepted.text
    assert [flow["name"] for flow in api.get("/api/flows").json()] == ["waits"]  # the refused wrote none


def test_malformed_deployments_are_422_naming_the_field(api):
    cases = {
        "body.entrypoint": deployment_body(entrypoint="no-colon"),
        "body.infrastructure": deployment_body(infrastructure="k8s"),
        "body.storage.type": deployment_body(storage={"type": "ftp", "url": "x"}),
        "body.schedules.0.cron.cron": deployment_body(schedules=[{"type": "cron", "cron": "0 9 * *"}]),
        "body.schedules.0.interval.timezone": deployment_body(
            schedules=[{"type": "interval", "interval_seconds": 60, "timezone": "Mars/Base"}]
        ),
        "body.surprise": deployment_body(surprise=1),
    }
    for field, body in cases.items():
        response = api.post("/api/deployments", json=body)
        assert response.status_code == 422, field
        assert field in response.json()["detail"], (field, response.json()["detail"])
    assert api.get("/api/deployments").json() == []


def test_deployment_runs_are_scheduled_on_the_queue_with_merged_parameters(api, clock):
    upsert(api, tags=["nightly"], work_queue_name="etl-queue", infrastructure="fargate")
    run = new_run(api, parameters={"who": "Ada"}, tags=["manual"])
    assert run["state"]["type"] == "SCHEDULED"
    assert dt.datetime.fromisoformat(run["expected_start_time"]) == clock.now
    assert (run["deployment_name"], run["work_queue_name"]) == ("etl/prod", "etl-queue")
    assert run["parameters"] == {"n": 1, "who": "Ada"}
    assert run["tags"] == ["manual", "nightly"]
    assert run["labels"] == {"mintaka.infrastructure": "fargate"}
    later = new_run(api, scheduled_time=(clock.now + dt.timedelta(hours=1)).isoformat())
    assert later["state"]["state_details"]["scheduled_time"].startswith("2024-05-01T13:00:00")


def test_run_creation_is_idempotent_per_key(api):
    upsert(api)
    first = new_run(api, idempotency_key="k-1")
    again = new_run(api, idempotency_key="k-1", parameters={"n": 9})
    assert again["id"] == first["id"] and again["parameters"] == {"n": 1}
    assert new_run(api, idempotency_key="k-2")["id"] != first["id"]
    assert len(runs_of(api, "etl/prod")) == 2


def test_run_parameters_are_validated_and_a_bad_run_is_not_created(api):
    upsert(api)
    response = api.post("/api/deployments/etl/prod/runs", json={"parameters": {"n": [1]}})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Invalid parameters: n:")
    assert runs_of(api, "etl/prod") == []


# -- schedules


def test_schedule_ticks_create_each_run_once_and_pause_stops_them(api, deployments, clock):
    upsert(api, schedules=[{"type": "interval", "interval_seconds": 60}])
    first = deployments.schedule_runs(horizon=dt.timedelta(minutes=5))
    assert len(first) == 6  # 12:00 (just due) to 12:05
    assert deployments.schedule_runs(horizon=dt.timedelta(minutes=5)) == []  # each fire time once
    runs = runs_of(api, "etl/prod")
    assert len(runs) == 6 and {r["state"]["type"] for r in runs} == {"SCHEDULED"}
    starts = sorted(dt.datetime.fromisoformat(r["expected_start_time"]) for r in runs)
    assert starts[0] == dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert all(b - a == dt.timedelta(minutes=1) for a, b in zip(starts, starts[1:], strict=False))

    clock.advance(60)  # a minute on: only the one new fire time (12:06) is created
    [later] = deployments.schedule_runs(horizon=dt.timedelta(minutes=5))
    assert later.expected_start_time == dt.datetime(2024, 5, 1, 12, 6, tzinfo=dt.UTC)
    assert len(runs_of(api, "etl/prod")) == 7

    assert api.post("/api/deployments/etl/prod/pause_schedule").json()["schedule_paused"] is True
    clock.advance(3600)
    assert deployments.schedule_runs(horizon=dt.timedelta(minutes=5)) == []
    assert len(runs_of(api, "etl/prod")) == 7
    assert api.post("/api/deployments/etl/prod/resume_schedule").json()["schedule_paused"] is False
    assert len(deployments.schedule_runs(horizon=dt.timedelta(minutes=5))) == 6
    assert len(runs_of(api, "etl/prod")) == 13


def test_the_app_runs_the_scheduler_only_when_asked(tmp_path):
    store = SQLiteStore(tmp_path / "live.db")
    service = OrchestrationService(store)
    try:
        body = deployment_body(schedules=[{"type": "interval", "interval_seconds": 30}])
        with TestClient(create_app(service), **LOCAL) as plain:
            assert plain.post("/api/deployments", json=body).status_code == 200
            time.sleep(0.3)
            assert runs_of(plain, "etl/prod") == []
        started = dt.datetime.now(dt.UTC)
        with TestClient(create_app(service, scheduler_interval=0.05), **LOCAL) as scheduled:
            deadline = time.monotonic() + 10
            while not runs_of(scheduled, "etl/prod") and time.monotonic() < deadline:
                time.sleep(0.05)
            runs = runs_of(scheduled, "etl/prod")
            assert runs and {r["state"]["name"] for r in runs} == {"Scheduled"}
            starts = sorted(dt.datetime.fromisoformat(r["expected_start_time"]) for r in runs)
            # Upcoming runs exist before they start. A tick also takes a fire time that passed
            # during the last second (so none is missed between ticks); on :00/:30 that is one run.
            assert starts[0] >= started - dt.timedelta(seconds=1)
            assert [s for s in starts if s > dt.datetime.now(dt.UTC)], "no upcoming run was created"
            assert all(b - a == dt.timedelta(seconds=30) for a, b in zip(starts, starts[1:], strict=False))
    finally:
        store.close()


def test_runs_not_started_in_time_become_late_and_are_still_released(api, deployments, clock):
    upsert(api)
    due = new_run(api)
    assert deployments.mark_late_runs(grace=dt.timedelta(seconds=15)) == 0
    clock.advance(20)
    assert deployments.mark_late_runs(grace=dt.timedelta(seconds=15)) == 1
    late = api.get(f"/api/flow_runs/{due['id']}").json()
    assert (late["state"]["type"], late["state"]["name"]) == ("SCHEDULED", "Late")
    assert deployments.mark_late_runs(grace=dt.timedelta(seconds=15)) == 0  # already Late
    assert queue_runs(api, "default") == [due["id"]]
    assert propose(api, due["id"], "PENDING")["status"] == "ACCEPT"
    # A scheduler acting on a stale listing cannot make a claimed run due again.
    late_again = {"state": {"type": "SCHEDULED", "name": "Late"}}
    answer = api.post(f"/api/flow_runs/{due['id']}/set_state", json=late_again).json()
    assert (answer["status"], answer["state"]["type"]) == ("REJECT", "PENDING")
    assert "Only a SCHEDULED run can be Late" in answer["details"]["reason"]


# -- events


def test_events_make_one_run_per_matching_deployment_and_event_id(api):
    trigger = {"match": {"source": ["s3"], "detail": {"bucket": "landing"}}, "parameter": "who"}
    schema = {"type": "object", "properties": {"n": {}, "who": {}}}
    upsert(api, triggers=[trigger], parameter_schema=schema)
    upsert(api, name="other", triggers=[{"match": {"source": ["sqs"]}}], parameter_schema=None)
    event = {"id": "evt-1", "source": "s3", "detail": {"bucket": "landing", "key": "a.csv"}}
    made = api.post("/api/events", json=event)
    assert made.status_code == 200, made.text
    [run_id] = made.json()["flow_run_ids"]
    assert api.post("/api/events", json=event).json()["flow_run_ids"] == [run_id]
    run = api.get(f"/api/flow_runs/{run_id}").json()
    assert run["deployment_name"] == "etl/prod"
    assert run["parameters"]["who"]["detail"]["key"] == "a.csv"
    other_bucket = {**event, "id": "evt-2", "detail": {"bucket": "elsewhere"}}
    assert api.post("/api/events", json=other_bucket).json()["flow_run_ids"] == []
    second = api.post("/api/events", json={**event, "id": "evt-3"}).json()["flow_run_ids"]
    assert len(second) == 1 and second != [run_id]
    bad = api.post("/api/events", json={"source": "s3"})
    assert bad.status_code == 422 and "body.id" in bad.json()["detail"]


# -- work queues


def test_work_queue_crud_and_404s(api):
    assert [q["name"] for q in api.get("/api/work_queues").json()] == ["default"]
    created = api.post("/api/work_queues", json={"name": "gpu", "concurrency_limit": 3, "priority": 5})
    assert created.status_code == 201, created.text
    again = api.post("/api/work_queues", json={"name": "gpu", "priority": 2})
    assert again.json()["id"] == created.json()["id"] and again.json()["concurrency_limit"] is None
    patched = api.patch("/api/work_queues/gpu", json={"concurrency_limit": 4})
    assert (patched.json()["concurrency_limit"], patched.json()["priority"]) == (4, 2)
    cleared = api.patch("/api/work_queues/gpu", json={"concurrency_limit": None})
    assert cleared.json()["concurrency_limit"] is None
    assert [q["name"] for q in api.get("/api/work_queues").json()] == ["default", "gpu"]
    assert api.get("/api/work_queues/nope").status_code == 404
    assert api.patch("/api/work_queues/nope", json={"paused": True}).status_code == 404
    assert api.post("/api/work_queues/nope/get_runs").status_code == 404
    bad = api.post("/api/work_queues", json={"name": "x", "concurrency_limit": -1})
    assert bad.status_code == 422 and "body.concurrency_limit" in bad.json()["detail"]
    assert api.post("/api/work_queues/gpu/get_runs", params={"limit": 0}).status_code == 422


def test_a_paused_queue_releases_nothing_until_resumed(api):
    upsert(api, work_queue_name="q")
    api.post("/api/work_queues", json={"name": "q", "paused": True})
    runs = [new_run(api)["id"] for _ in range(3)]
    assert queue_runs(api, "q") == []
    api.patch("/api/work_queues/q", json={"paused": False})
    assert sorted(queue_runs(api, "q")) == sorted(runs)
    assert queue_runs(api, "default") == []  # queues are separate


def test_queue_concurrency_caps_released_and_running_runs(api):
    upsert(api, work_queue_name="q")
    api.post("/api/work_queues", json={"name": "q", "concurrency_limit": 2})
    runs = [new_run(api)["id"] for _ in range(4)]
    released = queue_runs(api, "q", limit=10)
    assert len(released) == 2
    for run_id in runs:  # claims are not capped; starting is
        assert propose(api, run_id, "PENDING")["status"] == "ACCEPT"
    assert [propose(api, run_id, "RUNNING")["status"] for run_id in runs] == ["ACCEPT", "ACCEPT", "WAIT", "WAIT"]
    assert api.get("/api/concurrency_limits/work-queue:q").json()["active_slots"] == 2
    assert queue_runs(api, "q") == []
    propose(api, runs[0], "COMPLETED")
    assert propose(api, runs[2], "RUNNING")["status"] == "ACCEPT"
    assert propose(api, runs[3], "RUNNING")["status"] == "WAIT"


def test_queue_filters_by_deployment_and_tags(api):
    upsert(api, work_queue_name="q", tags=["gpu"])
    upsert(api, name="dev", work_queue_name="q")
    prod, dev = new_run(api)["id"], new_run(api, "etl/dev")["id"]
    tagged_dev = new_run(api, "etl/dev", tags=["gpu"])["id"]
    api.post("/api/work_queues", json={"name": "q", "deployments": ["etl/prod"]})
    assert queue_runs(api, "q") == [prod]
    api.post("/api/work_queues", json={"name": "q", "tags": ["gpu"]})
    assert sorted(queue_runs(api, "q")) == sorted([prod, tagged_dev])
    api.post("/api/work_queues", json={"name": "q"})
    assert sorted(queue_runs(api, "q")) == sorted([prod, dev, tagged_dev])


# -- heartbeats


def test_heartbeat_answers_the_run_state(api, store):
    upsert(api)
    run = new_run(api)
    propose(api, run["id"], "PENDING")
    propose(api, run["id"], "RUNNING")
    beat = api.post(f"/api/flow_runs/{run['id']}/heartbeat", params={"interval": 5})
    assert beat.status_code == 200 and beat.json()["state"]["type"] == "RUNNING"
    # The run's lease: alive for three of the intervals its executor declared, from the beat.
    [expires] = store.read_leases([uuid.UUID(run["id"])]).values()
    running_since = dt.datetime.fromisoformat(beat.json()["state"]["timestamp"])
    assert dt.timedelta(seconds=15) <= expires - running_since < dt.timedelta(seconds=20)
    for bad in ("0", "-1", "1e9", "nan", "soon"):
        refused = api.post(f"/api/flow_runs/{run['id']}/heartbeat", params={"interval": bad})
        assert refused.status_code == 422 and "interval" in refused.text
    propose(api, run["id"], "CANCELLING")
    assert api.post(f"/api/flow_runs/{run['id']}/heartbeat").json()["state"]["type"] == "CANCELLING"
    missing = api.post("/api/flow_runs/00000000-0000-0000-0000-000000000000/heartbeat")
    assert missing.status_code == 404
    assert api.post("/api/flow_runs/not-a-uuid/heartbeat").status_code == 422


def test_runs_are_marked_late_past_any_number_of_runs_already_late(api, deployments, clock, monkeypatch):
    """Late runs stay due (earliest first) until a worker takes them: the tick reads past them
    a page at a time, so a run falling late behind a page of them is still marked."""
    from mintaka_server.services import deployments as module

    monkeypatch.setattr(module, "LATE_PAGE", 3)
    upsert(api)
    first = [new_run(api)["id"] for _ in range(7)]
    clock.advance(20)
    assert deployments.mark_late_runs(grace=dt.timedelta(seconds=15)) == 7  # pages of 3, 3 and 1
    behind = new_run(api)["id"]
    clock.advance(20)
    assert deployments.mark_late_runs(grace=dt.timedelta(seconds=15)) == 1
    names = {run["id"]: run["state"]["name"] for run in runs_of(api, "etl/prod")}
    assert names == dict.fromkeys([*first, behind], "Late")
