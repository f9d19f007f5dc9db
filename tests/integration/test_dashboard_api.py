"""The dashboard's endpoints over real HTTP (uvicorn on a loopback port, a real SQLite file, a
clock the test sets): list filters, activity stats, flows summary and saved views."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.servers import serve_in_thread

from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

NOW = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def api(tmp_path) -> Iterator[httpx.Client]:
    store = SQLiteStore(tmp_path / "mintaka.db")
    service = OrchestrationService(store, clock=lambda: NOW)
    with (
        serve_in_thread(create_app(service)) as url,
        httpx.Client(
            base_url=f"{url}/api",
            timeout=30,
            headers={"Content-Type": "application/json"},  # as the SDK sends
        ) as client,
    ):
        yield client
    store.close()


def new_run(api, flow: str = "etl", **body) -> dict:
    response = api.post("/flow_runs", json={"flow_name": flow, **body})
    assert response.status_code == 201, response.text
    return response.json()


def move(api, run: dict, state_type: str, message: str | None = None) -> None:
    state = {"type": state_type, **({"message": message} if message else {})}
    response = api.post(f"/flow_runs/{run['id']}/set_state", json={"state": state, "force": True})
    assert response.status_code == 200 and response.json()["status"] == "ACCEPT", response.text


def test_list_filters_combine_and_page_oldest_first(api):
    a = new_run(api, "nightly-etl", name="brave-otter", tags=["prod", "eu"])
    b = new_run(api, "etl", name="calm-otter", tags=["prod"])
    c = new_run(api, "report", name="otterly", tags=["prod", "eu"])
    move(api, a, "RUNNING")
    move(api, a, "FAILED")
    move(api, c, "CRASHED")

    def ids(**params) -> list[str]:
        response = api.get("/flow_runs", params=params)
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()["items"]]

    assert ids(state_type=["FAILED", "CRASHED"], tag=["prod", "eu"]) == [c["id"], a["id"]]
    assert ids(name_contains="OTTER", flow_contains="ETL", sort="oldest") == [a["id"], b["id"]]
    first = api.get("/flow_runs", params={"sort": "oldest", "limit": 1}).json()
    rest = api.get("/flow_runs", params={"sort": "oldest", "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in first["items"] + rest["items"]] == [a["id"], b["id"], c["id"]]
    refused = api.get("/flow_runs", params={"sort": "sideways"})
    assert refused.status_code == 422 and "sort" in refused.text
    assert api.get("/flow_runs", params={"state_type": "NOPE"}).status_code == 422


def test_stats_count_runs_per_bucket_by_current_state_with_failures_and_late_runs(api):
    done = new_run(api)
    failed = new_run(api, "report")
    move(api, done, "COMPLETED")
    move(api, failed, "FAILED", message="ValueError: bad row 7")
    due = (NOW - dt.timedelta(minutes=5)).isoformat()
    late = new_run(api, state={"type": "SCHEDULED", "state_details": {"scheduled_time": due}})
    response = api.get(
        "/flow_runs/stats",
        params={"since": (NOW - dt.timedelta(hours=3)).isoformat(), "until": NOW.isoformat(), "bucket_seconds": 3600},
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["bucket_seconds"] == 3600 and len(stats["buckets"]) == 4  # 09:00 .. 12:00, whole hours
    assert stats["buckets"][-1] == {
        "start": "2024-05-01T12:00:00Z",
        "counts": {"COMPLETED": 1, "FAILED": 1, "SCHEDULED": 1},
    }
    assert stats["totals"] == {"COMPLETED": 1, "FAILED": 1, "SCHEDULED": 1}
    assert [f["flow_run"]["id"] for f in stats["recent_failures"]] == [failed["id"]]
    assert stats["recent_failures"][0]["message"] == "ValueError: bad row 7"
    assert [run["id"] for run in stats["late"]] == [late["id"]]
    of_report = api.get("/flow_runs/stats", params={"flow_name": "report"}).json()
    assert of_report["totals"] == {"FAILED": 1} and of_report["late"] == []


def test_stats_buckets_fit_the_range_minutes_for_an_hour_days_for_a_month(api):
    done = new_run(api)  # created at NOW, 12:30
    move(api, done, "COMPLETED")
    new_run(api, "report")

    def stats(hours: float, **params) -> dict:  # up to a minute from now: [since, until) holds NOW
        until = NOW + dt.timedelta(minutes=1)
        since = until - dt.timedelta(hours=hours)
        response = api.get(
            "/flow_runs/stats", params={"since": since.isoformat(), "until": until.isoformat(), **params}
        )
        assert response.status_code == 200, response.text
        return response.json()

    hour = stats(1)
    assert hour["bucket_seconds"] == 300
    assert [b["start"][11:16] for b in hour["buckets"]][:2] == ["11:31", "11:36"]
    counted = [b for b in hour["buckets"] if b["counts"]]
    assert counted == [{"start": "2024-05-01T12:26:00Z", "counts": {"COMPLETED": 1, "PENDING": 1}}]
    assert stats(1, bucket_seconds=600, flow_name="report")["buckets"][-1]["counts"] == {"PENDING": 1}
    assert stats(6)["bucket_seconds"] == 900
    month = stats(24 * 30)
    assert month["bucket_seconds"] == 86400 and len(month["buckets"]) == 31  # whole days, midnight UTC
    assert month["buckets"][0]["start"] == "2024-04-01T00:00:00Z"
    assert month["buckets"][-1] == {"start": "2024-05-01T00:00:00Z", "counts": {"COMPLETED": 1, "PENDING": 1}}
    assert month["totals"] == hour["totals"] == {"COMPLETED": 1, "PENDING": 1}
    assert stats(24 * 7)["bucket_seconds"] == 6 * 3600


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "2024-05-01T11:00:00Z", "until": "2024-05-01T12:00:00Z", "bucket_seconds": 90}, "multiple of 60"),
        ({"since": "2024-05-01T00:00:00Z", "until": "2024-06-15T00:00:00Z"}, "1 hour to 30 days"),
        ({"since": "2024-05-01T12:00:00Z", "until": "2024-05-01T11:00:00Z"}, "1 hour to 30 days"),
        ({"bucket_seconds": 5400}, "multiple of 3600"),
        ({"bucket_seconds": 60}, "bucket_seconds"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_stats_refuse_ranges_they_cannot_count(api, params, says):
    response = api.get("/flow_runs/stats", params=params)
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


def test_flows_summary_has_each_flows_last_run_and_counts(api):
    new_run(api)
    last = new_run(api)
    move(api, last, "COMPLETED")
    api.post("/flows", json={"name": "idle"})
    summary = {flow["name"]: flow for flow in api.get("/flows/summary").json()}
    assert summary["etl"]["last_run"]["id"] == last["id"]
    assert summary["etl"]["run_counts"] == {"PENDING": 1, "COMPLETED": 1}
    assert summary["idle"]["last_run"] is None and summary["idle"]["run_counts"] == {}


def test_saved_views_survive_and_refuse_bad_input_without_writing(api):
    assert api.get("/saved_views").json() == []
    saved = api.put("/saved_views/failures", json={"query": "state:failed since:7d"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["query"] == "state:failed since:7d"
    again = api.put("/saved_views/failures", json={"query": "state:crashed"}).json()
    assert again["created"] == saved.json()["created"]
    for bad in (
        api.put("/saved_views/x", json={"query": "q" * 2001}),
        api.put("/saved_views/" + "n" * 101, json={"query": "ok"}),
        api.put("/saved_views/x", json={"query": "ok", "extra": 1}),
        api.put("/saved_views/x", json={}),
    ):
        assert bad.status_code == 422, bad.text
    assert [(v["name"], v["query"]) for v in api.get("/saved_views").json()] == [("failures", "state:crashed")]
    slashed = api.put("/saved_views/team%2Fnightly failures", json={"query": "tag:nightly"})
    assert slashed.status_code == 200 and slashed.json()["name"] == "team/nightly failures"
    assert api.delete("/saved_views/team%2Fnightly failures").status_code == 204
    assert api.delete("/saved_views/failures").status_code == 204
    assert api.delete("/saved_views/failures").status_code == 404
    assert api.get("/saved_views").json() == []


def test_logs_page_by_task_and_text_and_tail_from_the_last_line(api):
    run = new_run(api)
    task = api.post("/task_runs", json={"flow_run_id": run["id"], "task_key": "load"}).json()
    t0 = NOW - dt.timedelta(minutes=1)
    lines = [
        {
            "id": str(uuid.uuid4()),
            "flow_run_id": run["id"],
            "task_run_id": task["id"] if i % 2 else None,
            "message": f"line {i}" + ("\nTraceback (most recent call last):\nKeyError: 'x'" if i == 3 else ""),
            "level": 40 if i == 3 else 20,
            "timestamp": (t0 + dt.timedelta(seconds=i)).isoformat(),
        }
        for i in range(5)
    ]
    assert api.post("/logs", json=lines[:4]).status_code in (200, 201, 204)
    logs = f"/flow_runs/{run['id']}/logs"
    assert [log["message"][:6] for log in api.get(logs, params={"task_run_id": task["id"]}).json()] == [
        "line 1",
        "line 3",
    ]
    own = api.get(f"/task_runs/{task['id']}/logs", params={"contains": "keyerror"}).json()
    assert [(log["id"], log["task_run_id"]) for log in own] == [(lines[3]["id"], task["id"])]
    newest = api.get(logs, params={"newest_first": True, "limit": 2}).json()
    assert [log["id"] for log in newest] == [lines[3]["id"], lines[2]["id"]]
    older = api.get(
        logs, params={"newest_first": True, "before": newest[-1]["timestamp"], "before_id": newest[-1]["id"]}
    ).json()
    assert [log["id"] for log in older] == [lines[1]["id"], lines[0]["id"]]
    last = newest[0]
    assert api.post("/logs", json=lines[4:]).status_code in (200, 201, 204)
    tail = api.get(logs, params={"after": last["timestamp"], "after_id": last["id"]}).json()
    assert [log["id"] for log in tail] == [lines[4]["id"]]
    refused = api.get(logs, params={"after_id": last["id"]})
    assert refused.status_code == 422 and "after_id needs after" in refused.json()["detail"]
    assert api.get(f"/task_runs/{uuid.uuid4()}/logs").status_code == 404
    assert api.get(f"/flow_runs/{uuid.uuid4()}/logs", params={"contains": "x"}).status_code == 404


def test_work_queue_status_counts_waiting_and_running_runs(api):
    assert api.post("/work_queues", json={"name": "gpu", "tags": ["cuda"]}).status_code == 201
    past = (NOW - dt.timedelta(minutes=1)).isoformat()
    future = (NOW + dt.timedelta(hours=1)).isoformat()

    def scheduled(at: str, tags: list[str]) -> dict:
        state = {"type": "SCHEDULED", "state_details": {"scheduled_time": at}}
        return new_run(api, work_queue_name="gpu", tags=tags, state=state)

    scheduled(past, ["cuda"])
    scheduled(past, ["cuda", "big"])
    scheduled(past, [])  # not the queue's: it wants runs tagged cuda
    scheduled(future, ["cuda"])  # not due yet
    move(api, scheduled(past, ["cuda"]), "RUNNING")
    status = {queue["name"]: queue for queue in api.get("/work_queue_status").json()}
    assert (status["gpu"]["depth"], status["gpu"]["running"]) == (2, 1)
    assert (status["default"]["depth"], status["default"]["running"]) == (0, 0)
    assert status["gpu"]["tags"] == ["cuda"]


def test_concurrency_limits_name_their_holders(api):
    assert api.post("/concurrency_limits", json={"tag": "db", "limit": 2}).status_code == 201
    run = new_run(api)
    move(api, run, "RUNNING")
    task = api.post("/task_runs", json={"flow_run_id": run["id"], "task_key": "q", "tags": ["db"]}).json()
    started = api.post(f"/task_runs/{task['id']}/set_state", json={"state": {"type": "RUNNING"}})
    assert started.json()["status"] == "ACCEPT", started.text
    (limit,) = api.get("/concurrency_limits").json()
    assert (limit["active_slots"], limit["holders"]) == (1, [task["id"]])
    assert api.get("/concurrency_limits/db").json()["holders"] == [task["id"]]
    done = api.post(f"/task_runs/{task['id']}/set_state", json={"state": {"type": "COMPLETED"}})
    assert done.json()["status"] == "ACCEPT", done.text
    assert api.get("/concurrency_limits/db").json()["holders"] == []


def test_deployment_schedule_in_words_with_time_zone_and_next_runs(api):
    body = {
        "flow_name": "etl",
        "name": "prod",
        "entrypoint": "flows/etl.py:etl",
        "storage": {"type": "local", "url": "/srv/project"},
        "parameter_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "parameters": {"n": 1},
        "schedules": [
            {"type": "cron", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
            {"type": "interval", "interval_seconds": 7200},
        ],
    }
    assert api.post("/deployments", json=body).status_code == 200
    later = api.post("/deployments/etl/prod/runs", json={"scheduled_time": (NOW + dt.timedelta(hours=5)).isoformat()})
    sooner = api.post("/deployments/etl/prod/runs", json={"scheduled_time": (NOW + dt.timedelta(hours=1)).isoformat()})
    assert later.status_code == sooner.status_code == 201
    bad = api.post("/deployments/etl/prod/runs", json={"parameters": {"n": "three"}})
    assert bad.status_code == 422 and "n:" in bad.json()["detail"]
    named = api.post("/deployments/etl/prod/runs", json={"name": "manual-backfill", "tags": ["adhoc"]}).json()
    assert (named["name"], named["tags"]) == ("manual-backfill", ["adhoc"])
    schedule = api.get("/deployments/etl/prod/schedule").json()
    words = [s["description"] for s in schedule["schedules"]]
    assert "09:00" in words[0] and "Monday through Friday" in words[0] and words[0].endswith("(Europe/Berlin)")
    assert words[1] == "Every 2 hours (UTC)"
    times = [dt.datetime.fromisoformat(t) for t in schedule["next_fire_times"]]
    assert len(times) == 5 and times == sorted(times) and times[0] > NOW
    assert times[0] == dt.datetime(2024, 5, 1, 14, tzinfo=dt.UTC)  # the interval's next even hour
    assert [run["id"] for run in schedule["next_runs"]] == [named["id"], sooner.json()["id"], later.json()["id"]]
    assert api.post("/deployments/etl/prod/pause_schedule").status_code == 200
    paused = api.get("/deployments/etl/prod/schedule").json()
    assert paused["paused"] is True and paused["next_fire_times"] == []
    assert api.get("/deployments/etl/nope/schedule").status_code == 404


def test_retry_schedules_a_failed_deployment_run_again_and_refuses_others(api):
    body = {"flow_name": "etl", "name": "prod", "entrypoint": "f.py:etl", "storage": {"type": "local", "url": "/srv"}}
    assert api.post("/deployments", json=body).status_code == 200
    run = api.post("/deployments/etl/prod/runs", json={}).json()
    move(api, run, "RUNNING")
    move(api, run, "FAILED", message="boom")
    retried = api.post(f"/flow_runs/{run['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "ACCEPT", retried.text
    state = api.get(f"/flow_runs/{run['id']}/summary").json()["state"]
    assert (state["type"], state["name"], state["message"]) == ("SCHEDULED", "Scheduled", "Retried (was Failed)")
    assert run["id"] in [r["id"] for r in api.post("/work_queues/default/get_runs").json()]
    again = api.post(f"/flow_runs/{run['id']}/retry")  # SCHEDULED now: nothing to retry
    assert again.status_code == 409 and "can be retried" in again.json()["detail"]
    plain = new_run(api)
    move(api, plain, "CRASHED")
    refused = api.post(f"/flow_runs/{plain['id']}/retry")
    assert refused.status_code == 409 and "no deployment" in refused.json()["detail"]
    assert api.get(f"/flow_runs/{plain['id']}/summary").json()["state"]["type"] == "CRASHED"
    assert api.post(f"/flow_runs/{uuid.uuid4()}/retry").status_code == 404


def test_next_runs_are_the_soonest_due_however_many_are_scheduled(api):
    """Schedules create runs ahead, so the newest-created scheduled runs are the furthest away:
    the next runs come from the due index, soonest first, from a minute ago on."""

    def scheduled(flow: str, due: dt.datetime) -> dict:
        details = {"scheduled_time": due.isoformat()}
        return new_run(api, flow, state={"type": "SCHEDULED", "state_details": details})

    soonest = scheduled("etl", NOW + dt.timedelta(minutes=10))
    for day in range(1, 121):  # created after it, due later: the newest 100 do not include it
        scheduled("etl", NOW + dt.timedelta(days=day))
    just_due = scheduled("etl", NOW - dt.timedelta(seconds=30))
    scheduled("etl", NOW - dt.timedelta(minutes=2))  # late: the dashboard's late list, not next
    other = scheduled("report", NOW + dt.timedelta(minutes=5))

    response = api.get("/flow_runs/upcoming", params={"flow_name": "etl", "limit": 3})
    assert response.status_code == 200, response.text
    runs = response.json()
    assert [r["id"] for r in runs[:2]] == [just_due["id"], soonest["id"]]
    assert len(runs) == 3 and runs[2]["flow_name"] == "etl"
    everyone = [r["id"] for r in api.get("/flow_runs/upcoming").json()]
    assert everyone[:3] == [just_due["id"], other["id"], soonest["id"]] and len(everyone) == 5
    assert api.get("/flow_runs/upcoming", params={"limit": 0}).status_code == 422
