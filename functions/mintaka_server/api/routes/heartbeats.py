"""Heartbeats of running flow runs (and of task runs called outside any flow), sent by whoever
executes them (a worker, a container, the SDK's heartbeat thread in any process running them)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from mintaka_core.schemas import FlowRun, TaskRun

from ..deps import Deployments, Service
from ..operation_routes import operation

router = APIRouter(tags=["flow runs"])
IntervalQuery = Annotated[
    float | None,
    Query(gt=0, le=86_400, description="Seconds until the next beat (default: the run's declared interval)"),
]


@operation(router, "heartbeat_flow_run")
def heartbeat_flow_run(run_id: uuid.UUID, deployments: Deployments, interval: IntervalQuery = None) -> FlowRun:
    """Record that the run's executor is alive: its lease (and its slots) are renewed for three
    intervals. The answer is the run: a CANCELLING state tells the executor to stop."""
    return deployments.heartbeat_flow_run(run_id, interval)


@operation(router, "heartbeat_task_run", tags=["task runs"])
def heartbeat_task_run(run_id: uuid.UUID, service: Service, interval: IntervalQuery = None) -> TaskRun:
    """For a task run called outside any flow: its executor is alive, its lease (and slots) are
    renewed for three intervals. A task run in a flow is kept alive by its flow run's beats (this
    changes nothing for it). The answer is the task run."""
    return service.heartbeat_task_run(run_id, interval)
