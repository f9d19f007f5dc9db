"""The store contract, continued: checks made inside writes instead of reads before them, and
the log reads the CLI's `--tail` and `--level` need (newest first, minimum level)."""

from __future__ import annotations

import uuid

import pytest

from mintaka.exceptions import ObjectNotFound
from mintaka.schemas import FlowRun, LogCreate, TaskRun
from mintaka.states import State, StateType
from mintaka_server.storage import FlowRunClosed, SlotsUnavailable

CLOSED = [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED, StateType.CANCELLING]
OPEN = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]


def started_task_run(flow_run_id: uuid.UUID | None, at, key: str = "t", tags: list[str] | None = None) -> TaskRun:
    """A task run as the service creates it straight into RUNNING."""
    return TaskRun(
        id=uuid.uuid4(),
        flow_run_id=flow_run_id,
        task_key=key,
        dynamic_key="0",
        name=key,
        tags=tags or [],
        state=State(type=StateType.RUNNING, timestamp=at(1)),
        state_version=1,
        run_count=1,
        start_time=at(1),
        created=at(1),
    )


def create_started(store, run: TaskRun, at, acquire: tuple[str, ...] = ()) -> TaskRun:
    pending = State(type=StateType.PENDING, timestamp=at(1))
    return store.create_task_run(run, history_before=[pending], acquire_slots=acquire, require_open_flow_run=True)


def flow_run_in(store, new_flow_run, transition, state_type: StateType):
    run = new_flow_run()
    if state_type is not StateType.PENDING:
        store.commit_transition(transition(run, State(type=state_type)))
    return store.read_flow_run(run.id)


def written(store, run: TaskRun) -> bool:
    return store.read_task_run(run.id) is not None or bool(store.read_state_history("task_run", run.id))


class TestTaskRunsCheckTheirFlowRunInTheWrite:
    @pytest.mark.parametrize("require_open", [False, True])
    def test_unknown_flow_run_is_not_found_and_nothing_is_written(self, store, at, require_open):
        unknown = uuid.uuid4()
        run = started_task_run(unknown, at)
        with pytest.raises(ObjectNotFound, match=str(unknown)):
            store.create_task_run(run, require_open_flow_run=require_open)
        assert not written(store, run)
        assert store.list_task_runs(unknown) == []

    @pytest.mark.parametrize("closed", CLOSED)
    def test_closed_flow_run_refuses_a_started_task_and_takes_no_slot(
        self, store, new_flow_run, transition, at, closed
    ):
        store.upsert_concurrency_limit("db", 1)
        flow_run = flow_run_in(store, new_flow_run, transition, closed)
        run = started_task_run(flow_run.id, at, tags=["db"])
        with pytest.raises(FlowRunClosed) as refused:
            create_started(store, run, at, acquire=("db",))
        assert refused.value.state_type is closed and str(flow_run.id) in str(refused.value)
        assert not written(store, run)
        assert store.read_concurrency_limits(["db"])["db"].active_slots == 0
        # The same run may still be created PENDING: its RUNNING proposal is then the rules' to refuse.
        pending = run.model_copy(update={"state": State(type=StateType.PENDING, timestamp=at(1)), "state_version": 0})
        assert store.create_task_run(pending) == pending

    @pytest.mark.parametrize("open_state", OPEN)
    def test_open_flow_run_takes_a_started_task(self, store, new_flow_run, transition, at, open_state):
        flow_run = flow_run_in(store, new_flow_run, transition, open_state)
        run = create_started(store, started_task_run(flow_run.id, at), at)
        assert store.read_task_run(run.id) == run
        assert [s.type for s in store.read_state_history("task_run", run.id)] == [StateType.PENDING, StateType.RUNNING]

    def test_a_flow_run_with_no_state_yet_is_open(self, store, at):
        flow = store.ensure_flow("etl")
        flow_run = store.create_flow_run(
            FlowRun(id=uuid.uuid4(), flow_id=flow.id, flow_name="etl", name="n", created=at(0))
        )
        assert flow_run.state is None
        run = create_started(store, started_task_run(flow_run.id, at), at)
        assert store.read_task_run(run.id) == run

    def test_an_existing_task_run_is_returned_even_once_its_flow_run_closed(self, store, new_flow_run, transition, at):
        flow_run = new_flow_run()
        first = create_started(store, started_task_run(flow_run.id, at), at)
        store.commit_transition(transition(flow_run, State(type=StateType.COMPLETED)))
        again = create_started(store, started_task_run(flow_run.id, at), at)  # a client's retry
        assert again == first

    def test_full_slots_still_refuse_in_an_open_flow_run(self, store, new_flow_run, at):
        store.upsert_concurrency_limit("db", 0)
        run = started_task_run(new_flow_run().id, at, tags=["db"])
        with pytest.raises(SlotsUnavailable):
            create_started(store, run, at, acquire=("db",))
        assert not written(store, run)

    def test_a_task_run_outside_flow_runs_needs_no_flow_run(self, store, at):
        run = create_started(store, started_task_run(None, at), at)
        assert store.read_task_run(run.id) == run


