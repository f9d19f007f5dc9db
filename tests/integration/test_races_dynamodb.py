"""Races on one DynamoDB table through the real service, over HTTP: exactly one winner per
transition, no lost update, concurrency slots that never overfill, and idempotent creates that
make one run however many clients race.

Each race runs on two engines: `dynamodb` (moto's server, or `AWS_ENDPOINT_URL`) and
`dynamodb-local` (AWS's DynamoDB Local). Only the second judges isolation: moto runs concurrent
transactions without a lock, and tests/conftest.py serializes its requests to keep it sane. The
repeated races (20 racers, 50 rounds) run on DynamoDB Local alone.

Every racer has its own store, i.e. its own botocore client, as separate Lambda containers do.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from support.dynamodb_tables import TablePool
from support.races import SlotOccupancy, race_rounds

from mintaka.schemas import (
    ConcurrencyLimitCreate,
    FlowRunCreate,
    FlowRunFilter,
    SetStateRequest,
    SetStateStatus,
    TaskRunCreate,
)
from mintaka.states import State, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.dynamodb import DynamoDBStore

pytestmark = pytest.mark.slow

ACCEPT, REJECT, WAIT = SetStateStatus.ACCEPT, SetStateStatus.REJECT, SetStateStatus.WAIT
N_THREADS = 20
ROUNDS = 50  # of the repeated races on DynamoDB Local
ROUND_RACE_TIMEOUT = 400  # seconds; ~20 s each on an idle 2-core machine

ENGINES = [
    pytest.param("dynamodb", id="dynamodb"),
    pytest.param("dynamodb-local", id="dynamodb-local", marks=pytest.mark.dynamodb_local),
]


def _connect(tables: TablePool):
    """`connect()`: a service on a new store (new client) over one empty table of `tables`."""
    stores: list[DynamoDBStore] = []

    def make() -> OrchestrationService:
        store = DynamoDBStore(table.name, endpoint_url=tables.endpoint)
        stores.append(store)
        return OrchestrationService(store)

    with tables.table() as table:
        yield make
        for store in stores:
            store.close()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def connect(request, engine):
    """`connect()`: a service with its own client over one fresh table, on each engine."""
    yield from _connect(request.getfixturevalue(f"{engine.replace('-', '_')}_tables"))


@pytest.fixture
def connect_local(dynamodb_local_tables):
    """`connect()` on DynamoDB Local only: for the races whose outcome only a real engine decides."""
    yield from _connect(dynamodb_local_tables)


def run_threads(target, n_threads: int = N_THREADS, timeout: float = 120.0) -> None:
    """Run `target(index)` in n threads; re-raise the first error any of them hit."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    assert not errors, errors


def test_threads_racing_transitions_have_one_winner_and_lose_nothing(connect):
    setup = connect()
    runs = [setup.create_flow_run(FlowRunCreate(flow_name="race")) for _ in range(6)]
    steps = [StateType.RUNNING, StateType.COMPLETED]
    services = [connect() for _ in range(N_THREADS)]
    barrier = threading.Barrier(N_THREADS)
    answers: list[tuple[int, uuid.UUID, int, SetStateStatus, uuid.UUID]] = []
    lock = threading.Lock()

    def racer(index: int) -> None:
        try:
            for step, state_type in enumerate(steps):
                barrier.wait(timeout=60)  # every racer finishes a step before the next one starts
                for run in runs[index % len(runs) :] + runs[: index % len(runs)]:
                    proposed = State(type=state_type, message=f"thread-{index}")
                    answer = services[index].set_flow_run_state(run.id, SetStateRequest(state=proposed))
                    with lock:
                        answers.append((step, run.id, index, answer.status, answer.state.id))
        except BaseException:
            barrier.abort()
            raise

    run_threads(racer)
    assert len(answers) == N_THREADS * len(runs) * len(steps)

    for run in runs:
        states = setup.read_flow_run_states(run.id)
        assert [s.type for s in states] == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
        stored = setup.read_flow_run(run.id)
        assert stored.state_version == 2 and stored.run_count == 1
        assert stored.state.id == states[-1].id
        for step in range(len(steps)):
            mine = [a for a in answers if a[0] == step and a[1] == run.id]
            winners = [a for a in mine if a[3] is ACCEPT]
            assert len(winners) == 1, f"step {step}: {len(winners)} winners"
            assert all(a[3] is REJECT for a in mine if a not in winners)
            # No lost update: the winner's state is the one in history, and every loser was
            # answered with that same state.
            assert winners[0][4] == states[step + 1].id
            assert {a[4] for a in mine} == {states[step + 1].id}


