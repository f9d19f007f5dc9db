"""The work-queue contract, run against every adapter: the embedded queue (the store's due
SCHEDULED runs) and SQS (moto's server, or `AWS_ENDPOINT_URL`).

Time passes through the `clock` fixture: on the embedded queue a test clock it reads, moved on
at once; on SQS the wall clock, slept through (those tests, `@elapses`, are in the slow lane).

Choose with MINTAKA_TEST_QUEUES=embedded|sqs|all (default: all). Runs are made SCHEDULED in a
SQLite store by the orchestration service, as deployments make them; the SQS adapter only
carries their ids."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from mintaka.schemas import FlowRun, FlowRunCreate
from mintaka.states import State, StateType, utcnow
from mintaka_server.queues import EmbeddedWorkQueues, WorkQueuePort
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

ADAPTERS = ("embedded", "sqs")
PROVISIONED = ("default", "reports")


def elapses(test: Callable) -> Callable:
    """Marks a test that lets seconds pass: its SQS leg sleeps through them (slow lane)."""
    test.elapses = True
    return test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "queue_adapter" in metafunc.fixturenames:
        choice = os.environ.get("MINTAKA_TEST_QUEUES", "all")
        real_time = getattr(metafunc.function, "elapses", False)
        params = [
            pytest.param(name, marks=pytest.mark.slow if real_time and name == "sqs" else ())
            for name in (ADAPTERS if choice == "all" else [choice])
        ]
        metafunc.parametrize("queue_adapter", params)


class ManualClock:
    """The embedded queue's clock: still until `sleep` moves it on."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class WallClock:
    """SQS's clock: the broker's own, real time."""

    def __call__(self) -> dt.datetime:
        return utcnow()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@pytest.fixture
def clock(queue_adapter: str) -> ManualClock | WallClock:
    return ManualClock() if queue_adapter == "embedded" else WallClock()


@pytest.fixture
def service(tmp_path) -> Iterator[OrchestrationService]:
    store = SQLiteStore(tmp_path / "queues.db")
    yield OrchestrationService(store)
    store.close()


@pytest.fixture
def queues(
    request: pytest.FixtureRequest, queue_adapter: str, service: OrchestrationService, clock: ManualClock | WallClock
) -> Iterator[WorkQueuePort]:
    if queue_adapter == "embedded":
        yield EmbeddedWorkQueues(service.store, clock=clock)
        return
    pytest.importorskip("boto3")
    from mintaka_server.queues.sqs import SqsWorkQueues
    from mintaka_server.queues.sqs_provisioning import SqsQueueProvisioner

    client = _sqs_client(request.getfixturevalue("dynamodb_endpoint"))
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    provisioner = SqsQueueProvisioner(client, prefix=prefix, visibility_timeout=30)
    for name in PROVISIONED:  # as `mintaka work-queue create` (or the template) would
        provisioner.create(name)
    yield SqsWorkQueues(client, prefix=prefix)
    for url in client.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        client.delete_queue(QueueUrl=url)


def _sqs_client(endpoint: str):
    from mintaka._aws import aws_client  # the shared client: building one costs ~0.1 s of CPU

    return aws_client("sqs", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), endpoint)


@pytest.fixture
def make_run(service: OrchestrationService, clock: ManualClock | WallClock) -> Callable[..., FlowRun]:
    def make(queue: str = "default", due_in: float = 0.0) -> FlowRun:
        due = clock() + dt.timedelta(seconds=due_in)
        return service.create_flow_run(
            FlowRunCreate(
                flow_name="etl",
                state=State(type=StateType.SCHEDULED, state_details={"scheduled_time": due}),
                deployment_name="etl/prod",
                work_queue_name=queue,
            )
        )

    return make


def wait_for_messages(
    queues: WorkQueuePort, clock: ManualClock | WallClock, queue: str, timeout: float = 8.0, run_id=None, **kwargs
):
    """What `queue` delivers (only `run_id`'s message, if given) once something comes, or [] after `timeout`."""
    deadline = clock() + dt.timedelta(seconds=timeout)
    while True:
        got = [m for m in queues.receive(queue, **kwargs) if run_id in (None, m.flow_run_id)]
        if got or clock() > deadline:
            return got
        clock.sleep(0.25)


def test_a_sent_run_is_received_from_its_own_queue(queues, make_run):
    run = make_run("reports")
    queues.send(run)
    assert queues.receive("other") == []
    [message] = queues.receive("reports")
    assert message.flow_run_id == run.id
    assert message.work_queue == "reports"
    assert message.receive_count == 1
    assert abs((message.due - run.expected_start_time).total_seconds()) < 0.001


def test_dispatch_is_send(queues, make_run):
    run = make_run()
    queues.dispatch(run)
    assert [m.flow_run_id for m in queues.receive("default")] == [run.id]


