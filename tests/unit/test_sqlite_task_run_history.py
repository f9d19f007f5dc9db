"""Schema 4 keeps a task run's states in its own row: one write per task run touches three
b-trees instead of five. A store file of schema 3 (states in the `states` table) opens and
migrates in place, and its task runs' histories read back whole and keep growing."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from mintaka.exceptions import ObjectNotFound
from mintaka.schemas import FlowRunCreate, SetStateRequest, TaskRunCreate
from mintaka.states import State, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SCHEMA_VERSION, SQLiteStore


def _types(states) -> list[StateType]:
    return [s.type for s in states]


def _run_with_a_task(service: OrchestrationService, *transitions: StateType):
    run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=State(type=StateType.RUNNING)))
    task = service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="load", dynamic_key="0"))
    for state_type in transitions:
        service.set_task_run_state(task.id, SetStateRequest(state=State(type=state_type)))
    return run, task


def _as_schema_3(path) -> None:
    """What a schema-3 file looks like: task-run states in `states`, no `history` column."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, history FROM task_runs").fetchall()
        for run_id, history in rows:
            for state in _split(history):
                conn.execute("INSERT INTO states (run_id, doc) VALUES (?, ?)", (run_id, state))
        conn.execute("ALTER TABLE task_runs DROP COLUMN history")
        conn.execute("PRAGMA user_version = 3")


def _split(history: str) -> list[str]:
    import json

    return [json.dumps(doc) for doc in json.loads(f"[{history}]")]


def test_a_task_runs_history_lives_in_its_row_and_grows_with_each_transition(tmp_path):
    store = SQLiteStore(tmp_path / "m.db")
    service = OrchestrationService(store)
    run, task = _run_with_a_task(service, StateType.RUNNING, StateType.FAILED)
    assert _types(service.read_task_run_states(task.id)) == [StateType.PENDING, StateType.RUNNING, StateType.FAILED]
    # The flow run's states stay in the states table; none of the task run's are there.
    assert store._read("SELECT COUNT(*) FROM states WHERE run_id = ?", (str(task.id),)) == [(0,)]
    assert _types(service.read_flow_run_states(run.id)) == [StateType.PENDING, StateType.RUNNING]
    store.close()


def test_a_schema_3_file_migrates_and_its_task_run_histories_read_back_and_grow(tmp_path):
    path = tmp_path / "old.db"
    old = OrchestrationService(SQLiteStore(path))
    run, task = _run_with_a_task(old, StateType.RUNNING)
    before = old.read_task_run_states(task.id)
    old.store.close()
    _as_schema_3(path)

    store = SQLiteStore(path)
    assert store._read("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    service = OrchestrationService(store)
    assert service.read_task_run_states(task.id) == before
    assert store._read("SELECT COUNT(*) FROM states WHERE run_id = ?", (str(task.id),)) == [(0,)]
    assert _types(service.read_flow_run_states(run.id)) == [
        StateType.PENDING,
        StateType.RUNNING,
    ]  # flow-run states untouched

    service.set_task_run_state(task.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
    assert _types(service.read_task_run_states(task.id)) == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
    store.close()


class TestABatchOfWritesCommitsOnce:
    """`Store.batch()`: the server applies a batch of task-run reports in one SQLite transaction."""

    def test_other_connections_see_the_writes_only_when_the_batch_commits(self, tmp_path):
        store = SQLiteStore(tmp_path / "m.db")
        service = OrchestrationService(store)
        run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=State(type=StateType.RUNNING)))
        reader = sqlite3.connect(tmp_path / "m.db")
        with store.batch():
            for i in range(3):
                service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="t", dynamic_key=str(i)))
            assert reader.execute("SELECT COUNT(*) FROM task_runs").fetchone() == (0,)
        assert reader.execute("SELECT COUNT(*) FROM task_runs").fetchone() == (3,)
        store.close()

    def test_an_exception_escaping_the_batch_writes_nothing_of_it(self, tmp_path):
        store = SQLiteStore(tmp_path / "m.db")
        service = OrchestrationService(store)
        run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=State(type=StateType.RUNNING)))
        with pytest.raises(KeyboardInterrupt), store.batch():
            service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="t"))
            raise KeyboardInterrupt
        assert store.list_task_runs(run.id) == []
        service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="after"))  # the store writes on
        assert [t.task_key for t in store.list_task_runs(run.id)] == ["after"]
        store.close()

    def test_a_write_refused_inside_the_batch_undoes_only_itself(self, tmp_path):
        store = SQLiteStore(tmp_path / "m.db")
        service = OrchestrationService(store)
        run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=State(type=StateType.RUNNING)))
        missing = uuid.uuid4()
        with store.batch():
            service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="kept"))
            with pytest.raises(ObjectNotFound):  # its insert happened, then the flow-run check refused it
                service.create_task_run(TaskRunCreate(flow_run_id=missing, task_key="orphan"))
        assert [t.task_key for t in store.list_task_runs(run.id)] == ["kept"]
        assert store._read("SELECT COUNT(*) FROM task_runs") == [(1,)]
        store.close()
