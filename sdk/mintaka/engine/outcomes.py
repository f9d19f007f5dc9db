"""What a run's body produced, as the state to propose (Prefect 2's rules).

- An exception: FAILED (a timeout: FAILED "TimedOut"), its message naming the exception.
- A state the user made (no run ids): that state, as is.
- A run's state or future, or a list/tuple/set of them: the aggregate. All completed:
  COMPLETED "All states completed."; any cancelled: CANCELLED "N/M states cancelled."; any
  paused: PAUSED; else FAILED "N/M states failed.". The value is the returned object itself
  (so the caller of a flow that returned a task's state gets that state).
- Anything else: COMPLETED with the value.
"""

from __future__ import annotations

from typing import Any

from mintaka.exceptions import MintakaTimeoutError
from mintaka.states import State, StateType


def _future_type():
    from mintaka.futures import MintakaFuture

    return MintakaFuture


def final_state_of(future: Any) -> State:
    """A finished future's final state; one whose run raised instead of ending (it was aborted
    or interrupted) counts as CRASHED with that error."""
    try:
        return future._inner.result()
    except BaseException as exc:
        message = f"Task run did not report a final state: {type(exc).__name__}: {exc}"
        return State(type=StateType.CRASHED, message=message).with_result(exc)


def futures_to_states(value: Any) -> Any:
    """`value` with every future (at any depth of lists, tuples, sets, dicts) replaced by its
    final state."""
    future_type = _future_type()
    if isinstance(value, future_type):
        return final_state_of(value)  # engine code: always blocks (async callers awaited first)
    if isinstance(value, list | tuple | set | frozenset):
        if not any(isinstance(v, future_type | list | tuple | set | frozenset | dict) for v in value):
            return value
        return type(value)(futures_to_states(v) for v in value)
    if isinstance(value, dict):
        if not any(isinstance(v, future_type | list | tuple | set | frozenset | dict) for v in value.values()):
            return value
        return {k: futures_to_states(v) for k, v in value.items()}
    return value


def _is_run_state(value: Any) -> bool:
    details = value.state_details
    return details.task_run_id is not None or details.flow_run_id is not None


def aggregate(states: list[State], value: Any) -> State:
    """The state of a run whose outcome is a group of states (Prefect's StateGroup)."""
    total = len(states)
    count = {t: 0 for t in StateType}
    for state in states:
        count[state.type] += 1
    if count[StateType.COMPLETED] == total:
        state_type, message = StateType.COMPLETED, "All states completed."
    elif count[StateType.CANCELLED]:
        state_type, message = StateType.CANCELLED, f"{count[StateType.CANCELLED]}/{total} states cancelled."
    elif count[StateType.PAUSED]:
        state_type, message = StateType.PAUSED, f"{count[StateType.PAUSED]}/{total} states paused."
    else:
        state_type = StateType.FAILED
        failed = count[StateType.FAILED] + count[StateType.CRASHED]
        not_final = sum(1 for s in states if not s.is_final())
        if failed:
            message = f"{failed}/{total} states failed."
        else:
            message = f"{not_final}/{total} states are not final."
    # The value is what was returned (the caller of a failed run gets the first failure raised).
    return State(type=state_type, message=message).with_result(value)


def return_value_to_state(value: Any) -> State:
    """The state to propose for a body that returned `value` (futures already resolved)."""
    if isinstance(value, State):
        if not _is_run_state(value):
            return value  # made by the user: used as the run's final state
        return aggregate([value], value)
    if isinstance(value, list | tuple | set | frozenset) and value and all(isinstance(v, State) for v in value):
        return aggregate(list(value), value)
    return State(type=StateType.COMPLETED).with_result(value)


def exception_message(kind: str, exc: BaseException, timeout: float | None) -> str:
    """Prefect 2.20's words exactly (code and people match on them): "Task run encountered an
    exception ValueError: ...", "Flow run encountered an exception. ValueError: ...", "Task run
    exceeded timeout of 1.0 seconds TimeoutError: "."""
    if isinstance(exc, MintakaTimeoutError):
        return f"{kind} run exceeded timeout of {float(timeout or 0)} seconds TimeoutError: "
    lead = "Flow run encountered an exception." if kind == "Flow" else "Task run encountered an exception"
    return f"{lead} {type(exc).__name__}: {exc}"


def exception_to_failed_state(kind: str, exc: BaseException, timeout: float | None) -> State:
    name = "TimedOut" if isinstance(exc, MintakaTimeoutError) else ""
    return State(type=StateType.FAILED, name=name, message=exception_message(kind, exc, timeout)).with_result(exc)
