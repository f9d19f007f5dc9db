"""The orchestration service on a real SQLite file: read run → evaluate the policy → commit."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from mintaka.exceptions import ObjectNotFound
from mintaka.schemas import (
    ConcurrencyLimitCreate,
    EmpiricalPolicy,
    FlowCreate,
    FlowRunCreate,
    FlowRunFilter,
    LogCreate,
    SetStateRequest,
    SetStateStatus,
    TaskRunCreate,
)
from mintaka.states import ResultRef, State, StateDetails, StateType
from mintaka_server.orchestration.rules import SLOT_WAIT_SECONDS
from mintaka_server.services import OrchestrationService
from mintaka_server.storage import VersionConflict

ACCEPT, REJECT, WAIT, ABORT = (
    SetStateStatus.ACCEPT,
    SetStateStatus.REJECT,
    SetStateStatus.WAIT,
    SetStateStatus.ABORT,
)
REF = ResultRef(storage="file:///tmp/results", key="result-1")


class Clock:
    """A clock the test moves by hand; every call advances it a microsecond, like real time."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(microseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(sqlite_store, clock) -> OrchestrationService:
    return OrchestrationService(sqlite_store, clock=clock, rng=random.Random(0))


@pytest.fixture
def flow_run(service):
    return service.create_flow_run(FlowRunCreate(flow_name="etl"))


def task_run(service, flow_run, key="t", *, tags=(), retries=0, delays=(), dynamic_key="0"):
    return service.create_task_run(
        TaskRunCreate(
            flow_run_id=flow_run.id,
            task_key=key,
            dynamic_key=dynamic_key,
            tags=list(tags),
            empirical_policy=EmpiricalPolicy(retries=retries, retry_delay_seconds=list(delays)),
        )
    )


def propose(service, run, state_type: StateType, **state_fields):
    body = SetStateRequest(state=State(type=state_type, **state_fields))
    if hasattr(run, "task_key"):
        return service.set_task_run_state(run.id, body)
    return service.set_flow_run_state(run.id, body)


def history(service, run) -> list[str]:
    if hasattr(run, "task_key"):
        return [s.name for s in service.read_task_run_states(run.id)]
    return [s.name for s in service.read_flow_run_states(run.id)]


def active_slots(service, tag: str) -> int:
    return service.read_concurrency_limit(tag).active_slots


# -- lifecycles


def test_flow_run_lifecycle(service, flow_run):
    assert flow_run.state.type is StateType.PENDING
    assert propose(service, flow_run, StateType.RUNNING).status is ACCEPT
    answer = propose(service, flow_run, StateType.COMPLETED, data=REF)
    assert answer.status is ACCEPT and answer.state.data == REF
    detail = service.read_flow_run_detail(flow_run.id)
    assert [s.name for s in detail.states] == ["Pending", "Running", "Completed"]
    assert detail.run_count == 1 and detail.state_version == 2
    assert detail.start_time is not None and detail.end_time >= detail.start_time


def test_task_run_lifecycle_with_retries(service, flow_run, clock):
    run = task_run(service, flow_run, retries=1, delays=[5])
    assert propose(service, run, StateType.RUNNING).status is ACCEPT

    answer = propose(service, run, StateType.FAILED, message="boom")
    assert answer.status is ACCEPT
    assert (answer.state.type, answer.state.name) == (StateType.SCHEDULED, "AwaitingRetry")
    assert answer.details.delay_seconds == 5

    early = propose(service, run, StateType.RUNNING)
    assert early.status is WAIT
    assert 0 < early.details.delay_seconds <= 5
    assert early.state.name == "AwaitingRetry"

    clock.advance(5)
    retry = propose(service, run, StateType.RUNNING)
    assert (retry.status, retry.state.name) == (ACCEPT, "Retrying")
    assert propose(service, run, StateType.COMPLETED).status is ACCEPT

    assert history(service, run) == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]
    stored = service.read_task_run(run.id)
    assert stored.run_count == 2
    assert stored.state.type is StateType.COMPLETED
    assert stored.start_time < stored.end_time
    assert service.read_task_run_states(run.id)[2].message == "boom"