def test_a_received_message_is_hidden_until_released(queues, make_run, clock):
    queues.send(make_run())
    [message] = queues.receive("default")
    assert queues.receive("default") == []
    queues.release(message, 0)
    [again] = wait_for_messages(queues, clock, "default")
    assert again.flow_run_id == message.flow_run_id
    assert again.receive_count == 2


@elapses
def test_a_message_comes_back_when_its_visibility_ends(queues, make_run, clock):
    queues.send(make_run())
    [message] = queues.receive("default", visibility_timeout=1)
    clock.sleep(1.2)
    [again] = wait_for_messages(queues, clock, "default")
    assert again.flow_run_id == message.flow_run_id and again.receive_count == 2


@elapses
def test_release_with_a_delay_holds_the_message_back(queues, make_run, clock):
    queues.send(make_run())
    [message] = queues.receive("default")
    queues.release(message, delay=2)
    assert queues.receive("default") == []
    clock.sleep(1.0)
    assert queues.receive("default") == []
    [again] = wait_for_messages(queues, clock, "default")
    assert again.flow_run_id == message.flow_run_id


@elapses
def test_an_acked_message_is_never_received_again(queues, make_run, clock):
    queues.send(make_run())
    [message] = queues.receive("default", visibility_timeout=1)
    queues.ack(message)
    queues.ack(message)  # idempotent
    queues.release(message, 0)  # too late: a no-op
    clock.sleep(1.5)
    assert queues.receive("default") == []


@elapses
def test_a_run_is_not_received_before_it_is_due(queues, make_run, clock):
    queues.send(make_run(due_in=3))
    assert queues.receive("default") == []
    clock.sleep(1.0)
    assert queues.receive("default") == []
    assert len(wait_for_messages(queues, clock, "default", timeout=6)) == 1


def test_a_run_due_in_an_hour_is_held(queues, make_run):
    queues.send(make_run(due_in=3600))
    assert queues.receive("default") == []


def test_receive_returns_at_most_max_messages(queues, make_run):
    runs = [make_run() for _ in range(13)]
    for run in runs:
        queues.send(run)
    first = queues.receive("default", max_messages=3)
    rest = queues.receive("default", max_messages=20)
    assert len(first) == 3
    assert {m.flow_run_id for m in first} | {m.flow_run_id for m in rest} == {r.id for r in runs}
    assert not {m.flow_run_id for m in first} & {m.flow_run_id for m in rest}


def test_an_unknown_queue_is_empty(queues):
    assert queues.receive("never-used") == []


def test_every_provisioned_queue_takes_runs(queues, make_run):
    for name in PROVISIONED:
        queues.check_queue(name)
        queues.send(make_run(name))
    assert {m.work_queue for name in PROVISIONED for m in queues.receive(name)} == set(PROVISIONED)


@elapses
def test_a_run_awaiting_a_retry_by_its_executor_is_taken_by_no_consumer(queues, service, make_run, clock):
    """The rule lives in the services, so it holds whatever the adapter delivers."""
    from mintaka.schemas import EmpiricalPolicy, SetStateRequest
    from mintaka_server.services.deployments import DeploymentService
    from mintaka_server.services.run_worker import RunWorker

    run = service.create_flow_run(
        FlowRunCreate(
            flow_name="etl",
            state=State(type=StateType.SCHEDULED),
            deployment_name="etl/prod",
            work_queue_name="default",
            empirical_policy=EmpiricalPolicy(retries=1),
        )
    )
    for state in (StateType.PENDING, StateType.RUNNING, StateType.FAILED):
        service.set_flow_run_state(run.id, SetStateRequest(state=State(type=state)))
    retrying = service.read_flow_run(run.id)
    assert retrying.state.name == "AwaitingRetry"
    ready = make_run()

    deployments = DeploymentService(service)
    assert [r.id for r in deployments.get_work_queue_runs("default")] == [ready.id]

    def never(*args, **kwargs):
        raise AssertionError("a run awaiting its executor's retry was executed")

    worker = RunWorker(deployments, queues, execute=never)
    queues.send(retrying)
    [message] = wait_for_messages(queues, clock, "default", run_id=run.id)
    outcome = worker.process(message)
    assert (outcome.action, outcome.state.name) == ("skipped", "AwaitingRetry")
    clock.sleep(1.2)
    assert run.id not in {m.flow_run_id for m in queues.receive("default", visibility_timeout=1)}


def test_sqs_refuses_a_run_for_a_queue_never_provisioned(queue_adapter, queues, make_run):
    """No queue is created while serving a request: the error names the command that creates it."""
    if queue_adapter != "sqs":
        pytest.skip("the embedded queue is the store: every work queue exists")
    from mintaka_server.queues.sqs import WorkQueueMissing

    with pytest.raises(WorkQueueMissing, match=r"mintaka work-queue create nightly"):
        queues.check_queue("nightly")
    with pytest.raises(WorkQueueMissing, match=r"mintaka work-queue create nightly"):
        queues.send(make_run("nightly"))
    assert queues.receive("nightly") == []
