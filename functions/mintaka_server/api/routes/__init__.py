"""One small router per entity; the app mounts each under `/api`."""

from . import concurrency_limits, flow_runs, flows, health, logs, task_runs

ROUTERS = (
    health.router,
    flows.router,
    flow_runs.router,
    task_runs.router,
    logs.router,
    concurrency_limits.router,
)

__all__ = ["ROUTERS"]
