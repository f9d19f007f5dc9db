"""Resuming a paused flow run (`POST /api/flow_runs/{id}/resume`), with the typed input its pause
waits for: Prefect 2's resume route, where input the pause's schema refuses is a 422 naming the
field instead of a REJECT answer, and nothing is written."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from mintaka_core.exceptions import InvalidRequest
from mintaka_core.schemas import (
    FlowRunResume,
    OrchestrationDetails,
    OrchestrationResult,
    SetStateRequest,
    SetStateStatus,
)
from mintaka_core.states import State, StateDetails, StateType
from mintaka_server.orchestration.run_input import run_input_problems

if TYPE_CHECKING:
    from .orchestration import OrchestrationService


def resume_flow_run(service: OrchestrationService, run_id: uuid.UUID, body: FlowRunResume) -> OrchestrationResult:
    """The answer to the RUNNING proposal the resume makes (the rules decide it: the pause may
    have timed out; a suspended run goes to its queue), or ABORT if the run is not paused. The
    same request sent again after it was accepted (same `idempotency_key`) gets the same answer."""
    run = service.read_flow_run(run_id)
    current = run.state
    repeated = body.idempotency_key is not None and current is not None
    repeated = repeated and current.state_details.idempotency_key == body.idempotency_key
    if not repeated:
        if current is None or current.type is not StateType.PAUSED:
            reason = f"Flow run {run_id} is not paused (it is {current.name if current else 'new'})"
            return OrchestrationResult(
                status=SetStateStatus.ABORT, state=current, details=OrchestrationDetails(reason=reason)
            )
        _check_input(current, body)
    details = StateDetails(run_input=body.run_input, idempotency_key=body.idempotency_key)
    proposal = State(type=StateType.RUNNING, message="Resumed", state_details=details)
    return service.set_flow_run_state(run_id, SetStateRequest(state=proposal))


def _check_input(paused: State, body: FlowRunResume) -> None:
    """The rules check the input too, in the transition; here a refusal is a 422 with the reason."""
    schema = paused.state_details.run_input_schema
    if schema is None:
        if body.run_input is not None:
            raise InvalidRequest("run_input: this pause takes no input (it was not paused with wait_for_input)")
        return
    problems = run_input_problems(schema, body.run_input)
    if problems:
        raise InvalidRequest(f"Invalid run input: {problems}")