def test_retries_exhausted_ends_failed(service, flow_run):
    run = task_run(service, flow_run, retries=1)
    propose(service, run, StateType.RUNNING)
    propose(service, run, StateType.FAILED)
    propose(service, run, StateType.RUNNING)
    final = propose(service, run, StateType.FAILED, message="still broken")
    assert (final.status, final.state.type) == (ACCEPT, StateType.FAILED)
    assert history(service, run) == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Failed"]
    assert service.read_task_run(run.id).run_count == 2


def test_flow_run_retries_too(service):
    run = service.create_flow_run(FlowRunCreate(flow_name="etl", empirical_policy=EmpiricalPolicy(retries=1)))
    propose(service, run, StateType.RUNNING)
    assert propose(service, run, StateType.FAILED).state.name == "AwaitingRetry"
    assert propose(service, run, StateType.RUNNING).state.name == "Retrying"


@pytest.mark.parametrize("kind", ["flow_run", "task_run"])
def test_run_created_running_counts_as_an_attempt(service, flow_run, kind):
    """A REST client may create a run already RUNNING; with no retries left, a failure is final."""
    running = State(type=StateType.RUNNING)
    if kind == "flow_run":
        run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=running))
    else:
        run = service.create_task_run(TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=running))
    assert run.run_count == 1 and run.start_time is not None
    answer = propose(service, run, StateType.FAILED)
    assert answer.state.type is StateType.FAILED


# -- cache


def test_cache_hit_completes_as_cached(service, flow_run, clock):
    expiration = clock.now + dt.timedelta(minutes=10)
    first = task_run(service, flow_run, "t", dynamic_key="0")
    propose(service, first, StateType.RUNNING, state_details=StateDetails(cache_key="ck"))
    done = propose(
        service,
        first,
        StateType.COMPLETED,
        data=REF,
        state_details=StateDetails(cache_key="ck", cache_expiration=expiration),
    )
    assert done.status is ACCEPT

    second = task_run(service, flow_run, "t", dynamic_key="1")
    hit = propose(service, second, StateType.RUNNING, state_details=StateDetails(cache_key="ck"))
    assert hit.status is ACCEPT
    assert (hit.state.type, hit.state.name, hit.state.data) == (StateType.COMPLETED, "Cached", REF)
    assert history(service, second) == ["Pending", "Cached"]
    stored = service.read_task_run(second.id)
    assert stored.run_count == 0 and stored.end_time is not None

    clock.advance(601)
    third = task_run(service, flow_run, "t", dynamic_key="2")
    miss = propose(service, third, StateType.RUNNING, state_details=StateDetails(cache_key="ck"))
    assert (miss.status, miss.state.type) == (ACCEPT, StateType.RUNNING)


def test_completion_without_a_result_is_not_cached(service, flow_run):
    first = task_run(service, flow_run, "t", dynamic_key="0")
    propose(service, first, StateType.RUNNING)
    propose(service, first, StateType.COMPLETED, state_details=StateDetails(cache_key="ck"))
    second = task_run(service, flow_run, "t", dynamic_key="1")
    answer = propose(service, second, StateType.RUNNING, state_details=StateDetails(cache_key="ck"))
    assert answer.state.type is StateType.RUNNING


# -- concurrency limits


def test_concurrency_limit_one_with_two_task_runs(service, flow_run):
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))
    a = task_run(service, flow_run, "a", tags=["db"])
    b = task_run(service, flow_run, "b", tags=["db"])

    assert propose(service, a, StateType.RUNNING).status is ACCEPT
    assert active_slots(service, "db") == 1
    wait = propose(service, b, StateType.RUNNING)
    assert wait.status is WAIT
    assert wait.details.delay_seconds == SLOT_WAIT_SECONDS
    assert wait.state.type is StateType.PENDING
    assert history(service, b) == ["Pending"]  # a WAIT writes nothing

    assert propose(service, a, StateType.COMPLETED).status is ACCEPT
    assert active_slots(service, "db") == 0
    assert propose(service, b, StateType.RUNNING).status is ACCEPT
    assert active_slots(service, "db") == 1
    assert service.read_task_run(b.id).held_slots == ["db"]
    assert propose(service, b, StateType.FAILED).status is ACCEPT
    assert active_slots(service, "db") == 0
    assert service.read_task_run(b.id).held_slots == []