def test_concurrency_limit_two_holds_under_a_thread_race(connect, engine):
    setup = connect()
    setup.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=2))
    flow_run = setup.create_flow_run(FlowRunCreate(flow_name="limited"))
    setup.set_flow_run_state(flow_run.id, SetStateRequest(state=State(type=StateType.RUNNING)))
    task_runs = [
        setup.create_task_run(TaskRunCreate(flow_run_id=flow_run.id, task_key="t", dynamic_key=str(i), tags=["db"]))
        for i in range(N_THREADS)
    ]
    services = [connect() for _ in range(N_THREADS)]
    occupancy = SlotOccupancy()
    stop = threading.Event()
    # A Query is one atomic snapshot of the partition on moto's server (serialized) only.
    count_running = engine == "dynamodb" and not os.environ.get("AWS_ENDPOINT_URL")

    def worker(index: int) -> None:
        occupancy.run_through_slot(services[index], task_runs[index].id, hold=0.02, retry_sleep=0.01)

    def monitor() -> None:
        store = connect().store
        while not stop.is_set():
            counter = store.read_concurrency_limits(["db"])["db"].active_slots
            running = 0
            if count_running:
                running = sum(r.state.type is StateType.RUNNING for r in store.list_task_runs(flow_run.id))
            occupancy.sample(counter, running)
            time.sleep(0.005)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    try:
        run_threads(worker)
    finally:
        stop.set()
        watcher.join(30)

    occupancy.assert_limit_held(setup, task_runs, tag="db", limit=2)


def test_racing_creates_with_one_idempotency_key_make_one_run(connect):
    services = [connect() for _ in range(N_THREADS)]
    flow_runs: list = [None] * N_THREADS
    task_runs: list = [None] * N_THREADS
    parent = services[0].create_flow_run(FlowRunCreate(flow_name="parent"))
    barrier = threading.Barrier(N_THREADS)

    def creator(index: int) -> None:
        barrier.wait(timeout=60)
        body = FlowRunCreate(flow_name="once", idempotency_key="deploy@2024-05-01T00:00")
        flow_runs[index] = services[index].create_flow_run(body)
        started = State(type=StateType.RUNNING)
        task = TaskRunCreate(flow_run_id=parent.id, task_key="extract", dynamic_key="0", state=started)
        task_runs[index] = services[index].create_task_run(task)

    run_threads(creator)
    assert len({run.id for run in flow_runs}) == 1
    assert len({run.id for run in task_runs}) == 1
    reader = services[0]
    assert [r.id for r in reader.list_flow_runs(FlowRunFilter(flow_name="once")).items] == [flow_runs[0].id]
    assert len(reader.read_flow_run_states(flow_runs[0].id)) == 1
    assert Counter(s.type for s in reader.read_task_run_states(task_runs[0].id)) == {
        StateType.PENDING: 1,
        StateType.RUNNING: 1,
    }
    assert [t.id for t in reader.store.list_task_runs(parent.id)] == [task_runs[0].id]


# -- the same races, 20 racers at a time, 50 rounds, on the real engine


def rounds_without_one_winner(results, is_winner) -> list[int]:
    return [i for i, (_, answers) in enumerate(results) if sum(map(is_winner, answers)) != 1]


