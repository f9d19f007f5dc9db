"""Heartbeats of running flow runs, sent by whoever executes them (a worker, a container, the
SDK's heartbeat thread in any process running flows)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from mintaka.schemas import FlowRun

from ..deps import Deployments

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])


@router.post("/{run_id}/heartbeat")
def heartbeat_flow_run(
    run_id: uuid.UUID,
    deployments: Deployments,
    interval: Annotated[
        float | None,
        Query(gt=0, le=86_400, description="Seconds until the next beat (default: the run's declared interval)"),
    ] = None,
) -> FlowRun:
    """Record that the run's executor is alive: its lease (and its slots) are renewed for three
    intervals. The answer is the run: a CANCELLING state tells the executor to stop."""
    return deployments.heartbeat_flow_run(run_id, interval)
