"""Writes a client sends again after their answer was lost store nothing twice, on every store:
log records carry client-made ids (a batch written again stores each line once), and a task
run created again (by its id and identity) keeps one history and one slot."""

from __future__ import annotations

import uuid

from mintaka.schemas import LogCreate, TaskRun
from mintaka.states import State, StateType


def _ids(count: int) -> list[uuid.UUID]:
    """Ids as the SDK makes them: increasing within a process."""
    base = 1_700_000_000_000_000_000
    return [uuid.UUID(int=((base + i) << 64) | 12345) for i in range(count)]


def test_a_batch_written_twice_is_stored_once(store, new_flow_run, at):
    run = new_flow_run()
    batch = [LogCreate(id=i, flow_run_id=run.id, message=f"line {n}", timestamp=at(n)) for n, i in enumerate(_ids(3))]
    store.write_logs(batch)
    store.write_logs(batch)
    store.write_logs(batch[1:])
    logs = store.read_logs(run.id)
    assert [log.message for log in logs] == ["line 0", "line 1", "line 2"]
    assert [log.id for log in logs] == [log.id for log in batch]


def test_lines_with_ids_and_equal_timestamps_keep_their_order(store, new_flow_run, at):
    run = new_flow_run()
    store.write_logs(
        [LogCreate(id=i, flow_run_id=run.id, message=str(n), timestamp=at(0)) for n, i in enumerate(_ids(10))]
    )
    assert [log.message for log in store.read_logs(run.id)] == [str(n) for n in range(10)]


def test_lines_without_ids_are_all_kept(store, new_flow_run, at):
    run = new_flow_run()
    line = LogCreate(flow_run_id=run.id, message="same", timestamp=at(0))
    store.write_logs([line, line])
    store.write_logs([line])
    assert [log.message for log in store.read_logs(run.id)] == ["same"] * 3


def test_a_started_task_run_created_again_keeps_one_history_and_one_slot(store, new_flow_run, at):
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    store.upsert_concurrency_limit("db", 5)
    pending = State(type=StateType.PENDING, timestamp=at(1))
    run = TaskRun(
        id=uuid.uuid4(),
        flow_run_id=flow_run.id,
        task_key="load",
        dynamic_key="0",
        name="load-0",
        tags=["db"],
        state=State(type=StateType.RUNNING, timestamp=at(1)),
        state_version=1,
        run_count=1,
        held_slots=["db"],
        created=at(1),
    )
    first = store.create_task_run(run, history_before=[pending], acquire_slots=["db"], require_open_flow_run=True)
    again = store.create_task_run(run, history_before=[pending], acquire_slots=["db"], require_open_flow_run=True)
    assert again.id == first.id == run.id
    assert [s.type for s in store.read_state_history("task_run", run.id)] == [StateType.PENDING, StateType.RUNNING]
    assert store.read_concurrency_limits(["db"])["db"].active_slots == 1
    assert len(store.list_task_runs(flow_run.id)) == 1
