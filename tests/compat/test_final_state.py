"""A flow's final state comes from what it returned, by Prefect 2.20's rules
(docs: concepts/flows "Final state determination"; engine.return_value_to_state)."""

from __future__ import annotations

import contextlib

import pytest

from mintaka import flow, task
from mintaka.exceptions import UpstreamTaskError
from mintaka.schemas import FlowRunFilter
from mintaka.states import Completed, Failed, State, StateType


@task
def ok(x=1):
    return x


@task
def boom(message="boom"):
    raise ValueError(message)


def _only_run(client, name):
    [run] = client.list_flow_runs(FlowRunFilter(flow_name=name)).items
    return run


def test_returning_a_failed_future_fails_the_flow(client):
    @flow
    def returns_failed_future():
        return boom.submit()

    state = returns_failed_future(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."
    with pytest.raises(ValueError, match="boom"):
        state.result()
    with pytest.raises(ValueError, match="boom"):  # a plain call raises the task's own error
        returns_failed_future()
    runs = client.list_flow_runs(FlowRunFilter(flow_name="returns-failed-future")).items
    assert {r.state.type for r in runs} == {StateType.FAILED}


def test_returning_a_list_of_futures_with_one_failure(client):
    @flow
    def three():
        return [ok.submit(1), boom.submit(), ok.submit(3)]

    state = three(return_state=True)
    assert state.is_failed()
    assert state.message == "1/3 states failed."
    recorded = _only_run(client, "three").state
    assert recorded.type is StateType.FAILED and recorded.message == "1/3 states failed."
    values = state.result(raise_on_failure=False)
    assert [s.type for s in values] == [StateType.COMPLETED, StateType.FAILED, StateType.COMPLETED]


def test_all_completed_states_aggregate_to_completed_and_the_caller_gets_the_states(client):
    @flow
    def returns_states():
        return ok(1, return_state=True), ok(2, return_state=True)

    first, second = returns_states()
    assert isinstance(first, State) and first.result() == 1 and second.result() == 2
    state = returns_states(return_state=True)
    assert state.is_completed() and state.message == "All states completed."


def test_a_flow_returning_a_task_state_gives_its_caller_that_state(client):
    @flow
    def returns_task_state():
        return ok(7, return_state=True)

    value = returns_task_state()
    assert isinstance(value, State) and value.is_completed() and value.result() == 7


def test_a_state_made_by_the_user_is_the_final_state(client):
    @flow
    def expected_failure():
        return Failed(name="Expected Failure", message="nothing to do today")

    @flow
    def manual_ok():
        return Completed(message="done by hand")

    state = expected_failure(return_state=True)
    assert state.type is StateType.FAILED and state.name == "Expected Failure"
    assert _only_run(client, "expected-failure").state.name == "Expected Failure"
    done = manual_ok(return_state=True)
    assert done.is_completed() and done.message == "done by hand"


def test_no_return_value_with_an_unobserved_failed_task_fails_the_flow(client):
    @flow
    def forgets_to_look():
        ok.submit()
        boom.submit()

    state = forgets_to_look(return_state=True)
    assert state.is_failed() and state.message == "1/2 states failed."
    with pytest.raises(ValueError, match="boom"):
        forgets_to_look()


def test_no_return_value_counts_a_caught_task_failure_too(client):
    @flow
    def catches():
        with contextlib.suppress(ValueError):
            boom()

    state = catches(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."


def test_no_return_value_with_everything_completed_returns_none(client):
    @flow
    def quiet():
        ok.submit()
        ok(2)

    assert quiet() is None
    assert _only_run(client, "quiet").state.message == "All states completed."


def test_no_return_value_counts_subflows(client):
    @flow
    def child():
        raise RuntimeError("child broke")

    @flow
    def parent():
        child(return_state=True)

    state = parent(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."


def test_an_exception_fails_the_flow_naming_it(client):
    @flow
    def raises():
        raise KeyError("missing")

    state = raises(return_state=True)
    assert state.is_failed()
    assert state.message == "Flow run encountered an exception. KeyError: 'missing'"
    with pytest.raises(KeyError):
        state.result()


def test_a_not_ready_upstream_is_not_final_and_fails_the_flow(client):
    @flow
    def chain():
        return ok.submit(boom.submit())

    state = chain(return_state=True)
    assert state.is_failed() and state.message == "1/1 states are not final."
    with pytest.raises(UpstreamTaskError):
        state.result()


def test_a_submitted_run_that_raised_instead_of_ending_counts_as_crashed(client):
    class Interrupted(BaseException):  # not an Exception: the task engine does not catch it
        pass

    @task
    def interrupted():
        raise Interrupted("stopped from outside")

    @flow
    def f():
        interrupted.submit()

    state = f(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."
    with pytest.raises(Interrupted):
        state.result()


def test_a_state_made_with_data_carries_that_value(client):
    @flow
    def manual():
        return Completed(message="done by hand", data={"rows": 3})

    assert manual() == {"rows": 3}
    assert Failed(data=ValueError("x")).result(raise_on_failure=False).args == ("x",)
