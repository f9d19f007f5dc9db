"""Proposing states: send a proposal, obey WAIT, return the orchestrator's answer."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from typing import Literal

from mintaka._ids import random_uuid
from mintaka.client import MintakaClient
from mintaka.client.asynchronous import acall
from mintaka.clock import asleep, now, sleep
from mintaka.schemas import OrchestrationResult, SetStateRequest, SetStateStatus
from mintaka.states import State, StateType

from .heartbeat import heartbeat_interval
from .revival import beating_here, revive_for_answer

Kind = Literal["flow_run", "task_run"]
_DEFAULT_WAIT = 0.1


def _request(
    state: State, labels: dict[str, str] | None = None, kind: Kind = "task_run", run_id: uuid.UUID | None = None
) -> SetStateRequest:
    # A fresh key per proposal: a transport retry of the same request is recognised as a
    # duplicate, while a new proposal after WAIT is a new decision.
    state.state_details.idempotency_key = random_uuid().hex
    request = SetStateRequest(state=state, labels=labels or {})
    if state.type is StateType.RUNNING and (kind == "flow_run" or beating_here(run_id)):
        # This process's heartbeat beats for the runs it starts (flow runs, and task runs called
        # outside any flow): their slots are leased.

        request.heartbeat_interval = heartbeat_interval()
    return request


def _setter(client: MintakaClient, kind: Kind):
    return client.set_task_run_state if kind == "task_run" else client.set_flow_run_state


def propose(
    client: MintakaClient, kind: Kind, run_id: uuid.UUID, state: State, labels: dict[str, str] | None = None
) -> OrchestrationResult:
    """`labels` are merged into a flow run's labels if (and as) the proposal is accepted."""
    setter = _setter(client, kind)
    revived = False
    while True:
        answer = setter(run_id, _request(state, labels, kind, run_id))
        if answer.status is SetStateStatus.WAIT:
            sleep(answer.details.delay_seconds or _DEFAULT_WAIT)
        elif _refused(answer) and not revived and revive_for_answer(client, kind, run_id, answer):
            revived = True  # the API had reaped the run this process is running: once more
        else:
            return answer


async def apropose(
    client: MintakaClient, kind: Kind, run_id: uuid.UUID, state: State, labels: dict[str, str] | None = None
) -> OrchestrationResult:

    method = "set_task_run_state" if kind == "task_run" else "set_flow_run_state"
    revived = False
    while True:
        answer = await acall(client, method, run_id, _request(state, labels, kind, run_id))
        if answer.status is SetStateStatus.WAIT:
            await asleep(answer.details.delay_seconds or _DEFAULT_WAIT)
        elif _refused(answer) and not revived and await _arevive_for_answer(client, kind, run_id, answer):
            revived = True
        else:
            return answer


async def _arevive_for_answer(
    client: MintakaClient, kind: Kind, run_id: uuid.UUID, answer: OrchestrationResult
) -> bool:

    call = contextvars.copy_context().run
    return await asyncio.get_running_loop().run_in_executor(None, call, revive_for_answer, client, kind, run_id, answer)


def _refused(answer: OrchestrationResult) -> bool:
    """REJECT or ABORT: only then may the run have been reaped under this process."""
    return answer.status in (SetStateStatus.REJECT, SetStateStatus.ABORT)


def seconds_until(state: State) -> float:
    """How long until an AwaitingRetry/Scheduled state's time comes (0 if past)."""
    scheduled = state.state_details.scheduled_time
    if scheduled is None:
        return 0.0
    return max((scheduled - now()).total_seconds(), 0.0)
