"""Decorated functions stay functions; every call is a recorded run."""

from __future__ import annotations

import pytest

from mintaka import flow, tags, task
from mintaka.exceptions import ParameterValidationError
from mintaka.results import FailedRun
from mintaka.schemas import FlowRunFilter
from mintaka.states import Completed, Failed, StateType


@task
def double(x):
    return x * 2


@task(name="tripler", description="times three", tags=["math"])
def triple(x):
    return x * 3


@flow
def arithmetic(x: int = 2):
    return double(x) + triple(x)


def test_flow_call_returns_value_and_records_runs(client, history):
    assert arithmetic(5) == 25
    [run] = client.list_flow_runs(FlowRunFilter()).items
    assert run.flow_name == "arithmetic"
    assert run.parameters == {"x": 5}
    assert run.state.type is StateType.COMPLETED
    detail = client.read_flow_run_detail(run.id)
    assert [s.name for s in detail.states] == ["Pending", "Running", "Completed"]
    assert sorted(t.name for t in detail.task_runs) == ["double-0", "tripler-0"]
    assert next(t for t in detail.task_runs if t.name == "tripler-0").tags == ["math"]
    for task_run in detail.task_runs:
        assert history("task", task_run.id) == ["Pending", "Running", "Completed"]


def test_task_fn_is_the_plain_function_and_options(client):
    assert double.fn(4) == 8
    assert client.list_flow_runs(FlowRunFilter()).items == []  # .fn records nothing
    assert triple.name == "tripler" and triple.description == "times three"
    quick = double.with_options(name="quick", retries=3)
    assert (quick.name, quick.retries, quick.fn) == ("quick", 3, double.fn)
    renamed = arithmetic.with_options(name="renamed")
    assert renamed(1) == 5
    assert client.list_flow_runs(FlowRunFilter()).items[0].flow_name == "renamed"
    with pytest.raises(TypeError, match="Unknown task options"):
        double.with_options(retires=1)


def test_flow_exception_reaches_caller_and_is_recorded(client):
    @flow
    def broken():
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        broken()
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="broken")).items
    assert run.state.type is StateType.FAILED
    assert "KeyError" in run.state.message


def test_task_exception_fails_task_and_flow(client):
    @task
    def bad():
        raise ValueError("nope")

    @flow
    def uses_bad():
        return bad()

    state = uses_bad(return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="nope"):
        state.result()
    assert state.result(raise_on_failure=False).args == ("nope",)
    detail = client.read_flow_run_detail(state.state_details.flow_run_id)
    assert detail.task_runs[0].state.type is StateType.FAILED


def test_return_state_on_tasks_and_flows(client):
    @flow
    def f():
        state = double(3, return_state=True)
        assert state.is_completed() and not state.is_failed() and not state.is_crashed()
        assert state.type is StateType.COMPLETED and state.name == "Completed"
        assert state.timestamp is not None
        return state.result() + 1

    state = f(return_state=True)
    assert state.result() == 7
    assert state.is_final()


def test_custom_state_names_are_stored(client):
    @task
    def check():
        return Failed(name="Expected Failure", message="bad input, as expected")

    @flow
    def skipper():
        state = check(return_state=True)
        assert state.name == "Expected Failure" and state.type is StateType.FAILED
        return Completed(message="skipped")

    state = skipper(return_state=True)
    assert state.is_completed() and state.message == "skipped"
    assert state.result() is None
    detail = client.read_flow_run_detail(state.state_details.flow_run_id)
    assert detail.task_runs[0].state.name == "Expected Failure"
    assert detail.states[-1].message == "skipped"


def test_task_returning_failed_state_raises_when_called(client):
    @task
    def refuse():
        return Failed(message="refused")

    @flow
    def caller():
        refuse()

    with pytest.raises(FailedRun, match="refused"):
        caller()


def test_native_control_flow_on_runtime_values(client):
    @task
    def is_even(n):
        return n % 2 == 0

    @flow
    def branching(limit: int):
        evens, n = [], 0
        while n < limit:
            if is_even(n):
                evens.append(n)
            n += 1
        return evens

    assert branching(6) == [0, 2, 4]
    run = client.list_flow_runs(FlowRunFilter()).items[0]
    assert len(client.read_flow_run_detail(run.id).task_runs) == 6


def test_tags_context_manager(client):
    @flow
    def tagged():
        with tags("etl", "nightly"):
            double(1)
        double(2)

    with tags("outer"):
        tagged()
    [run] = client.list_flow_runs(FlowRunFilter()).items
    assert run.tags == ["outer"]
    task_runs = client.read_flow_run_detail(run.id).task_runs
    assert [t.tags for t in task_runs] == [["etl", "nightly", "outer"], ["outer"]]
    assert client.list_flow_runs(FlowRunFilter(tag="outer")).items[0].id == run.id


def test_parameters_are_validated_and_coerced(client):
    @flow
    def typed(count: int, ratio: float = 0.5):
        return count * 2, ratio

    assert typed("4") == (8, 0.5)
    with pytest.raises(ParameterValidationError, match="count"):
        typed("four")
    failed = client.list_flow_runs(FlowRunFilter(state_type=StateType.FAILED)).items
    assert len(failed) == 1 and "count" in failed[0].state.message
    with pytest.raises(ParameterValidationError, match="bad arguments"):
        typed(1, 2, 3)


def test_validation_can_be_disabled(client):
    @flow(validate_parameters=False)
    def loose(count: int):
        return count

    assert loose("4") == "4"


def test_non_json_parameters_are_passed_in_memory(client):
    class Connection:
        def __init__(self):
            self.queries = []

    @task
    def query(conn, sql):
        conn.queries.append(sql)
        return len(conn.queries)

    @flow
    def share(conn: Connection):
        query(conn, "select 1")
        return query(conn, "select 2")

    conn = Connection()
    assert share(conn) == 2
    assert conn.queries == ["select 1", "select 2"]
    run = client.list_flow_runs(FlowRunFilter()).items[0]
    assert "Connection object" in run.parameters["conn"]


def test_task_outside_a_flow_is_still_recorded(client):
    assert double(21) == 42
    with pytest.raises(RuntimeError, match="inside a flow"):
        double.submit(1)
