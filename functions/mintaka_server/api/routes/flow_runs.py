"""Flow runs: create, read (with history and task runs), filter newest first, move state, resume, logs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from mintaka_core.schemas import (
    FlowRun,
    FlowRunCreate,
    FlowRunDetail,
    FlowRunFilter,
    FlowRunPage,
    FlowRunResume,
    Log,
    OrchestrationResult,
    SetStateRequest,
)
from mintaka_core.states import State
from mintaka_server.services.dashboard import LogQuery

from ..deps import Caller, Service, require_force
from ..operation_routes import operation
from .dashboard import Dashboard

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])


@operation(router, "create_flow_run", status_code=status.HTTP_201_CREATED)
def create_flow_run(body: FlowRunCreate, service: Service) -> FlowRun:
    """A new run (PENDING unless `state` says otherwise); with a taken `idempotency_key`, the
    existing run."""
    return service.create_flow_run(body)


@operation(router, "list_flow_runs")
def list_flow_runs(flt: Annotated[FlowRunFilter, Query()], service: Service) -> FlowRunPage:
    """Runs newest first, `limit` at a time; pass `next_cursor` back as `cursor` for the next page."""
    return service.list_flow_runs(flt)


@operation(router, "read_flow_run_detail")
def read_flow_run(run_id: uuid.UUID, service: Service) -> FlowRunDetail:
    """The run with its state history and task runs (three reads; `/summary` is one)."""
    return service.read_flow_run_detail(run_id)


@operation(router, "read_flow_run")
def read_flow_run_summary(run_id: uuid.UUID, service: Service) -> FlowRun:
    """The run alone, without its state history and task runs: one read, whatever their size."""
    return service.read_flow_run(run_id)


@operation(router, "read_flow_run_states")
def read_flow_run_states(run_id: uuid.UUID, service: Service) -> list[State]:
    return service.read_flow_run_states(run_id)


@operation(router, "set_flow_run_state")
def set_flow_run_state(
    run_id: uuid.UUID, body: SetStateRequest, service: Service, caller: Caller
) -> OrchestrationResult:
    """Propose a state; the rules engine answers ACCEPT, REJECT, WAIT or ABORT. `force=true`
    (skip the rules) needs an `admin` key."""
    require_force(caller, body)
    return service.set_flow_run_state(run_id, body)


@operation(router, "resume_flow_run")
def resume_flow_run(run_id: uuid.UUID, body: FlowRunResume, service: Service) -> OrchestrationResult:
    """Resume a paused run (ABORT if it is not paused), with `run_input` if its pause waits for
    input: checked against the JSON schema in the PAUSED state's `run_input_schema` (a 422 names
    the field, and the run stays paused), then kept on the state it resumes to."""
    return service.resume_flow_run(run_id, body)


@operation(router, "read_logs")
def read_flow_run_logs(
    run_id: uuid.UUID, query: Annotated[LogQuery, Query()], service: Service, dashboard: Dashboard
) -> list[Log]:
    """The run's logs in time order (or newest first), `limit` lines after skipping `offset`;
    only one task run's, or lines containing some text; only lines after (a live tail: the last
    line's `timestamp` and `id` as `after` and `after_id`) or before a line."""
    if query.pages:
        return dashboard.read_flow_run_logs(run_id, query)
    return service.read_logs(
        run_id, limit=query.limit, offset=query.offset, min_level=query.min_level, newest_first=query.newest_first
    )
