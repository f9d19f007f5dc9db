"""One small router per entity; the app mounts each under `/api`."""

from . import (
    api_keys,
    concurrency_limits,
    dashboard,
    deployments,
    events,
    flow_runs,
    flows,
    health,
    heartbeats,
    logs,
    retry_policies,
    settings,
    task_run_reports,
    task_runs,
    work_queues,
)

PUBLIC_ROUTERS = (health.router,)

# With API keys required, every route here needs one.
ROUTERS = (
    dashboard.router,  # first: its /flow_runs/stats and /flows/summary are not run ids or flow names
    flows.router,
    flow_runs.router,
    task_run_reports.router,
    task_runs.router,
    logs.router,
    concurrency_limits.router,
    api_keys.router,
    settings.router,
    deployments.router,
    work_queues.router,
    events.router,
    heartbeats.router,
    retry_policies.router,
)

__all__ = ["PUBLIC_ROUTERS", "ROUTERS"]
