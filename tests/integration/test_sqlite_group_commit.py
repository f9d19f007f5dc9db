"""On the embedded store, task runs that ended commit in groups (one transaction for many), and
none is lost: each is in this process's journal before its task returns, a killed process's
journal is committed by the next store to open the database (or the reaper's pass of one already
open), other processes see the runs within about 0.1 s, and this process sees them at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

from support.threads import started_by, stays_asleep

from mintaka import flow, task
from mintaka.schemas import FlowRun, FlowRunFilter, TaskRun
from mintaka.states import State, StateType
from mintaka.testing import harness
from mintaka_core.states import utcnow
from mintaka_server.storage._sqlite_groups import GROUP_DELAY
from mintaka_server.storage.sqlite import SQLiteStore

KILLED_FLOW = textwrap.dedent(
    """
    import os, signal
    from mintaka import flow, task

    @task
    def step(i):
        if i == {killed_at}:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-flow, with the last group not committed
        return i

    @flow
    def killed():
        return [step(i) for i in range({tasks})]

    killed()
    """
)


def _run_killed_flow(home: Path, tasks: int, killed_at: int) -> None:
    env = {**os.environ, "MINTAKA_HOME": str(home), "MINTAKA_LOGGING_LEVEL": "WARNING"}
    env.pop("MINTAKA_API_URL", None)
    env.pop("MINTAKA_DATABASE", None)
    script = KILLED_FLOW.format(tasks=tasks, killed_at=killed_at)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def _committed_task_runs(database: Path) -> list[tuple[str, str]]:
    """(dynamic_key, state type) of each task run committed, read without a store."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT dynamic_key, json_extract(doc, '$.state.type') FROM task_runs").fetchall()
    return sorted(rows, key=lambda row: int(row[0]))


def _ended_task_run_in_a_running_flow_run(store: SQLiteStore) -> tuple[TaskRun, list[State]]:
    flow = store.ensure_flow("etl")
    now = utcnow()
    flow_run = FlowRun(
        id=uuid.uuid4(), name="r", flow_id=flow.id, flow_name="etl", state=State(type=StateType.RUNNING), created=now
    )
    store.create_flow_run(flow_run)
    assert store.read_flow_run_state_type(flow_run.id) is StateType.RUNNING  # the store has seen it
    run = TaskRun(
        id=uuid.uuid4(),
        flow_run_id=flow_run.id,
        task_key="t",
        dynamic_key="0",
        name="t-0",
        state=State(type=StateType.COMPLETED, timestamp=now),
        state_version=2,
        run_count=1,
        created=now,
    )
    return run, [State(type=StateType.PENDING, timestamp=now), State(type=StateType.RUNNING, timestamp=now)]


def test_task_runs_that_ended_commit_together_and_read_whole(monkeypatch):
    @task
    def inc(x):
        return x + 1

    @flow
    def many():
        return sum(inc(i) for i in range(300))

    with harness() as client:
        many()  # warm: the flow exists
        store: SQLiteStore = client.service.store
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        assert many() == sum(range(1, 301))
        store._conn.set_trace_callback(None)
        inserts = [s for s in statements if s.startswith("INSERT OR IGNORE INTO task_runs")]
        commits = [s for s in statements if s == "COMMIT"]
        assert len(inserts) == 300
        assert len(commits) < 30, f"{len(commits)} commits for 300 task runs: not grouped"

        [run, _] = client.list_flow_runs(FlowRunFilter(flow_name="many")).items
        task_runs = client.read_flow_run_detail(run.id).task_runs
        assert len(task_runs) == 300
        assert {t.state.type for t in task_runs} == {StateType.COMPLETED}
        states = client.read_task_run_states(task_runs[-1].id)
        assert [s.name for s in states] == ["Pending", "Running", "Completed"]


def test_a_killed_process_loses_no_task_run_that_ended(tmp_path):
    _run_killed_flow(tmp_path, tasks=60, killed_at=40)
    database = tmp_path / "mintaka.db"
    journals = list((tmp_path / "mintaka.db-ended-task-runs").glob("*.rows"))
    assert journals, "the killed process left no journal"

    store = SQLiteStore(database)  # the next store to open the database commits what was left
    try:
        rows = _committed_task_runs(database)
        assert rows == [(str(i), "COMPLETED") for i in range(40)]
        assert not list((tmp_path / "mintaka.db-ended-task-runs").glob("*.rows"))
        [flow_run] = store.list_flow_runs(FlowRunFilter()).items
        assert [t.dynamic_key for t in store.list_task_runs(flow_run.id)] == [str(i) for i in range(40)]
    finally:
        store.close()
    assert SQLiteStore(database).commit_orphaned_rows() == 0  # committed once


