"""Work queues: create, list, read, update (pause, priority, concurrency), and the runs a
queue releases to a worker now."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from mintaka_core.deployment_schemas import WorkQueue, WorkQueueCreate, WorkQueueUpdate
from mintaka_core.schemas import FlowRun

from ..deps import Deployments
from ..operation_routes import operation

router = APIRouter(prefix="/work_queues", tags=["work queues"])


@operation(router, "create_work_queue", status_code=status.HTTP_201_CREATED)
def create_work_queue(body: WorkQueueCreate, deployments: Deployments) -> WorkQueue:
    """Create the queue, or replace its settings (its id is kept)."""
    return deployments.create_work_queue(body)


@operation(router, "list_work_queues")
def list_work_queues(deployments: Deployments) -> list[WorkQueue]:
    """Every queue by priority (the `default` queue always exists)."""
    return deployments.list_work_queues()


@operation(router, "read_work_queue")
def read_work_queue(name: str, deployments: Deployments) -> WorkQueue:
    return deployments.read_work_queue(name)


@operation(router, "update_work_queue")
def update_work_queue(name: str, body: WorkQueueUpdate, deployments: Deployments) -> WorkQueue:
    """Change only the fields sent (`concurrency_limit: null` removes the limit)."""
    return deployments.update_work_queue(name, body)


@operation(router, "get_work_queue_runs")
def get_work_queue_runs(
    name: str, deployments: Deployments, limit: Annotated[int, Query(ge=1, le=500)] = 10
) -> list[FlowRun]:
    """Due SCHEDULED runs the queue releases now, oldest first: none while paused, at most its
    free concurrency. A worker claims one by proposing PENDING."""
    return deployments.get_work_queue_runs(name, limit=limit)
