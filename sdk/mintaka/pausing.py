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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mintaka.clock import asleep, now, sleep
from mintaka.engine.cancellation import STOPPING_STATES
from mintaka.exceptions import Abort, FlowRunCancelled, MintakaError
from mintaka.states import State, StateType

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.context import FlowRunContext


class PausedRunTimeout(MintakaError):
    """Nobody resumed the paused flow run before its pause timed out."""


def pause_flow_run(
    timeout: float = 300.0, poll_interval: float = 1.0, reschedule: bool = False, key: str | None = None
) -> Coroutine[Any, Any, None] | None:
    """Pause the current flow run until it is resumed, cancelled, or `timeout` seconds pass.
    `reschedule=True` suspends it instead (`suspend_flow_run`): this process does not wait."""
    if reschedule:
        return suspend_flow_run(timeout=timeout, key=key)
    ctx = _flow_context("pause_flow_run")
    if timeout <= 0 or poll_interval <= 0:
        raise MintakaError("pause_flow_run(): timeout and poll_interval must be positive")
    pause = _Pause(ctx, timeout, poll_interval, _pause_key(ctx, key))
    if ctx.flow.isasync:
        return pause.wait_async() if pause.key not in ctx.resumed_pauses else _passed()
    if pause.key not in ctx.resumed_pauses:
        pause.wait()
    return None


def suspend_flow_run(timeout: float = 3600.0, key: str | None = None) -> Coroutine[Any, Any, None] | None:
    """Suspend a deployment's flow run: it goes PAUSED ("Suspended") and this execution ends,
    holding nothing. Resumed (`mintaka flow-run resume ID`, `resume_flow_run`, the API) within
    `timeout` seconds, it goes back to its work queue and replays to here, then goes on; else
    it ends FAILED. In an `async def` flow, `await suspend_flow_run(...)`."""
    ctx = _flow_context("suspend_flow_run")
    if timeout <= 0:
        raise MintakaError("suspend_flow_run(): timeout must be positive")
    run = ctx.flow_run
    if not run.deployment_name or run.parent_task_run_id is not None:
        raise MintakaError(
            "suspend_flow_run(): only a deployment's flow run (not a subflow, not a plain call) can be "
            "suspended: a worker must pick it up again once it is resumed. pause_flow_run() waits here instead"
        )
    key = _pause_key(ctx, key)
    if key not in ctx.resumed_pauses:
        _suspend(ctx, timeout, key)  # raises FlowRunSuspended
    return _passed() if ctx.flow.isasync else None


def _flow_context(caller: str) -> FlowRunContext:
    from mintaka.context import flow_run_context, task_run_context

    ctx = flow_run_context.get()
    if ctx is None or task_run_context.get() is not None:
        raise MintakaError(f"{caller}() must be called from a flow run's own code (not from a task)")
    return ctx


def _pause_key(ctx: FlowRunContext, key: str | None) -> str:
    """The pause's key: the caller's, else its order among the run's pauses in this attempt."""
    _, (_, index) = ctx.next_keys("mintaka.pause")
    return key if key is not None else f"pause-{index}"


async def _passed() -> None:
    return None


def _suspend(ctx: FlowRunContext, timeout: float, key: str) -> None:
    from mintaka.engine.propose import propose
    from mintaka.exceptions import FlowRunSuspended
    from mintaka.states import SUSPENDED

    deadline = now() + dt.timedelta(seconds=timeout)
    proposal = State(
        type=StateType.PAUSED,
        name=SUSPENDED,
        message=f"Suspended until resumed, at the latest {deadline:%Y-%m-%d %H:%M:%S} UTC",
        state_details={"pause_timeout": deadline, "pause_reschedule": True, "pause_key": key},
    )
    state = propose(ctx.client, "flow_run", ctx.flow_run.id, proposal).state
    if state.type is not StateType.PAUSED:
        _Pause._stop(state)
    raise FlowRunSuspended(
        f"Suspended: resume with `mintaka flow-run resume {ctx.flow_run.id}` within {timeout:g} s", state
    )


def resume_flow_run(flow_run_id: uuid.UUID | str, client: MintakaClient | None = None) -> State:
    """Resume a paused flow run; raises MintakaError saying why if it cannot be resumed."""
    from mintaka.client import get_client
    from mintaka.engine.propose import propose
    from mintaka.schemas import SetStateStatus

    run_id = uuid.UUID(str(flow_run_id))
    client = client or get_client()
    current = client.read_flow_run(run_id).state
    if current is None or current.type is not StateType.PAUSED:
        raise MintakaError(f"Flow run {run_id} is not paused (it is {current.name if current else 'new'})")
    answer = propose(client, "flow_run", run_id, State(type=StateType.RUNNING, message="Resumed"))
    if answer.status is not SetStateStatus.ACCEPT:
        raise MintakaError(f"Flow run {run_id} was not resumed: {answer.details.reason}")
    return answer.state


class _Pause:
    def __init__(self, ctx: FlowRunContext, timeout: float, poll_interval: float, key: str):
        self.ctx = ctx
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.key = key
        self.run_id = ctx.flow_run.id
        self.deadline: dt.datetime | None = None

    def wait(self) -> None:
        self._pause()
        while not self._resumed():
            sleep(self._next_sleep())

    async def wait_async(self) -> None:
        await asyncio.to_thread(self._pause)
        while not await asyncio.to_thread(self._resumed):
            await asleep(self._next_sleep())

    def _pause(self) -> None:
        from mintaka.engine.propose import propose
        from mintaka.logging import engine_logger

        self.deadline = now() + dt.timedelta(seconds=self.timeout)
        proposal = State(
            type=StateType.PAUSED,
            message=f"Waiting to be resumed until {self.deadline:%Y-%m-%d %H:%M:%S} UTC",
            state_details={"pause_timeout": self.deadline, "pause_key": self.key},
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
            from mintaka.logging import engine_logger

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