def test_a_store_already_open_commits_a_killed_process_rows_on_its_reaper_pass(tmp_path):
    database = tmp_path / "mintaka.db"
    server = SQLiteStore(database)  # e.g. `mintaka server start`, open before the flow ran
    try:
        _run_killed_flow(tmp_path, tasks=30, killed_at=25)
        server.list_expired_leases(utcnow())
        assert _committed_task_runs(database) == [(str(i), "COMPLETED") for i in range(25)]
    finally:
        server.close()


def test_another_process_sees_ended_task_runs_while_the_flow_goes_on(tmp_path):
    release = threading.Event()

    @task
    def quick(i):
        return i

    @flow
    def quick_then_slow():
        for i in range(20):
            quick(i)
        assert release.wait(30), "the test never released this flow"  # no call to the store meanwhile

    with harness(tmp_path):
        runner = threading.Thread(target=quick_then_slow)
        runner.start()
        try:
            completed: list = []
            deadline = time.monotonic() + 10
            while len(completed) < 20 and time.monotonic() < deadline:
                time.sleep(GROUP_DELAY / 4)
                completed = [r for r in _committed_task_runs(tmp_path / "mintaka.db") if r[1] == "COMPLETED"]
        finally:
            release.set()
            runner.join(30)
        assert len(completed) == 20, "a reader on its own connection did not see the ended task runs"


def test_a_forked_child_leaves_its_parents_journal_and_rows_alone(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    try:
        run, history = _ended_task_run_in_a_running_flow_run(store)
        with store._lock:
            store.record_ended_task_run(run, history)
            store._group_since = time.monotonic() + 3600  # the timer leaves this group alone
        [journal] = store.journal_directory.glob("*.rows")
        size = journal.stat().st_size
        assert size > 0
        pid = os.fork()
        if pid == 0:  # the child: ending its groups must neither clear nor commit the parent's
            code = 1
            try:
                with store._lock:
                    store._close_groups()
                code = 0 if journal.exists() and journal.stat().st_size == size else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _committed_task_runs(tmp_path / "mintaka.db") == []
        assert journal.stat().st_size == size
    finally:
        store.close()
    assert _committed_task_runs(tmp_path / "mintaka.db") == [("0", "COMPLETED")]
    assert not journal.exists()


def test_a_group_left_alone_commits_after_its_delay(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    try:
        run, history = _ended_task_run_in_a_running_flow_run(store)
        store.record_ended_task_run(run, history)
        recorded = time.monotonic()
        while not _committed_task_runs(tmp_path / "mintaka.db") and time.monotonic() - recorded < 5:
            time.sleep(GROUP_DELAY / 10)  # this store is not called meanwhile: its timer commits
        waited = time.monotonic() - recorded
        assert _committed_task_runs(tmp_path / "mintaka.db") == [("0", "COMPLETED")]
        assert waited >= GROUP_DELAY * 0.9, "committed before its delay: not grouped"
    finally:
        store.close()


def test_the_commit_thread_sleeps_while_no_row_waits_and_wakes_for_the_next(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    try:
        run, history = _ended_task_run_in_a_running_flow_run(store)
        # Its first row starts the store's thread.
        thread = started_by(lambda: store.record_ended_task_run(run, history), "mintaka-sqlite-groups")
        time.sleep(GROUP_DELAY * 3)  # the group commits on its own, then nothing waits
        assert _committed_task_runs(tmp_path / "mintaka.db") == [("0", "COMPLETED")]
        assert stays_asleep(thread, GROUP_DELAY * 10), "the thread kept waking with nothing to commit"

        later = run.model_copy(update={"id": uuid.uuid4(), "dynamic_key": "1"})
        store.record_ended_task_run(later, history)
        deadline = time.monotonic() + 5
        while len(_committed_task_runs(tmp_path / "mintaka.db")) < 2 and time.monotonic() < deadline:
            time.sleep(GROUP_DELAY / 10)  # this store is not called meanwhile: its woken timer commits
        assert [key for key, _ in _committed_task_runs(tmp_path / "mintaka.db")] == ["0", "1"]
    finally:
        store.close()


def test_a_worker_process_publishes_its_writes_before_handing_a_state_back(tmp_path):
    with harness(tmp_path) as client:
        store: SQLiteStore = client.service.store
        run, history = _ended_task_run_in_a_running_flow_run(store)
        store.record_ended_task_run(run, history)
        with store._lock:
            store._group_since = time.monotonic() + 3600  # the timer leaves this group alone
        assert _committed_task_runs(tmp_path / "mintaka.db") == []
        client.publish_writes()  # what `run_remote` calls on a Dask or Ray worker
        assert _committed_task_runs(tmp_path / "mintaka.db") == [("0", "COMPLETED")]
