"""On the embedded store a short task is one write: its start is written with its end. A long
one is seen RUNNING by other readers once it has run for 0.1 s, and anything else the SDK asks
the API first writes every deferred start."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from support.threads import started_by, stays_asleep

from mintaka import flow, task
from mintaka.schemas import FlowRunCreate, FlowRunFilter, SetStateRequest, SetStateStatus, TaskRunCreate
from mintaka.states import State, StateType
from mintaka.testing import harness
from mintaka_server.storage.sqlite import SQLiteStore


@pytest.fixture
def embedded():
    with harness() as client:
        yield client


def _task_run_writes(monkeypatch) -> list[str]:
    """Each store call that writes a task run, by name."""
    writes: list[str] = []
    for name in ("create_task_run", "record_ended_task_run", "commit_transition"):
        real = getattr(SQLiteStore, name)

        def counting(self, first, *args, _real=real, _name=name, **kwargs):
            if _name != "commit_transition" or first.kind == "task_run":
                writes.append(_name)
            return _real(self, first, *args, **kwargs)

        monkeypatch.setattr(SQLiteStore, name, counting)
    return writes


def test_a_short_task_is_one_write_with_its_whole_history(embedded, monkeypatch):
    @task
    def inc(x):
        return x + 1

    @flow
    def sequential():
        return [inc(i) for i in range(20)]

    sequential()  # warm: the flow exists
    writes = _task_run_writes(monkeypatch)
    assert sequential() == list(range(1, 21))
    assert writes == ["record_ended_task_run"] * 20  # one write a task run, none to move it

    [run, _] = embedded.list_flow_runs(FlowRunFilter(flow_name="sequential")).items
    task_runs = embedded.read_flow_run_detail(run.id).task_runs
    assert len(task_runs) == 20
    for task_run in task_runs:
        states = embedded.read_task_run_states(task_run.id)
        assert [s.name for s in states] == ["Pending", "Running", "Completed"]
        assert states[0].timestamp <= states[1].timestamp < states[2].timestamp
        assert task_run.start_time == states[1].timestamp and task_run.end_time == states[2].timestamp
        assert task_run.run_count == 1 and task_run.state_version == 2


def _seen_running_by_another_reader(embedded) -> bool:
    """Run a flow whose one task waits until another connection reads it RUNNING (or 5 s)."""
    seen_running = threading.Event()

    @task
    def waits():
        seen_running.wait(10)
        return "done"

    @flow
    def long_task():
        return waits()

    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(long_task()))
    runner.start()
    database = Path(embedded.database)
    deadline = time.monotonic() + 5
    seen = False
    try:
        while time.monotonic() < deadline and not seen:
            with sqlite3.connect(database) as other_reader:  # another connection, as another process
                rows = other_reader.execute(
                    "SELECT json_extract(doc, '$.state.type') FROM task_runs"
                    " WHERE task_key LIKE '%waits' AND json_extract(doc, '$.state.type') = 'RUNNING'"
                ).fetchall()
            seen = rows == [("RUNNING",)]
            time.sleep(0.02)
    finally:
        seen_running.set()
        runner.join(15)
    assert outcome == ["done"]
    return seen


def test_a_long_task_is_seen_running_by_another_reader_while_it_runs(embedded):
    assert _seen_running_by_another_reader(embedded), "nobody saw the task RUNNING"


def test_the_start_writer_sleeps_while_nothing_is_deferred_and_wakes_for_the_next(embedded):
    @task
    def inc(x):
        return x + 1

    @flow
    def short():
        return inc(1)

    thread = started_by(short, "mintaka-deferred-starts")
    time.sleep(0.3)  # its start was written with its end: nothing is deferred now
    assert stays_asleep(thread), "the start writer kept waking with nothing deferred"
    assert _seen_running_by_another_reader(embedded), "the start writer did not wake for a long task"


def test_any_other_call_writes_the_deferred_starts_first(embedded):
    """A flow run that ends takes its unfinished task runs with it, deferred ones included."""
    flow_run = embedded.create_flow_run(FlowRunCreate(flow_name="ends", state=State(type=StateType.RUNNING)))
    started = embedded.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=State(type=StateType.RUNNING))
    )
    assert started.state.type is StateType.RUNNING
    crashed = SetStateRequest(state=State(type=StateType.CRASHED, message="executor lost"))
    embedded.set_flow_run_state(flow_run.id, crashed)
    task_run = embedded.read_task_run(started.id)
    assert task_run.state.type is StateType.CRASHED
    assert [s.name for s in embedded.read_task_run_states(started.id)] == ["Pending", "Running", "Crashed"]


def test_a_task_does_not_start_in_a_flow_run_being_cancelled(embedded):
    flow_run = embedded.create_flow_run(FlowRunCreate(flow_name="stopping", state=State(type=StateType.RUNNING)))
    embedded.set_flow_run_state(flow_run.id, SetStateRequest(state=State(type=StateType.CANCELLING)))
    created = embedded.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=State(type=StateType.RUNNING))
    )
    assert created.state.type is StateType.PENDING
    answer = embedded.set_task_run_state(created.id, SetStateRequest(state=State(type=StateType.RUNNING)))
    assert answer.status is SetStateStatus.ABORT
