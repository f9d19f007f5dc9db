"""The dashboard's reads and saved views: flow-run activity per time bucket, flows with their
latest run, and named filter queries kept server-side (anything the UI shows, a script can read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mintaka_core.bounds import Time
from mintaka_core.schemas import FlowRun, Log, OrchestrationResult
from mintaka_server.services import schedule_view
from mintaka_server.services.dashboard import (
    DashboardService,
    FlowRunStats,
    FlowSummary,
    LogQuery,
    SavedView,
    SavedViewBody,
    WorkQueueStatus,
)

from ..deps import Deployments, Service

router = APIRouter(tags=["dashboard"])


def get_dashboard(service: Service) -> DashboardService:
    return DashboardService(service.store, service.clock)


Dashboard = Annotated[DashboardService, Depends(get_dashboard)]


@router.get("/flow_runs/stats")
def flow_run_stats(
    dashboard: Dashboard,
    since: Annotated[
        Time | None, Query(description="Start (rounded down to a bucket's start); default until - 24 h")
    ] = None,
    until: Annotated[Time | None, Query(description="End (rounded up to a bucket's end); default now")] = None,
    bucket_seconds: Annotated[
        int | None,
        Query(
            ge=60,
            le=30 * 86_400,
            description="A multiple of 3600, or of 60 for ranges up to 6 hours (a store counting per hour"
            " answers in hours: the answer's bucket_seconds says which); days start at midnight UTC."
            " Default: 5 min up to 1 h, 15 min up to 6 h, 1 h up to 2 d, 6 h up to 8 d, else 1 day",
        ),
    ] = None,
    flow_name: Annotated[str | None, Query(max_length=200)] = None,
    deployment_name: Annotated[str | None, Query(max_length=401)] = None,
) -> FlowRunStats:
    """Flow runs per bucket of their creation time, by current state (range 1 hour to 30 days,
    at most 720 buckets), with totals, late runs and the latest failures and their messages."""
    return dashboard.flow_run_stats(since, until, bucket_seconds, flow_name, deployment_name)


@router.get("/flow_runs/upcoming")
def upcoming_flow_runs(
    dashboard: Dashboard,
    flow_name: Annotated[str | None, Query(max_length=200)] = None,
    deployment_name: Annotated[str | None, Query(max_length=401)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
) -> list[FlowRun]:
    """The next SCHEDULED runs (of one flow or deployment), soonest due first, from a minute ago
    on: read from the due index, however many runs are scheduled."""
    return dashboard.upcoming_runs(flow_name, deployment_name, limit)


@router.get("/flows/summary")
def flows_summary(dashboard: Dashboard) -> list[FlowSummary]:
    """Every flow with its newest run and its runs of the last 7 days counted by state."""
    return dashboard.flows_summary()


@router.get("/task_runs/{run_id}/logs")
def read_task_run_logs(run_id: uuid.UUID, query: Annotated[LogQuery, Query()], dashboard: Dashboard) -> list[Log]:
    """The task run's own log lines, with the same paging and filters as a flow run's."""
    return dashboard.read_task_run_logs(run_id, query)


@router.get("/work_queue_status")
def work_queue_status(dashboard: Dashboard, deployments: Deployments) -> list[WorkQueueStatus]:
    """Every work queue (as `GET /work_queues`) with `depth` (due runs waiting) and `running`."""
    return dashboard.work_queue_status(deployments.list_work_queues())


@router.get("/deployments/{flow_name}/{name}/schedule")
def deployment_schedule(
    flow_name: str, name: str, deployments: Deployments, service: Service
) -> schedule_view.DeploymentSchedule:
    """The deployment's schedules in words (with time zones), their next fire times and its next
    scheduled runs."""
    deployment = deployments.read_deployment(flow_name, name)
    return schedule_view.deployment_schedule(service.store, deployment, service.clock())


@router.post("/flow_runs/{run_id}/retry")
def retry_flow_run(run_id: uuid.UUID, dashboard: Dashboard, service: Service) -> OrchestrationResult:
    """Schedule a FAILED, CRASHED or CANCELLED deployment run again, due now (409 otherwise)."""
    return dashboard.retry_flow_run(service, run_id)


@router.get("/saved_views")
def list_saved_views(dashboard: Dashboard) -> list[SavedView]:
    """Saved views (named filter queries), by name."""
    return dashboard.list_saved_views()


@router.put("/saved_views/{name:path}")
def put_saved_view(name: str, body: SavedViewBody, dashboard: Dashboard) -> SavedView:
    """Create or replace a view (name ≤ 100 characters, query ≤ 2,000); its creation time stays."""
    return dashboard.put_saved_view(name, body)


@router.delete("/saved_views/{name:path}", status_code=status.HTTP_204_NO_CONTENT)
def delete_saved_view(name: str, dashboard: Dashboard) -> Response:
    dashboard.delete_saved_view(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


__all__ = ["router"]