def test_concurrency_limit_zero_aborts(service, flow_run):
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="frozen", limit=0))
    answer = propose(service, task_run(service, flow_run, tags=["frozen"]), StateType.RUNNING)
    assert answer.status is ABORT


def test_slot_released_on_retry_and_retaken(service, flow_run):
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))
    run = task_run(service, flow_run, tags=["db"], retries=1)
    propose(service, run, StateType.RUNNING)
    assert propose(service, run, StateType.FAILED).state.name == "AwaitingRetry"
    assert active_slots(service, "db") == 0
    assert propose(service, run, StateType.RUNNING).state.name == "Retrying"
    assert active_slots(service, "db") == 1


def test_repeated_tag_takes_one_slot(service, flow_run):
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))
    run = task_run(service, flow_run, tags=["db", "db"])
    assert propose(service, run, StateType.RUNNING).status is ACCEPT
    assert active_slots(service, "db") == 1
    propose(service, run, StateType.COMPLETED)
    assert active_slots(service, "db") == 0


def test_slot_taken_between_read_and_write_answers_wait(service, sqlite_store, flow_run, monkeypatch):
    """The rules saw a free slot, but the store's atomic check finds none: WAIT, nothing written."""
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))
    holder = task_run(service, flow_run, "a", tags=["db"])
    propose(service, holder, StateType.RUNNING)
    stale = {"db": sqlite_store.read_concurrency_limits(["db"])["db"].model_copy(update={"active_slots": 0})}
    monkeypatch.setattr(sqlite_store, "read_concurrency_limits", lambda tags: stale)
    waiter = task_run(service, flow_run, "b", tags=["db"])
    answer = propose(service, waiter, StateType.RUNNING)
    assert answer.status is WAIT and answer.state.type is StateType.PENDING
    assert history(service, waiter) == ["Pending"]
    monkeypatch.undo()
    assert active_slots(service, "db") == 1


# -- flow and task interplay


@pytest.mark.parametrize("flow_final", [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED])
def test_task_cannot_start_in_a_finished_flow(service, flow_run, flow_final):
    propose(service, flow_run, StateType.RUNNING)
    propose(service, flow_run, flow_final)
    run = task_run(service, flow_run)  # a late client creates it after the flow run ended
    answer = propose(service, run, StateType.RUNNING)
    assert answer.status is ABORT
    assert history(service, run) == ["Pending"]


@pytest.mark.parametrize(
    ("flow_final", "task_end"),
    [(StateType.COMPLETED, "Crashed"), (StateType.FAILED, "Crashed"), (StateType.CANCELLED, "Cancelled")],
)
def test_a_flow_run_that_ends_ends_its_unfinished_task_runs(service, flow_run, flow_final, task_end):
    waiting, running, done = (task_run(service, flow_run, key=key) for key in ("waiting", "running", "done"))
    propose(service, flow_run, StateType.RUNNING)
    propose(service, running, StateType.RUNNING)
    propose(service, done, StateType.RUNNING)
    propose(service, done, StateType.COMPLETED)
    propose(service, flow_run, flow_final)
    assert history(service, waiting) == ["Pending", task_end]
    assert history(service, running) == ["Pending", "Running", task_end]
    assert history(service, done) == ["Pending", "Running", "Completed"]


def test_terminal_states_are_final(service, flow_run):
    propose(service, flow_run, StateType.RUNNING)
    propose(service, flow_run, StateType.COMPLETED)
    answer = propose(service, flow_run, StateType.RUNNING)
    assert answer.status is REJECT and answer.state.type is StateType.COMPLETED
    assert history(service, flow_run) == ["Pending", "Running", "Completed"]


def test_duplicate_proposal_is_idempotent(service, flow_run):
    body = SetStateRequest(state=State(type=StateType.RUNNING, state_details=StateDetails(idempotency_key="attempt-1")))
    first = service.set_flow_run_state(flow_run.id, body)
    again = service.set_flow_run_state(flow_run.id, body)
    assert first.status is again.status is ACCEPT
    assert again.state.id == first.state.id
    assert history(service, flow_run) == ["Pending", "Running"]
    assert service.read_flow_run(flow_run.id).run_count == 1


