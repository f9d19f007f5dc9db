"""Pausing a flow run until someone resumes it: human-in-the-loop steps in plain code.

    from mintaka import flow, pause_flow_run

    @flow
    def release():
        build()
        pause_flow_run(timeout=3600)  # `mintaka flow-run resume ID`, or resume_flow_run(ID)
        ship()

While the flow waits here its run is PAUSED on the server: its history shows the pause and its
work queue's slot is free. A resume proposes RUNNING, which the rules accept until the pause
times out (and which starts no new attempt). A cancel while paused ends the run. At the
timeout, `PausedRunTimeout` (a MintakaError) is raised in the flow, which fails it unless the
flow catches it. In an `async def` flow, `await pause_flow_run(...)`.

`suspend_flow_run(timeout=...)` (or `pause_flow_run(..., reschedule=True)`) waits without a
process: in a deployment's run, the run goes PAUSED "Suspended" and its executor exits (the
worker's subprocess, the Fargate task, the Lambda invocation). A resume sends the run to its
work queue; the executor that picks it up replays the flow (what completed returns its result,
`engine.replay`) and goes on past the suspension. Not resumed within `timeout`, the server
ends it FAILED. Each pause has a key (by default its order among the flow's pauses): a replay
reaching a pause that was resumed goes straight on.

`wait_for_input=Model` (a `mintaka.input.RunInput` subclass, a pydantic model, or a type such
as `int`) makes either wait for typed input: the model's JSON schema is stored with the pause,
a resume must give input it accepts (`resume_flow_run(ID, run_input={...})`, `mintaka flow-run
resume ID --input '{...}'`; refused with a 422 naming the field, the run staying paused), and
the pause returns the model instance (for a type, the value). The input is kept on the state
the run resumed to, so a suspended run's replay returns it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mintaka.clock import asleep, now, sleep
from mintaka.context import flow_run_context, task_run_context
from mintaka.engine.cancellation import STOPPING_STATES
from mintaka.exceptions import Abort, FlowRunCancelled, FlowRunSuspended, MintakaError
from mintaka.input import run_input_subclass_from_type
from mintaka.logging import engine_logger
from mintaka.states import SUSPENDED, State, StateType

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.context import FlowRunContext
    from mintaka.input import RunInput

T = TypeVar("T")


class PausedRunTimeout(MintakaError):
    """Nobody resumed the paused flow run before its pause timed out."""


def pause_flow_run(
    wait_for_input: type[T] | None = None,
    timeout: float = 300.0,
    poll_interval: float = 1.0,
    reschedule: bool = False,
    key: str | None = None,
) -> Any:
    """Pause the current flow run until it is resumed, cancelled, or `timeout` seconds pass.
    `wait_for_input`: the type of the input a resume must give; the pause returns it (else
    None). `reschedule=True` suspends it instead (`suspend_flow_run`): this process does not wait."""
    if reschedule:
        return suspend_flow_run(wait_for_input, timeout=timeout, key=key)
    ctx = _flow_context("pause_flow_run")
    if timeout <= 0 or poll_interval <= 0:
        raise MintakaError("pause_flow_run(): timeout and poll_interval must be positive")
    run_input = _input_type(wait_for_input)
    pause = _Pause(ctx, timeout, poll_interval, _pause_key(ctx, key), run_input)
    if ctx.flow.isasync:
        return pause.wait_async() if pause.key not in ctx.resumed_pauses else _passed(pause.given())
    if pause.key not in ctx.resumed_pauses:
        pause.wait()
    return pause.given()


def suspend_flow_run(wait_for_input: type[T] | None = None, timeout: float = 3600.0, key: str | None = None) -> Any:
    """Suspend a deployment's flow run: it goes PAUSED ("Suspended") and this execution ends,
    holding nothing. Resumed (`mintaka flow-run resume ID`, `resume_flow_run`, the API) within
    `timeout` seconds, it goes back to its work queue and replays to here, then goes on (with
    the input `wait_for_input` asked for, returned here); else it ends FAILED. In an `async def`
    flow, `await suspend_flow_run(...)`."""
    ctx = _flow_context("suspend_flow_run")
    if timeout <= 0:
        raise MintakaError("suspend_flow_run(): timeout must be positive")
    run = ctx.flow_run
    if not run.deployment_name or run.parent_task_run_id is not None:
        raise MintakaError(
            "suspend_flow_run(): only a deployment's flow run (not a subflow, not a plain call) can be "
            "suspended: a worker must pick it up again once it is resumed. pause_flow_run() waits here instead"
        )
    run_input = _input_type(wait_for_input)
    key = _pause_key(ctx, key)
    if key not in ctx.resumed_pauses:
        _suspend(ctx, timeout, key, run_input)  # raises FlowRunSuspended
    given = _given(ctx, key, run_input, ctx.resumed_pauses.get(key))
    return _passed(given) if ctx.flow.isasync else given


def _input_type(wait_for_input: Any) -> type[RunInput] | None:
    if wait_for_input is None:
        return None

    return run_input_subclass_from_type(wait_for_input)


def _given(ctx: FlowRunContext, key: str, run_input: type[RunInput] | None, value: dict | None) -> Any:
    """What the pause returns: the input a resume gave, as `run_input` makes it (None: no input asked)."""
    return None if run_input is None else run_input.from_resume(value, key, ctx.flow_run.id)


def _flow_context(caller: str) -> FlowRunContext:
    ctx = flow_run_context.get()
    if ctx is None or task_run_context.get() is not None:
        raise MintakaError(f"{caller}() must be called from a flow run's own code (not from a task)")
    return ctx


def _pause_key(ctx: FlowRunContext, key: str | None) -> str:
    """The pause's key: the caller's, else its order among the run's pauses in this attempt."""
    _, (_, index) = ctx.next_keys("mintaka.pause")
    return key if key is not None else f"pause-{index}"