@pytest.mark.dynamodb_local
@pytest.mark.timeout(ROUND_RACE_TIMEOUT)
def test_racers_proposing_for_one_state_version_have_one_winner_every_round(connect_local):
    setup = connect_local()
    services = [connect_local() for _ in range(N_THREADS)]

    def prepare(round_: int):
        return setup.create_flow_run(FlowRunCreate(flow_name="race", name=f"round-{round_}"))

    def racer(index: int, run):
        proposed = State(type=StateType.RUNNING, message=f"racer-{index}")
        answer = services[index].set_flow_run_state(run.id, SetStateRequest(state=proposed))
        return answer.status, answer.state.id

    results = race_rounds(N_THREADS, ROUNDS, prepare, racer)

    assert rounds_without_one_winner(results, lambda a: a[0] is ACCEPT) == []
    for run, answers in results:
        assert {status for status, _ in answers} == {ACCEPT, REJECT}
        states = setup.read_flow_run_states(run.id)
        assert [s.type for s in states] == [StateType.PENDING, StateType.RUNNING]
        assert {state_id for _, state_id in answers} == {states[-1].id}  # losers see the winner's
        assert setup.read_flow_run(run.id).state_version == 1


@pytest.mark.dynamodb_local
@pytest.mark.timeout(ROUND_RACE_TIMEOUT)
def test_racers_for_the_last_concurrency_slot_have_one_winner_every_round(connect_local):
    setup = connect_local()
    services = [connect_local() for _ in range(N_THREADS)]

    def prepare(round_: int):
        tag = f"slot-{round_}"
        setup.set_concurrency_limit(ConcurrencyLimitCreate(tag=tag, limit=1))
        flow_run = setup.create_flow_run(FlowRunCreate(flow_name="limited"))
        setup.set_flow_run_state(flow_run.id, SetStateRequest(state=State(type=StateType.RUNNING)))
        return tag, flow_run, threading.Barrier(N_THREADS)

    def racer(index: int, prepared):
        tag, flow_run, start = prepared
        # Each racer makes its own PENDING task run (in parallel: quicker than in prepare), then
        # all propose RUNNING at once.
        task = TaskRunCreate(flow_run_id=flow_run.id, task_key="t", dynamic_key=str(index), tags=[tag])
        task_run = services[index].create_task_run(task)
        start.wait(timeout=120)
        running = SetStateRequest(state=State(type=StateType.RUNNING))
        return services[index].set_task_run_state(task_run.id, running).status

    results = race_rounds(N_THREADS, ROUNDS, prepare, racer)

    assert rounds_without_one_winner(results, lambda status: status is ACCEPT) == []
    for (tag, flow_run, _), answers in results:
        assert Counter(answers) == {ACCEPT: 1, WAIT: N_THREADS - 1}
        assert setup.read_concurrency_limit(tag).active_slots == 1
        running = [r for r in setup.store.list_task_runs(flow_run.id) if r.state.type is StateType.RUNNING]
        assert len(running) == 1 and running[0].held_slots == [tag]


@pytest.mark.dynamodb_local
@pytest.mark.timeout(ROUND_RACE_TIMEOUT)
def test_racers_creating_with_one_idempotency_key_have_one_winner_every_round(connect_local):
    setup = connect_local()
    services = [connect_local() for _ in range(N_THREADS)]
    parent = setup.create_flow_run(FlowRunCreate(flow_name="parent"))

    def prepare(round_: int):
        return round_, [uuid.uuid4() for _ in range(N_THREADS)]  # each racer's own task run id

    def racer(index: int, prepared):
        round_, task_ids = prepared
        body = FlowRunCreate(flow_name="once", idempotency_key=f"deploy@round-{round_}")
        flow_run, created = services[index].create_flow_run_once(body)
        task = TaskRunCreate(id=task_ids[index], flow_run_id=parent.id, task_key="extract", dynamic_key=str(round_))
        task_run = services[index].create_task_run(task)
        return created, flow_run.id, task_run.id == task_ids[index], task_run.id

    results = race_rounds(N_THREADS, ROUNDS, prepare, racer)

    assert rounds_without_one_winner(results, lambda a: a[0]) == []  # one flow run created...
    assert rounds_without_one_winner(results, lambda a: a[2]) == []  # ...and one task run
    for _, answers in results:
        assert len({a[1] for a in answers}) == 1 and len({a[3] for a in answers}) == 1
    flow_runs = setup.list_flow_runs(FlowRunFilter(flow_name="once", limit=500)).items
    assert sorted(r.id for r in flow_runs) == sorted(answers[0][1] for _, answers in results)
    task_runs = setup.store.list_task_runs(parent.id)
    assert sorted(t.id for t in task_runs) == sorted(answers[0][3] for _, answers in results)


