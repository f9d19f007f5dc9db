"""Task runs over HTTP reported write-behind (issue 12 item 3), against a real uvicorn server:
a flow of many task runs records every state with its time in a few batch requests; a flow
cancelled mid-way stops at its next task once a batch answer says so; a flow process killed
with reports unsent leaves a journal the next process sends; a hostile batch is refused whole
and writes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.api_process import clean_env
from support.threads import started_by, stays_asleep

from mintaka import flow, task
from mintaka.client import get_client, set_client
from mintaka.client.http import HttpTransport
from mintaka.client.write_behind import SEND_AT
from mintaka.exceptions import Abort
from mintaka.schemas import FlowRunCreate, FlowRunFilter, SetStateRequest
from mintaka.settings import reset_settings
from mintaka.states import State, StateType
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

PLAIN = [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]


class Counting:
    """ASGI wrapper counting requests by (method, path)."""

    def __init__(self, app):
        self.app = app
        self.requests: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests[(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


@contextlib.contextmanager
def _serving(store, serve_asgi, monkeypatch, spool: Path) -> Iterator[tuple[Counting, HttpTransport]]:
    """A server on `store`; this process's client talks to it over HTTP."""
    app = Counting(create_app(OrchestrationService(store)))
    with serve_asgi(app) as base:
        monkeypatch.setenv("MINTAKA_API_URL", f"{base}/api")
        monkeypatch.setenv("MINTAKA_LOG_SPOOL_DIR", str(spool))
        reset_settings()
        set_client(None)
        yield app, HttpTransport(f"{base}/api", retries=0)
        get_client().close()


@pytest.fixture
def api(mintaka_home, serve_asgi, monkeypatch, tmp_path):
    """A server on its own SQLite file."""
    store = SQLiteStore(tmp_path / "served.db")
    with _serving(store, serve_asgi, monkeypatch, tmp_path / "spool") as served:
        yield served
    store.close()


@pytest.fixture
def api_on_each_store(mintaka_home, serve_asgi, monkeypatch, tmp_path, store):
    """A server on each selected store adapter (SQLite, DynamoDB on moto, ...)."""
    with _serving(store, serve_asgi, monkeypatch, tmp_path / "spool") as served:
        yield served


def _history(client: HttpTransport, run_id: uuid.UUID) -> list[State]:
    return client.read_task_run_states(run_id)


def test_a_flow_of_many_task_runs_records_every_state_in_few_requests(api_on_each_store, store_name):
    app, reader = api_on_each_store

    @task
    def inc(x):
        return x + 1

    @flow
    def many(n: int):
        return sum(inc(i) for i in range(n))

    tasks = 300 if store_name == "sqlite" else 40  # moto takes milliseconds a call
    assert many(tasks) == sum(range(1, tasks + 1))
    task_requests = sum(n for (_, path), n in app.requests.items() if path.startswith("/api/task_runs"))
    assert 0 < task_requests <= tasks * 0.1, app.requests  # <= 0.1 requests per task run
    (run,) = reader.list_flow_runs(_runs_of("many")).items
    detail = reader.read_flow_run_detail(run.id)
    assert detail.state.type is StateType.COMPLETED
    assert len(detail.task_runs) == tasks
    ends = []
    for task_run in detail.task_runs:
        states = _history(reader, task_run.id)
        assert [s.type for s in states] == PLAIN, task_run.name
        pending, running, completed = states
        assert pending.timestamp <= running.timestamp <= completed.timestamp
        assert task_run.start_time == running.timestamp and task_run.end_time == completed.timestamp
        ends.append(completed.timestamp)
    # The flow run ended only once every report was in: after the last task run's end.
    assert detail.states[-1].timestamp >= max(ends)


def test_a_batch_goes_out_as_soon_as_enough_reports_wait(api):
    """The server applies a batch while the flow goes on: past `SEND_AT` reports the sender does
    not wait for its interval (here an hour), so task runs are in before the flow run ends."""
    app, reader = api
    get_client().reports.interval = 3600  # only the queue's size sends a batch before the flow's end
    batches_seen: list[int] = []

    def batches() -> int:
        return app.requests[("POST", "/api/task_runs/batch")]

    @task
    def step(i):
        if i == SEND_AT:  # SEND_AT reports were queued when task SEND_AT // 2 ended
            deadline = time.monotonic() + 10
            while not batches() and time.monotonic() < deadline:
                time.sleep(0.01)
            batches_seen.append(batches())
        return i

    @flow
    def overlapping(n: int):
        return sum(step(i) for i in range(n))

    assert overlapping(SEND_AT * 2) == sum(range(SEND_AT * 2))
    assert batches_seen and batches_seen[0] >= 1
    assert batches() <= 5  # one a SEND_AT reports, and the rest at the flow run's end
    (run,) = reader.list_flow_runs(_runs_of("overlapping")).items
    assert len(reader.read_flow_run_detail(run.id).task_runs) == SEND_AT * 2


