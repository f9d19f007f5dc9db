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


def pause_flow_run(timeout: float = 300.0, poll_interval: float = 1.0) -> Coroutine[Any, Any, None] | None:
    """Pause the current flow run until it is resumed, cancelled, or `timeout` seconds pass."""
    from mintaka.context import flow_run_context, task_run_context

    ctx = flow_run_context.get()
    if ctx is None or task_run_context.get() is not None:
        raise MintakaError("pause_flow_run() must be called from a flow run's own code (not from a task)")
    if timeout <= 0 or poll_interval <= 0:
        raise MintakaError("pause_flow_run(): timeout and poll_interval must be positive")
    pause = _Pause(ctx, timeout, poll_interval)
    if ctx.flow.isasync:
        return pause.wait_async()
    pause.wait()
    return None


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
    def __init__(self, ctx: FlowRunContext, timeout: float, poll_interval: float):
        self.ctx = ctx
        self.timeout = timeout
        self.poll_interval = poll_interval
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
            state_details={"pause_timeout": self.deadline},
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