def test_force_skips_the_rules(service, flow_run):
    propose(service, flow_run, StateType.RUNNING)
    propose(service, flow_run, StateType.CANCELLED)
    body = SetStateRequest(state=State(type=StateType.SCHEDULED, name="Rerun"), force=True)
    answer = service.set_flow_run_state(flow_run.id, body)
    assert answer.status is ACCEPT
    assert service.read_flow_run(flow_run.id).state.name == "Rerun"


def test_losing_a_race_rereads_and_decides_again(service, sqlite_store, flow_run, monkeypatch):
    """Another writer moves the run between our read and our write: we lose, re-read, and are
    answered from the winner's state (REJECT: the run is already RUNNING)."""
    real_commit = sqlite_store.commit_transition
    calls = []

    def racing_commit(write):
        if not calls:
            run = sqlite_store.read_flow_run(write.run_id)
            real_commit(
                write.__class__(
                    kind="flow_run",
                    run=run,
                    state=State(type=StateType.RUNNING, message="winner"),
                    run_count=1,
                )
            )
        calls.append(write)
        return real_commit(write)

    monkeypatch.setattr(sqlite_store, "commit_transition", racing_commit)
    answer = propose(service, flow_run, StateType.RUNNING, message="loser")
    assert answer.status is REJECT
    assert answer.state.message == "winner"
    assert len(calls) == 1
    assert history(service, flow_run) == ["Pending", "Running"]


def test_a_run_that_never_stops_changing_is_answered_with_its_state(service, sqlite_store, flow_run, monkeypatch):
    def always_conflict(write):
        raise VersionConflict("busy")

    monkeypatch.setattr(sqlite_store, "commit_transition", always_conflict)
    answer = propose(service, flow_run, StateType.RUNNING)
    assert answer.status is REJECT and answer.state.type is StateType.PENDING
    assert answer.details.reason


# -- creation and reads


def test_flow_run_idempotency_key(service):
    a = service.create_flow_run(FlowRunCreate(flow_name="etl", idempotency_key="dep@t1"))
    b = service.create_flow_run(FlowRunCreate(flow_name="etl", idempotency_key="dep@t1"))
    assert a.id == b.id
    assert len(service.list_flow_runs(FlowRunFilter()).items) == 1


def test_task_run_creation_is_idempotent(service, flow_run):
    assert task_run(service, flow_run, "t").id == task_run(service, flow_run, "t").id


def test_flows_logs_and_detail(service, flow_run):
    assert service.create_flow(FlowCreate(name="etl")).id == flow_run.flow_id
    assert [f.name for f in service.list_flows()] == ["etl"]
    run = task_run(service, flow_run)
    service.create_logs([LogCreate(flow_run_id=flow_run.id, task_run_id=run.id, message="hi")])
    assert [log.message for log in service.read_logs(flow_run.id)] == ["hi"]
    detail = service.read_flow_run_detail(flow_run.id)
    assert [t.id for t in detail.task_runs] == [run.id]


def test_concurrency_limit_crud(service):
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=3))
    assert service.read_concurrency_limit("db").limit == 3
    assert [lim.tag for lim in service.list_concurrency_limits()] == ["db"]
    service.delete_concurrency_limit("db")
    assert service.list_concurrency_limits() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s, i: s.read_flow_run(i),
        lambda s, i: s.read_flow_run_detail(i),
        lambda s, i: s.read_flow_run_states(i),
        lambda s, i: s.read_task_run(i),
        lambda s, i: s.read_task_run_states(i),
        lambda s, i: s.read_logs(i),
        lambda s, i: s.set_flow_run_state(i, SetStateRequest(state=State(type=StateType.RUNNING))),
        lambda s, i: s.set_task_run_state(i, SetStateRequest(state=State(type=StateType.RUNNING))),
        lambda s, i: s.create_task_run(TaskRunCreate(flow_run_id=i, task_key="t")),
        lambda s, i: s.read_concurrency_limit("no-such-tag"),
        lambda s, i: s.delete_concurrency_limit("no-such-tag"),
    ],
)
def test_unknown_ids_raise_object_not_found(service, call):
    with pytest.raises(ObjectNotFound):
        call(service, uuid.uuid4())


# -- one clock: everything the service stamps comes from its injected clock