def test_the_sender_sleeps_while_nothing_waits_and_sends_the_next_report_within_its_interval(api):
    app, _ = api

    def batches() -> int:
        return app.requests[("POST", "/api/task_runs/batch")]

    @task
    def inc(x):
        return x + 1

    @flow
    def short():
        return inc(1)

    sender = started_by(short, "mintaka-task-run-reports")
    time.sleep(0.3)  # the flow run's end sent everything: nothing waits
    assert stays_asleep(sender), "the sender kept waking with nothing to send"

    sent_while_running: list[int] = []

    @task
    def waits_for_the_sender(first_batches: int):
        deadline = time.monotonic() + 5  # the interval is 0.05 s: only a sender asleep misses it
        while batches() == first_batches and time.monotonic() < deadline:
            time.sleep(0.01)
        sent_while_running.append(batches() - first_batches)

    @flow
    def two_tasks():
        inc(1)  # reported write-behind: the sender wakes for it
        waits_for_the_sender(batches())

    two_tasks()
    assert sent_while_running and sent_while_running[0] >= 1, "nothing was sent while the flow ran"


def _runs_of(flow_name: str) -> FlowRunFilter:
    return FlowRunFilter(flow_name=flow_name)


def test_a_flow_cancelled_mid_way_stops_at_its_next_task(api):
    """Task 5 cancels its flow run. The batch that goes out next is refused (or its answer says
    the flow run is cancelling): the task after that answer is proposed synchronously, aborted,
    and the flow run ends CANCELLED. Tasks that began before the cancel are recorded as they ran."""
    _, other = api
    ran: list[int] = []

    @task
    def step(i):
        ran.append(i)
        if i == 5:
            from mintaka.runtime import flow_run

            answer = other.set_flow_run_state(flow_run.id, SetStateRequest(state=State(type=StateType.CANCELLING)))
            assert answer.state.type is StateType.CANCELLING
        if i >= 5:
            time.sleep(0.3)  # longer than a flush interval: a batch and its answer come meanwhile
        return i

    @flow
    def cancelled():
        for i in range(20):
            step(i)

    with pytest.raises(Abort):
        cancelled()
    # Task 6 runs only if task 5's start went out before the cancel (its answer said RUNNING).
    assert ran in ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6]), ran
    (run,) = other.list_flow_runs(_runs_of("cancelled")).items
    assert run.state.type is StateType.CANCELLED
    histories = {
        int(t.dynamic_key): [s.type for s in _history(other, t.id)]
        for t in other.read_flow_run_detail(run.id).task_runs
    }
    assert all(histories[i] == PLAIN for i in range(5)), histories
    assert all(histories[i][-1] is StateType.COMPLETED for i in ran), histories  # each ran to its end
    stopped = len(ran)  # the next task: proposed synchronously, never started
    assert sorted(histories) == [*ran, stopped]
    assert histories[stopped] == [StateType.PENDING, StateType.CANCELLED], histories


KILLED_FLOW = """
import os
import signal
import sys

from mintaka import flow, task
from mintaka.client import get_client

KILL_AT = int(os.environ["TEST_KILL_AT"])


@task
def step(i):
    if i == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


@flow(name="killed")
def main():
    return sum(step(i) for i in range(20))


if __name__ == "__main__":
    get_client().reports.interval = 3600  # nothing is sent before the kill: every report is in the journal
    print("RESULT", main(), flush=True)
"""


def test_reports_of_a_killed_flow_process_are_sent_by_the_next_process(api, tmp_path):
    _, reader = api
    script = tmp_path / "killed_flow.py"
    script.write_text(KILLED_FLOW)
    spool = tmp_path / "spool"
    env = clean_env(tmp_path / "home", MINTAKA_API_URL=reader.api_url, MINTAKA_LOG_SPOOL_DIR=str(spool))

    killed = subprocess.run([sys.executable, str(script)], env={**env, "TEST_KILL_AT": "12"}, capture_output=True)
    assert killed.returncode == -9, killed.stderr
    (run,) = reader.list_flow_runs(_runs_of("killed")).items
    assert reader.read_flow_run_detail(run.id).task_runs == []  # nothing was sent...
    assert [p for p in spool.rglob("*.sending") if p.stat().st_size > 0]  # ...it is all in the journal

    again = subprocess.run([sys.executable, str(script)], env={**env, "TEST_KILL_AT": "-1"}, capture_output=True)
    assert again.returncode == 0, again.stderr
    histories = {int(t.dynamic_key): _history(reader, t.id) for t in reader.read_flow_run_detail(run.id).task_runs}
    assert sorted(histories) == list(range(13))
    assert all([s.type for s in histories[i]] == PLAIN for i in range(12)), histories
    assert [s.type for s in histories[12]] == PLAIN[:2]  # it started, and was killed in its body
    assert not [p for p in spool.rglob("*") if p.is_file()]


# -- hostile batches: refused whole (4xx), nothing written


