"""Task runs: create, read, history, move state."""

import uuid

from fastapi import APIRouter, status

from mintaka_core.schemas import OrchestrationResult, SetStateRequest, TaskRun, TaskRunCreate
from mintaka_core.states import State

from ..deps import Caller, Service, require_force
from ..operation_routes import operation

router = APIRouter(prefix="/task_runs", tags=["task runs"])


@operation(router, "create_task_run", status_code=status.HTTP_201_CREATED)
def create_task_run(body: TaskRunCreate, service: Service) -> TaskRun:
    """A new task run; the same (flow run, task key, dynamic key) returns the existing one."""
    return service.create_task_run(body)


@operation(router, "read_task_run")
def read_task_run(run_id: uuid.UUID, service: Service) -> TaskRun:
    return service.read_task_run(run_id)


@operation(router, "read_task_run_states")
def read_task_run_states(run_id: uuid.UUID, service: Service) -> list[State]:
    return service.read_task_run_states(run_id)


@operation(router, "set_task_run_state")
def set_task_run_state(
    run_id: uuid.UUID, body: SetStateRequest, service: Service, caller: Caller
) -> OrchestrationResult:
    """Propose a state; the rules engine answers ACCEPT, REJECT, WAIT or ABORT. `force=true`
    (skip the rules) needs an `admin` key."""
    require_force(caller, body)
    return service.set_task_run_state(run_id, body)