def test_every_state_and_time_comes_from_the_service_clock(sqlite_store):
    """A clock in 2031, far from the wall clock: proposals, rule-made states (AwaitingRetry,
    Retrying, Cached, Cancelled) and run times all carry its readings."""
    from mintaka_server.services.deployments import DeploymentService

    clock = Clock()
    clock.now = start = dt.datetime(2031, 7, 4, 9, 30, tzinfo=dt.UTC)
    service = OrchestrationService(sqlite_store, clock=clock, rng=random.Random(0))
    assert DeploymentService(service).clock is clock  # one clock for the services built on it

    flow_run = service.create_flow_run(FlowRunCreate(flow_name="etl", state=State(type=StateType.RUNNING)))
    ck = StateDetails(cache_key="ck")
    running = State(type=StateType.RUNNING, state_details=ck)
    retried = service.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=running, empirical_policy=EmpiricalPolicy(retries=1))
    )
    assert propose(service, retried, StateType.FAILED).state.name == "AwaitingRetry"
    clock.advance(1)
    assert propose(service, retried, StateType.RUNNING, state_details=ck).state.name == "Retrying"
    propose(service, retried, StateType.COMPLETED, data=REF, state_details=ck)
    cached = service.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="t", dynamic_key="1", state=running)
    )
    assert cached.state.name == "Cached"
    assert propose(service, flow_run, StateType.CANCELLING).state.type is StateType.CANCELLING
    assert propose(service, flow_run, StateType.CRASHED).state.type is StateType.CANCELLED

    runs = [service.read_flow_run(flow_run.id), service.read_task_run(retried.id), service.read_task_run(cached.id)]
    states = [s for r in runs for s in service.store.read_state_history(_kind(r), r.id)]
    assert len(states) == 3 + 7 + 2
    times = [s.timestamp for s in states] + [t for r in runs for t in (r.created, r.start_time, r.end_time) if t]
    assert all(start < t <= clock.now for t in times), sorted(times)


def _kind(run) -> str:
    return "task_run" if hasattr(run, "task_key") else "flow_run"


# -- fewer reads on the hot path


class CountingStore:
    """The store, with every call counted by method name."""

    def __init__(self, store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def counted(sqlite_store, clock):
    store = CountingStore(sqlite_store)
    return OrchestrationService(store, clock=clock, rng=random.Random(0)), store


@pytest.mark.parametrize("state", [None, StateType.RUNNING])
def test_creating_a_task_run_reads_nothing_first(counted, state):
    service, store = counted
    flow_run = service.create_flow_run(FlowRunCreate(flow_name="etl"))
    store.calls.clear()
    body = TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=State(type=state) if state else None)
    assert service.create_task_run(body).state.type is (state or StateType.PENDING)
    assert store.calls == ["create_task_run"]


@pytest.mark.parametrize("closed", [StateType.COMPLETED, StateType.CANCELLED, StateType.CANCELLING])
def test_a_task_created_running_in_a_closed_flow_run_is_created_pending(service, flow_run, closed):
    """The store refuses the RUNNING write; the run exists PENDING and its proposal is aborted,
    as when the service read the flow run first."""
    propose(service, flow_run, StateType.RUNNING)
    propose(service, flow_run, closed)
    body = TaskRunCreate(flow_run_id=flow_run.id, task_key="t", tags=["db"], state=State(type=StateType.RUNNING))
    service.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))
    run = service.create_task_run(body)
    assert (run.state.type, run.run_count, run.start_time) == (StateType.PENDING, 0, None)
    assert history(service, run) == ["Pending"] and active_slots(service, "db") == 0
    assert propose(service, run, StateType.RUNNING).status is ABORT


@pytest.mark.parametrize("state", [None, StateType.RUNNING])
def test_a_task_run_in_an_unknown_flow_run_is_not_found_and_not_written(service, state):
    unknown, run_id = uuid.uuid4(), uuid.uuid4()
    body = TaskRunCreate(id=run_id, flow_run_id=unknown, task_key="t", state=State(type=state) if state else None)
    with pytest.raises(ObjectNotFound, match=str(unknown)):
        service.create_task_run(body)
    assert service.store.read_task_run(run_id) is None
    assert service.store.list_task_runs(unknown) == []