def _started(flow_run_id: uuid.UUID, **overrides) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "flow_run_id": str(flow_run_id),
        "task_key": "t",
        "dynamic_key": uuid.uuid4().hex,
        "state": {"type": "RUNNING", "timestamp": dt.datetime.now(dt.UTC).isoformat()},
    }
    body.update(overrides)
    return {"op": "create", "task_run": body}


def _completed(task_run_id: str, **overrides) -> dict:
    state = {
        "type": "COMPLETED",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "state_details": {"idempotency_key": uuid.uuid4().hex},
    }
    state.update(overrides)
    return {"op": "set_state", "task_run_id": task_run_id, "state": state}


def test_hostile_batches_are_refused_whole_and_write_nothing(api):
    _, client = api
    mine = client.create_flow_run(FlowRunCreate(flow_name="mine", state=State(type=StateType.RUNNING)))
    theirs = client.create_flow_run(FlowRunCreate(flow_name="theirs", state=State(type=StateType.RUNNING)))
    their_task = _started(theirs.id)
    url = f"{client.api_url}/task_runs/batch"
    ok = httpx.post(url, json={"flow_run_id": str(theirs.id), "reports": [their_task]})
    assert ok.status_code == 200 and ok.json()["answers"][0]["status"] == "ACCEPT"

    good = _started(mine.id)
    naive = _started(mine.id)
    naive["task_run"]["state"]["timestamp"] = "2026-01-01T12:00:00"
    hostile = {
        "too many": (422, [_started(mine.id) for _ in range(501)]),
        "malformed": (422, [good, {"op": "explode"}]),
        "an unknown task run": (404, [good, _completed(str(uuid.uuid4()))]),
        "another flow's task run": (422, [good, _completed(their_task["task_run"]["id"])]),
        "a create for another flow run": (422, [good, _started(theirs.id)]),
        "a failure": (422, [good, _completed(good["task_run"]["id"], type="FAILED")]),
        "no idempotency key": (422, [good, _completed(good["task_run"]["id"], state_details={})]),
        "a naive timestamp": (422, [good, naive]),
        "a start that is not RUNNING": (422, [_started(mine.id, state={"type": "COMPLETED"})]),
    }
    for name, (status, reports) in hostile.items():
        answer = httpx.post(url, json={"flow_run_id": str(mine.id), "reports": reports})
        assert answer.status_code == status, (name, answer.text)
        assert answer.json()["detail"], name
    unknown_flow_run = httpx.post(url, json={"flow_run_id": str(uuid.uuid4()), "reports": [good]})
    assert unknown_flow_run.status_code == 404
    not_json = httpx.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["type"] == "json_invalid"
    # Read by pydantic from the bytes (api/json_body.py), the errors still say where, as FastAPI's do.
    too_many = httpx.post(url, json={"flow_run_id": str(mine.id), "reports": hostile["too many"][1]})
    assert too_many.json()["errors"][0]["loc"] == ["body", "reports"]
    assert too_many.json()["detail"].startswith("body.reports: List should have at most 500 items")
    as_form = httpx.post(url, data={"flow_run_id": str(mine.id)})
    assert as_form.status_code == 415  # browser_guard.py: a form is what a forged request sends
    as_text = httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain", "Authorization": "Bearer x"})
    assert as_text.status_code == 422 and "Content-Type: application/json" in as_text.json()["detail"]
    assert client.read_flow_run_detail(mine.id).task_runs == []
    assert [s.type for s in _history(client, uuid.UUID(their_task["task_run"]["id"]))] == PLAIN[:2]


def test_a_batch_sent_twice_records_each_state_once(api):
    _, client = api
    run = client.create_flow_run(FlowRunCreate(flow_name="twice", state=State(type=StateType.RUNNING)))
    started = _started(run.id)
    batch = {"flow_run_id": str(run.id), "reports": [started, _completed(started["task_run"]["id"])]}
    url = f"{client.api_url}/task_runs/batch"
    first, second = httpx.post(url, json=batch), httpx.post(url, json=batch)
    assert first.status_code == second.status_code == 200
    assert [a["status"] for a in first.json()["answers"]] == ["ACCEPT", "ACCEPT"]
    assert [a["status"] for a in second.json()["answers"]] == ["ACCEPT", "ACCEPT"]
    (task_run,) = client.read_flow_run_detail(run.id).task_runs
    states = _history(client, task_run.id)
    assert [s.type for s in states] == PLAIN
    # Stamped with the times the client reported, not when the batch arrived.
    assert states[1].timestamp == dt.datetime.fromisoformat(started["task_run"]["state"]["timestamp"])


def test_write_behind_is_off_when_asked(api, monkeypatch):
    app, _ = api
    monkeypatch.setenv("MINTAKA_TASK_RUN_REPORTS", "false")
    reset_settings()
    get_client().close()
    set_client(None)

    @task
    def one():
        return 1

    @flow
    def synchronous():
        return [one() for _ in range(3)]

    assert synchronous() == [1, 1, 1]
    assert app.requests[("POST", "/api/task_runs/batch")] == 0
    assert get_client().reports is None
