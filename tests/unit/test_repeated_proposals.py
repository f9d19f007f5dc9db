"""A proposal whose answer was lost is sent again with the same idempotency key: it gets the
answer the first one got (or an equivalent one), never a REJECT of its own duplicate, and
nothing is written twice. On the real service and a real SQLite file."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from mintaka.schemas import EmpiricalPolicy, FlowRunCreate, SetStateRequest, SetStateStatus, TaskRunCreate
from mintaka.states import State, StateDetails, StateType
from mintaka_server.services import OrchestrationService


@pytest.fixture
def service(sqlite_store) -> OrchestrationService:
    return OrchestrationService(sqlite_store, rng=random.Random(0))


def keyed(state_type: StateType, key: str, **fields) -> SetStateRequest:
    return SetStateRequest(state=State(type=state_type, state_details=StateDetails(idempotency_key=key), **fields))


def twice(send, request: SetStateRequest):
    first = send(request)
    again = send(request.model_copy(deep=True))
    return first, again


def assert_same_answer(first, again) -> None:
    assert again.status is first.status, (first, again)
    assert (again.state.type, again.state.name) == (first.state.type, first.state.name)


@pytest.mark.parametrize("end", [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED])
def test_a_repeated_end_of_a_flow_run(service, end):
    run = service.create_flow_run(FlowRunCreate(flow_name="f", state=State(type=StateType.RUNNING)))
    first, again = twice(lambda r: service.set_flow_run_state(run.id, r), keyed(end, f"end-{end}"))
    assert_same_answer(first, again)
    assert [s.type for s in service.read_flow_run_states(run.id)][-1] is end
    assert len(service.read_flow_run_states(run.id)) == 3


def test_a_repeated_start(service):
    run = service.create_flow_run(FlowRunCreate(flow_name="f"))
    first, again = twice(lambda r: service.set_flow_run_state(run.id, r), keyed(StateType.RUNNING, "start"))
    assert_same_answer(first, again)
    assert first.status is SetStateStatus.ACCEPT
    assert service.read_flow_run(run.id).run_count == 1


def test_a_repeated_failure_that_became_a_retry(service):
    run = service.create_flow_run(FlowRunCreate(flow_name="f"))
    task = service.create_task_run(
        TaskRunCreate(
            flow_run_id=run.id,
            task_key="t",
            dynamic_key="0",
            empirical_policy=EmpiricalPolicy(retries=2, retry_delay_seconds=[5]),
            state=State(type=StateType.RUNNING),
        )
    )
    first, again = twice(lambda r: service.set_task_run_state(task.id, r), keyed(StateType.FAILED, "fail-1"))
    assert_same_answer(first, again)
    assert first.state.name == "AwaitingRetry"
    assert [s.name for s in service.read_task_run_states(task.id)] == ["Pending", "Running", "Failed", "AwaitingRetry"]


def test_a_repeated_crash_of_a_run_being_cancelled(service):
    run = service.create_flow_run(FlowRunCreate(flow_name="f", state=State(type=StateType.RUNNING)))
    service.set_flow_run_state(run.id, keyed(StateType.CANCELLING, "cancel"))
    first, again = twice(lambda r: service.set_flow_run_state(run.id, r), keyed(StateType.CRASHED, "crash"))
    assert_same_answer(first, again)
    assert first.state.type is StateType.CANCELLED
    assert [s.type for s in service.read_flow_run_states(run.id)].count(StateType.CANCELLED) == 1


def test_a_repeated_cancel_of_a_run_not_started(service):
    run = service.create_flow_run(
        FlowRunCreate(
            flow_name="f",
            state=State(
                type=StateType.SCHEDULED,
                state_details=StateDetails(scheduled_time=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
            ),
        )
    )
    first, again = twice(lambda r: service.set_flow_run_state(run.id, r), keyed(StateType.CANCELLING, "cancel"))
    assert_same_answer(first, again)
    assert first.state.type is StateType.CANCELLED


def test_a_repeated_task_run_create_makes_one_run(service):
    run = service.create_flow_run(FlowRunCreate(flow_name="f", state=State(type=StateType.RUNNING)))
    body = TaskRunCreate(flow_run_id=run.id, task_key="t", dynamic_key="0", state=State(type=StateType.RUNNING))
    first = service.create_task_run(body)
    again = service.create_task_run(body.model_copy(deep=True))
    assert again.id == first.id
    assert len(service.read_flow_run_detail(run.id).task_runs) == 1
    assert [s.type for s in service.read_task_run_states(first.id)] == [StateType.PENDING, StateType.RUNNING]