def test_history_and_logs_are_one_read_unless_empty(counted):
    service, store = counted
    flow_run = service.create_flow_run(FlowRunCreate(flow_name="etl"))
    run = task_run(service, flow_run)
    service.create_logs([LogCreate(flow_run_id=flow_run.id, message="hi")])
    store.calls.clear()
    assert len(service.read_flow_run_states(flow_run.id)) == 1
    assert len(service.read_task_run_states(run.id)) == 1
    assert len(service.read_logs(flow_run.id)) == 1
    assert store.calls == ["read_state_history", "read_state_history", "read_logs"]

    store.calls.clear()
    assert service.read_logs(flow_run.id, min_level=40) == []  # known run, nothing that loud
    assert store.calls == ["read_logs", "read_flow_run"]


def test_logs_by_level_newest_first(service, flow_run, clock):
    base = clock.now
    service.create_logs(
        [
            LogCreate(flow_run_id=flow_run.id, message=f"{level}-{i}", level=level, timestamp=base + dt.timedelta(i))
            for i, level in enumerate([10, 20, 30, 40, 20, 40])
        ]
    )
    messages = lambda **kw: [log.message for log in service.read_logs(flow_run.id, **kw)]  # noqa: E731
    assert messages(min_level=30) == ["30-2", "40-3", "40-5"]
    assert messages(newest_first=True, limit=2) == ["40-5", "20-4"]
    assert messages(min_level=40, newest_first=True, limit=1, offset=1) == ["40-3"]


def test_default_run_names_are_nearly_all_distinct(service):
    from mintaka_server.services.orchestration import _run_name

    names = [_run_name() for _ in range(1000)]
    assert len(set(names)) >= 990  # ~370,000 two-word names: about one pair in 1,000 collides
    assert all(name.count("-") >= 1 and name == name.lower() for name in names)
    assert service.create_flow_run(FlowRunCreate(flow_name="etl")).name.count("-") >= 1


def test_the_next_proposal_for_a_run_this_service_wrote_reads_nothing(counted):
    service, store = counted
    flow_run = service.create_flow_run(FlowRunCreate(flow_name="etl"))
    body = TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=State(type=StateType.RUNNING))
    run = service.create_task_run(body)
    store.calls.clear()
    assert propose(service, run, StateType.COMPLETED).status is ACCEPT
    assert store.calls == ["commit_transition"]
    assert [s.name for s in service.read_task_run_states(run.id)] == ["Pending", "Running", "Completed"]


def test_a_run_another_writer_moved_is_answered_from_its_stored_state(sqlite_store, clock):
    """The run this service remembers writing is only a guess: another writer (here a second
    service on the same file, as another process would be) moved it since. Both ways round, the
    answer is the one the stored state gets."""
    mine = OrchestrationService(sqlite_store, clock=clock, rng=random.Random(0))
    other = OrchestrationService(sqlite_store, clock=clock, rng=random.Random(1))
    flow_run = mine.create_flow_run(FlowRunCreate(flow_name="etl"))
    propose(mine, flow_run, StateType.RUNNING)
    run = mine.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="t", state=State(type=StateType.RUNNING))
    )

    # Remembered RUNNING, stored COMPLETED: a late FAILED is refused, not committed over it.
    forced = SetStateRequest(state=State(type=StateType.COMPLETED, data=REF), force=True)
    assert other.set_task_run_state(run.id, forced).status is ACCEPT
    answer = propose(mine, run, StateType.FAILED)
    assert answer.status is REJECT and answer.state.type is StateType.COMPLETED

    # Remembered COMPLETED (its own last write), stored RUNNING again: FAILED is accepted.
    second = mine.create_task_run(
        TaskRunCreate(flow_run_id=flow_run.id, task_key="u", state=State(type=StateType.RUNNING))
    )
    assert propose(mine, second, StateType.COMPLETED, data=REF).status is ACCEPT
    reopened = SetStateRequest(state=State(type=StateType.RUNNING), force=True)
    assert other.set_task_run_state(second.id, reopened).status is ACCEPT
    answer = propose(mine, second, StateType.FAILED)
    assert answer.status is ACCEPT and answer.state.type is StateType.FAILED
    assert sqlite_store.read_task_run(second.id).state.type is StateType.FAILED
