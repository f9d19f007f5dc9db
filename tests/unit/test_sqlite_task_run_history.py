"""Schema 4 keeps a task run's states in its own row: one write per task run touches three
b-trees instead of five. A store file of schema 3 (states in the `states` table) opens and
migrates in place, and its task runs' histories read back whole and keep growing."""

from __future__ import annotations

import sqlite3

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
