"""The SQLite store's derived tables for the dashboard on a real file: the trigram index of run
names gives the same pages as reading every run, the hourly counters follow every transition,
and a store written before either gets them filled when it is opened."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRun, FlowRunFilter
from mintaka.states import State, StateType
from mintaka_server.storage import TransitionWrite, _sqlite_views
from mintaka_server.storage.sqlite import SQLiteStore

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
NAMES = ["brave-otter", "calm-otter", "Quiet-Heron", "eager-otter", "run-7-rare", "ab"]


@pytest.fixture
def store(tmp_path):
    opened = SQLiteStore(tmp_path / "mintaka.db")
    yield opened
    opened.close()


def add_run(store: SQLiteStore, name: str, created: dt.datetime, flow: str = "etl", **fields) -> FlowRun:
    flow_id = store.ensure_flow(flow).id
    run = FlowRun(
        id=uuid.uuid4(),
        flow_id=flow_id,
        flow_name=flow,
        name=name,
        created=created,
        state=State(type=StateType.PENDING),
        **fields,
    )
    return store.create_flow_run(run)


def move(store: SQLiteStore, run: FlowRun, state_type: StateType) -> None:
    run = store.read_flow_run(run.id)
    state = State(type=state_type)
    store.commit_transition(TransitionWrite(kind="flow_run", run=run, state=state, expected_version=run.state_version))


def names(store: SQLiteStore, needle: str, **filters) -> list[str]:
    """Every matching run's name, newest first, following cursors 3 at a time."""
    found, cursor = [], None
    while True:
        page = store.list_flow_runs(FlowRunFilter(name_contains=needle, cursor=cursor, limit=3, **filters))
        found += [run.name for run in page.items]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def expected(runs: list[FlowRun], needle: str) -> list[str]:
    return [r.name for r in sorted(runs, key=lambda r: r.created, reverse=True) if needle.lower() in r.name.lower()]


@pytest.mark.parametrize("cap", [1000, 2])  # the index answers alone, or a common word walks the time index
def test_a_name_search_finds_what_reading_every_run_finds(store, monkeypatch, cap):
    monkeypatch.setattr(_sqlite_views, "NAME_CANDIDATES", cap)
    runs = [add_run(store, f"{NAMES[i % len(NAMES)]}-{i}", T0 + dt.timedelta(minutes=i)) for i in range(30)]
    for needle in ["OTTER", "otter-1", "heron", "run-7-rare-4", "ab-", "b", "-2", "nowhere", '"', "%"]:
        assert names(store, needle) == expected(runs, needle), needle
    assert names(store, "otter", sort="oldest") == list(reversed(expected(runs, "otter")))
    since = T0 + dt.timedelta(minutes=20)
    assert names(store, "otter", since=since) == [n for n in expected(runs, "otter") if int(n.split("-")[-1]) >= 20]


def test_hourly_counters_follow_every_transition(store):
    a = add_run(store, "a", T0, deployment_name="etl/prod")
    b = add_run(store, "b", T0 + dt.timedelta(minutes=59), flow="report")
    c = add_run(store, "c", T0 + dt.timedelta(hours=1, minutes=30))
    move(store, a, StateType.RUNNING)
    move(store, a, StateType.FAILED)
    move(store, b, StateType.COMPLETED)
    hour = dt.timedelta(hours=1)
    assert store.count_flow_runs(T0, T0 + 2 * hour) == {
        T0: {StateType.FAILED: 1, StateType.COMPLETED: 1},
        T0 + hour: {StateType.PENDING: 1},
    }
    assert store.count_flow_runs(T0, T0 + 2 * hour, flow_name="etl", per_hour=False) == {
        T0: {StateType.FAILED: 1, StateType.PENDING: 1}
    }
    assert store.count_flow_runs(T0, T0 + 2 * hour, deployment_name="etl/prod") == {T0: {StateType.FAILED: 1}}
    assert store.count_flow_runs(T0, T0 + 2 * hour, flow_name="etl", deployment_name="etl/prod") == {
        T0: {StateType.FAILED: 1}
    }
    assert store.count_flow_runs_per_minute(T0, T0 + 2 * hour) == {
        T0: {StateType.FAILED: 1},
        T0 + dt.timedelta(minutes=59): {StateType.COMPLETED: 1},
        T0 + dt.timedelta(minutes=90): {StateType.PENDING: 1},
    }
    move(store, c, StateType.CANCELLED)
    assert store.count_flow_runs(T0 + hour, T0 + 2 * hour) == {T0 + hour: {StateType.CANCELLED: 1}}


def test_a_store_written_before_the_derived_tables_gets_them_when_opened(tmp_path):
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    runs = [add_run(store, f"{NAMES[i % len(NAMES)]}-{i}", T0 + dt.timedelta(minutes=7 * i)) for i in range(12)]
    move(store, runs[0], StateType.COMPLETED)
    with store._write() as conn:  # as a Mintaka before them wrote it
        for trigger in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER flow_run_views_{trigger}")
        conn.execute("DROP TABLE flow_run_counts")
        conn.execute("DROP TABLE flow_run_names")
    store.close()
    store = SQLiteStore(path)
    try:
        assert names(store, "otter") == expected(runs, "otter")
        per_hour = store.count_flow_runs(T0, T0 + dt.timedelta(hours=2), per_hour=False)
        assert per_hour == {T0: {StateType.COMPLETED: 1, StateType.PENDING: 11}}
        move(store, runs[1], StateType.RUNNING)  # and keeps them from then on
        assert store.count_flow_runs(T0, T0 + dt.timedelta(hours=2), per_hour=False)[T0][StateType.RUNNING] == 1
    finally:
        store.close()


def test_work_queues_are_read_on_their_own_index(store):
    """A queue's due runs and its runs in flight come from the (work_queue, state_type, expected
    start) index: seeks per queue, not a walk over every due or running run of other queues."""
    runs = [
        add_run(store, f"r{i}", T0 + dt.timedelta(minutes=i), work_queue_name=queue, expected_start_time=T0)
        for i, queue in enumerate(["a", "a", "b", "b", "b", None, "c"])
    ]
    states = [StateType.RUNNING, StateType.SCHEDULED, StateType.RUNNING, None, StateType.COMPLETED, StateType.RUNNING]
    for run, state in zip(runs, states, strict=False):  # the last stays PENDING
        if state is not None:
            move(store, run, state)
    in_flight = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    assert store.count_flow_runs_per_work_queue(in_flight, ["a", "b", "z"]) == {"a": 1, "b": 2}
    assert store.count_flow_runs_per_work_queue(in_flight) == {"a": 1, "b": 2, "c": 1}
    plans = [
        " ".join(row[-1] for row in store._read(f"EXPLAIN QUERY PLAN {sql}", params))
        for sql, params in [
            (
                "SELECT doc FROM flow_runs WHERE state_type = 'SCHEDULED' AND expected_start <= ? AND work_queue = ?"
                " ORDER BY expected_start, id LIMIT 10",
                ["2026-03-02", "a"],
            ),
        ]
    ]
    assert all("flow_runs_queue_due" in plan and "TEMP B-TREE" not in plan for plan in plans), plans
    due = store.list_due_flow_runs(T0 + dt.timedelta(hours=1), work_queue_name="a")
    assert [run.name for run in due] == ["r1"]