def ended_task_run(flow_run_id: uuid.UUID | None, at, key: str) -> TaskRun:
    return started_task_run(flow_run_id, at, key).model_copy(
        update={"state": State(type=StateType.COMPLETED, timestamp=at(2)), "state_version": 2, "end_time": at(2)}
    )


class TestEndedTaskRunsRecordedWhole:
    """`record_ended_task_run`: a store may commit these in groups; its own reads see them at once."""

    def test_every_read_of_the_store_sees_them(self, store, new_flow_run, at):
        flow_run = new_flow_run(state=State(type=StateType.RUNNING))
        assert store.read_flow_run_state_type(flow_run.id) is StateType.RUNNING
        history = [State(type=StateType.PENDING, timestamp=at(1)), State(type=StateType.RUNNING, timestamp=at(1))]
        runs = [ended_task_run(flow_run.id, at, f"t{i}") for i in range(3)]
        for run in runs:
            store.record_ended_task_run(run, history)
        assert store.read_task_run(runs[0].id) == runs[0]
        assert [r.id for r in store.list_task_runs(flow_run.id)] == [r.id for r in runs]
        states = store.read_state_history("task_run", runs[2].id)
        assert [s.type for s in states] == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]

    def test_a_flow_run_the_store_has_not_seen_is_checked_in_the_write(self, store, at):
        unknown = uuid.uuid4()
        run = ended_task_run(unknown, at, "t")
        with pytest.raises(ObjectNotFound, match=str(unknown)):
            store.record_ended_task_run(run)
        assert not written(store, run)

    def test_recorded_twice_is_written_once(self, store, new_flow_run, at):
        flow_run = new_flow_run(state=State(type=StateType.RUNNING))
        store.read_flow_run_state_type(flow_run.id)
        run = ended_task_run(flow_run.id, at, "t")
        store.record_ended_task_run(run)
        store.record_ended_task_run(run)
        assert store.list_task_runs(flow_run.id) == [run]


# -- logs: minimum level, newest first


LEVELS = [10, 20, 30, 40, 50, 20, 40, 10]


@pytest.fixture
def logged_run(store, new_flow_run, at):
    """A flow run with one line per level in LEVELS, a second apart, plus another run's lines."""
    run, other = new_flow_run(), new_flow_run()
    store.write_logs(
        [
            LogCreate(flow_run_id=run.id, message=f"{i}:{level}", level=level, timestamp=at(i))
            for i, level in enumerate(LEVELS)
        ]
        + [LogCreate(flow_run_id=other.id, message="other", level=50, timestamp=at(3))]
    )
    return run


def messages(store, run, **options) -> list[str]:
    return [log.message for log in store.read_logs(run.id, **options)]


class TestLogReads:
    def test_newest_first(self, store, logged_run):
        assert messages(store, logged_run, newest_first=True) == [
            f"{i}:{lv}" for i, lv in reversed(list(enumerate(LEVELS)))
        ]

    def test_a_tail_is_the_newest_lines(self, store, logged_run):
        assert messages(store, logged_run, newest_first=True, limit=3) == ["7:10", "6:40", "5:20"]
        assert messages(store, logged_run, newest_first=True, limit=3, offset=3) == ["4:50", "3:40", "2:30"]

    @pytest.mark.parametrize("min_level", [0, 10, 11, 20, 30, 40, 50, 51])
    def test_minimum_level_both_ways(self, store, logged_run, min_level):
        wanted = [f"{i}:{lv}" for i, lv in enumerate(LEVELS) if lv >= min_level]
        assert messages(store, logged_run, min_level=min_level) == wanted
        assert messages(store, logged_run, min_level=min_level, newest_first=True) == wanted[::-1]

    def test_limit_and_offset_count_matching_lines(self, store, logged_run):
        assert messages(store, logged_run, min_level=40, limit=2) == ["3:40", "4:50"]
        assert messages(store, logged_run, min_level=40, limit=2, offset=2) == ["6:40"]
        assert messages(store, logged_run, min_level=40, newest_first=True, limit=1, offset=1) == ["4:50"]
        assert messages(store, logged_run, min_level=40, offset=9) == []

    def test_equal_timestamps_reverse_in_write_order(self, store, new_flow_run, at):
        run = new_flow_run()
        store.write_logs([LogCreate(flow_run_id=run.id, message=str(i), timestamp=at(0)) for i in range(5)])
        assert messages(store, run, newest_first=True) == ["4", "3", "2", "1", "0"]

    def test_a_filtered_read_finds_sparse_lines_among_many(self, store, new_flow_run, at):
        run = new_flow_run()
        noise = [LogCreate(flow_run_id=run.id, message="debug", level=10, timestamp=at(i)) for i in range(120)]
        store.write_logs([*noise, LogCreate(flow_run_id=run.id, message="boom", level=40, timestamp=at(60.5))])
        assert messages(store, run, min_level=40, limit=1) == ["boom"]
        assert messages(store, run, min_level=40, newest_first=True, limit=5) == ["boom"]

    def test_unknown_run_has_no_lines(self, store):
        assert store.read_logs(uuid.uuid4(), min_level=40, newest_first=True) == []


def test_default_arguments_keep_time_order(store, logged_run):
    assert messages(store, logged_run) == [f"{i}:{lv}" for i, lv in enumerate(LEVELS)]