# -- races the emulator cannot stage: DynamoDB's answers injected on the store's own client


@pytest.fixture
def store(dynamodb_tables) -> Iterator[DynamoDBStore]:
    """On moto (or `AWS_ENDPOINT_URL`) alone: the answers are injected, whatever the engine."""
    connections = _connect(dynamodb_tables)
    yield next(connections)().store
    next(connections, None)  # gives the table back


def inject(store: DynamoDBStore, api: str, answers: list[dict]) -> list[dict]:
    """The next requests to `api` get these error answers, in order, instead of DynamoDB's."""

    def answer(model, **_):
        if model.name == api and answers:
            error = answers.pop(0)
            return FakeHttp(400), {"ResponseMetadata": {"HTTPStatusCode": 400}, **error}
        return None

    store.client.meta.events.register_first(f"before-call.dynamodb.{api}", answer)
    return answers


class FakeHttp:
    def __init__(self, status_code: int):
        self.status_code = status_code
        self.headers: dict = {}


def cancelled(*codes: str) -> dict:
    reasons = [{"Code": code, "Message": code} for code in codes]
    return {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": reasons,
    }


def error(code: str) -> dict:
    return {"Error": {"Code": code, "Message": code}}


def test_transaction_conflicts_are_retried_and_write_once(store):
    service = OrchestrationService(store)
    run = service.create_flow_run(FlowRunCreate(flow_name="busy"))
    # The run item (an Update, sent last) and its history (a Put) collide with another transaction.
    pending = inject(store, "TransactWriteItems", [cancelled("None", "TransactionConflict")] * 2)
    answer = service.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.RUNNING)))
    assert answer.status is ACCEPT and pending == []
    assert [s.type for s in service.read_flow_run_states(run.id)] == [StateType.PENDING, StateType.RUNNING]
    assert service.read_flow_run(run.id).state_version == 1


def test_a_run_kept_busy_is_a_version_conflict_not_an_error(store):
    from mintaka_server.storage import TransitionWrite, VersionConflict

    service = OrchestrationService(store)
    run = service.create_flow_run(FlowRunCreate(flow_name="busy"))
    inject(store, "TransactWriteItems", [cancelled("None", "TransactionConflict")] * 50)
    with pytest.raises(VersionConflict):
        store.commit_transition(TransitionWrite(kind="flow_run", run=run, state=State(type=StateType.RUNNING)))
    assert store.read_flow_run(run.id) == run


def test_throttled_reads_are_retried(store):
    service = OrchestrationService(store)
    run = service.create_flow_run(FlowRunCreate(flow_name="hot"))
    throttled = [error("ProvisionedThroughputExceededException"), error("ThrottlingException")]
    pending = inject(store, "GetItem", throttled)
    assert store.read_flow_run(run.id) == run and pending == []


def test_other_vendor_errors_become_mintaka_errors_raised_from_them(store):
    import botocore.exceptions
    import pynamodb.exceptions

    from mintaka.exceptions import MintakaError

    inject(store, "GetItem", [error("AccessDeniedException")])
    with pytest.raises(MintakaError) as raised:
        store.read_setting("result-storage")
    assert not isinstance(raised.value, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError)
    assert isinstance(raised.value.__cause__, pynamodb.exceptions.PynamoDBException)
    assert "AccessDeniedException" in str(raised.value)


def test_contention_outlasting_the_retries_is_a_503_to_retry_not_a_400(store):
    from fastapi.testclient import TestClient
    from support.servers import LOCAL

    from mintaka_server.api.app import create_app

    service = OrchestrationService(store)
    run = service.create_flow_run(FlowRunCreate(flow_name="contended"))
    inject(store, "GetItem", [error("ThrottlingException")] * 50)
    with TestClient(create_app(service=service, require_api_key=False), **LOCAL) as api:
        answer = api.get(f"/api/flow_runs/{run.id}/summary")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert "retry shortly" in answer.json()["detail"]