async def _passed(value: Any = None) -> Any:
    return value


def _suspend(ctx: FlowRunContext, timeout: float, key: str, run_input: type[RunInput] | None) -> None:
    from mintaka.engine.propose import propose

    deadline = now() + dt.timedelta(seconds=timeout)
    proposal = State(
        type=StateType.PAUSED,
        name=SUSPENDED,
        message=f"Suspended until resumed, at the latest {deadline:%Y-%m-%d %H:%M:%S} UTC",
        state_details={"pause_timeout": deadline, "pause_reschedule": True, "pause_key": key, **_schema(run_input)},
    )
    state = propose(ctx.client, "flow_run", ctx.flow_run.id, proposal).state
    if state.type is not StateType.PAUSED:
        _Pause._stop(state)
    raise FlowRunSuspended(
        f"Suspended: resume with `mintaka flow-run resume {ctx.flow_run.id}` within {timeout:g} s", state
    )


def _schema(run_input: type[RunInput] | None) -> dict[str, Any]:
    return {} if run_input is None else {"run_input_schema": run_input.run_input_schema()}


def resume_flow_run(
    flow_run_id: uuid.UUID | str, run_input: dict[str, Any] | None = None, client: MintakaClient | None = None
) -> State:
    """Resume a paused flow run, with `run_input` if its pause waits for input (a JSON object
    its schema accepts). Raises `InvalidRequest` naming the field for input the pause refuses,
    MintakaError saying why for a run that cannot be resumed."""
    from mintaka.client import get_client
    from mintaka.schemas import FlowRunResume, SetStateStatus

    run_id = uuid.UUID(str(flow_run_id))
    client = client or get_client()
    answer = client.resume_flow_run(run_id, FlowRunResume(run_input=run_input))
    if answer.status is not SetStateStatus.ACCEPT:
        reason = answer.details.reason or answer.status.value
        raise MintakaError(
            reason if answer.status is SetStateStatus.ABORT else f"Flow run {run_id} was not resumed: {reason}"
        )
    return answer.state


class _Pause:
    def __init__(
        self, ctx: FlowRunContext, timeout: float, poll_interval: float, key: str, run_input: type[RunInput] | None
    ):
        self.ctx = ctx
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.key = key
        self.run_input = run_input
        self.run_id = ctx.flow_run.id
        self.deadline: dt.datetime | None = None

    def given(self) -> Any:
        return _given(self.ctx, self.key, self.run_input, self.ctx.resumed_pauses.get(self.key))

    def wait(self) -> None:
        self._pause()
        while not self._resumed():
            sleep(self._next_sleep())

    async def wait_async(self) -> Any:
        await asyncio.to_thread(self._pause)
        while not await asyncio.to_thread(self._resumed):
            await asleep(self._next_sleep())
        return self.given()

    def _pause(self) -> None:
        from mintaka.engine.propose import propose

        self.deadline = now() + dt.timedelta(seconds=self.timeout)
        proposal = State(
            type=StateType.PAUSED,
            message=f"Waiting to be resumed until {self.deadline:%Y-%m-%d %H:%M:%S} UTC",
            state_details={"pause_timeout": self.deadline, "pause_key": self.key, **_schema(self.run_input)},
        )
        state = propose(self.ctx.client, "flow_run", self.run_id, proposal).state
        if state.type is not StateType.PAUSED:
            self._stop(state)
        engine_logger(self.ctx).info(
            "Paused: resume with `mintaka flow-run resume %s` within %g s", self.run_id, self.timeout
        )

    def _resumed(self) -> bool:
        state = self.ctx.client.read_flow_run(self.run_id).state
        if state.type is StateType.RUNNING:
            self.ctx.resumed_pauses[self.key] = state.state_details.run_input
            engine_logger(self.ctx).info("Resumed")
            return True
        if state.type is not StateType.PAUSED:
            self._stop(state)
        if now() >= self.deadline:
            raise PausedRunTimeout(f"The flow run was not resumed within {self.timeout:g} s")
        return False

    def _next_sleep(self) -> float:
        return max(min(self.poll_interval, (self.deadline - now()).total_seconds()), 0.0)

    @staticmethod
    def _stop(state: State) -> None:
        stop: Callable[[str], BaseException] = FlowRunCancelled if state.type in STOPPING_STATES else Abort
        raise stop(f"The flow run is {state.name}" + (f": {state.message}" if state.message else ""))
