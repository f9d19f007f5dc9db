"""Heartbeats of running flow runs, sent by whoever executes them (a worker, a container)."""

import uuid

from fastapi import APIRouter

from mintaka.schemas import FlowRun

from ..deps import Deployments

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])


@router.post("/{run_id}/heartbeat")
def heartbeat_flow_run(run_id: uuid.UUID, deployments: Deployments) -> FlowRun:
    """Record that the run's executor is alive. The answer is the run: a CANCELLING state tells
    the executor to stop."""
    return deployments.heartbeat_flow_run(run_id)
