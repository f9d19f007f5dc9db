"""States: one definition shared by SDK and server; the type drives orchestration, the name is read."""

from __future__ import annotations

import datetime as dt

import pytest

from mintaka import states
from mintaka.states import TERMINAL_STATE_TYPES, ResultRef, State, StateDetails, StateType

CONSTRUCTORS = [
    (states.Scheduled, StateType.SCHEDULED, "Scheduled"),
    (states.Pending, StateType.PENDING, "Pending"),
    (states.Running, StateType.RUNNING, "Running"),
    (states.Completed, StateType.COMPLETED, "Completed"),
    (states.Failed, StateType.FAILED, "Failed"),
    (states.Cancelling, StateType.CANCELLING, "Cancelling"),
    (states.Cancelled, StateType.CANCELLED, "Cancelled"),
    (states.Crashed, StateType.CRASHED, "Crashed"),
    (states.Paused, StateType.PAUSED, "Paused"),
    (states.AwaitingRetry, StateType.SCHEDULED, "AwaitingRetry"),
    (states.Retrying, StateType.RUNNING, "Retrying"),
    (states.Late, StateType.SCHEDULED, "Late"),
    (states.Cached, StateType.COMPLETED, "Cached"),
]


@pytest.mark.parametrize(("make", "state_type", "name"), CONSTRUCTORS)
def test_constructors(make, state_type, name):
    state = make(message="hello")
    assert (state.type, state.name, state.message) == (state_type, name, "hello")
    assert state.timestamp.tzinfo is not None
    assert state.is_final() == (state_type in TERMINAL_STATE_TYPES)


def test_terminal_types():
    assert {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED} == set(TERMINAL_STATE_TYPES)


@pytest.mark.parametrize("state_type", list(StateType))
def test_exactly_one_predicate_is_true(state_type):
    state = State(type=state_type)
    predicates = [
        state.is_scheduled(),
        state.is_pending(),
        state.is_running(),
        state.is_completed(),
        state.is_failed(),
        state.is_crashed(),
        state.is_cancelled(),
        state.is_cancelling(),
        state.is_paused(),
    ]
    assert sum(predicates) == 1


def test_custom_name_keeps_the_type():
    state = states.Failed(name="Expected Failure")
    assert state.name == "Expected Failure" and state.is_failed()


def test_detail_keywords_go_to_state_details():
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    state = states.Scheduled(scheduled_time=when, cache_key="ck")
    assert state.state_details.scheduled_time == when
    assert state.state_details.cache_key == "ck"


def test_in_memory_result_is_never_serialized():
    state = states.Completed(result={"big": "value"})
    assert state._has_result and state._result == {"big": "value"}
    assert "big" not in state.model_dump_json()
    restored = State.model_validate_json(state.model_dump_json())
    assert restored.id == state.id
    assert restored._has_result is False


def test_json_round_trip():
    ref = ResultRef(storage="file:///tmp/r", key="k")
    state = states.Completed(message="ok", data=ref, state_details=StateDetails(cache_key="ck"))
    restored = State.model_validate_json(state.model_dump_json())
    assert restored == state
    assert restored.data == ref


def test_copy_as_makes_a_new_state():
    failed = states.Failed(message="boom", name="Expected Failure", result=ValueError("x"))
    retry = failed.copy_as(type=StateType.SCHEDULED)
    assert retry.id != failed.id
    assert (retry.type, retry.name, retry.message) == (StateType.SCHEDULED, "Scheduled", "boom")
    assert retry.state_details is not failed.state_details
    assert retry._has_result
    renamed = failed.copy_as(message="other")
    assert renamed.name == "Expected Failure"


def test_repr_names_the_state():
    assert repr(states.Failed(message="boom", name="Oops")) == "Oops(type=FAILED, message='boom')"
