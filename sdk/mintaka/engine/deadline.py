"""An execution's deadline: a Lambda invocation ends at 15 minutes, whatever the flow is doing.

The Lambda worker sets the deadline for its invocation (`execution_deadline`: the remaining
time the context reports, minus a margin for the task running when it passes and for the
bookkeeping after). A task run that would start once it has passed raises `ExecutionDeadline`
instead (a call that completed before is still returned: replaying costs nothing); the flow
engine then waits for the task runs already started, and the run goes back to SCHEDULED
"Continuing", due now. The worker hands its message back to the queue, and the next invocation
claims the run and continues it by replay: each completed task returns its recorded result.

One execution at a time per process (the worker's batch is processed one message after
another), so the deadline is process-wide: task runs in the task runner's threads see it too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from mintaka_core.states import CONTINUING, State, StateType, utcnow

_deadline: float | None = None  # time.monotonic() value


class ExecutionDeadline(BaseException):
    """This execution is out of time: no new task run starts; the run continues in the next one."""


@contextmanager
def execution_deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, task runs stop starting `seconds` from now (None: no deadline)."""
    global _deadline
    previous = _deadline
    _deadline = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline = previous


def seconds_left() -> float | None:
    """Until the deadline (negative once past), or None without one."""
    return None if _deadline is None else _deadline - time.monotonic()


def deadline_passed() -> bool:
    left = seconds_left()
    return left is not None and left <= 0


def check_deadline(task_name: str) -> None:
    """Raise `ExecutionDeadline` if the deadline has passed (before a task run starts)."""
    if deadline_passed():
        raise ExecutionDeadline(f"The execution's deadline passed before {task_name} could start")


def continuing_state(reason: str) -> State:
    """SCHEDULED "Continuing", due now: the next execution picks the run up and replays it."""
    return State(
        type=StateType.SCHEDULED,
        name=CONTINUING,
        message=f"{reason}; it continues in the next execution",
        state_details={"scheduled_time": utcnow()},
    )


def is_continuing(state: State | None) -> bool:
    return state is not None and state.type is StateType.SCHEDULED and state.name == CONTINUING
