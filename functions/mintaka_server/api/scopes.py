"""Which API key scope each route needs: the one table, enforced by `auth.RequireApiKey`.

Scopes nest: `admin` ⊃ `write` ⊃ `read`. `read` is every GET (but the list of keys). `write` is
what an SDK process and a worker need to run flows and report them. `admin` is the rest: keys,
server settings, retry policies, concurrency limits, deployments and their schedules, work-queue
settings, and proposing a state with `force=True` (checked on the body, in `deps.require_force`).

A route missing from the table needs `read` for GET/HEAD and `admin` for anything else, so a
new route is closed until it is classified here (a test checks every route is listed).
"""

from __future__ import annotations

from collections.abc import Mapping

from mintaka.schemas import ApiKeyScope

READ, WRITE, ADMIN = ApiKeyScope.read, ApiKeyScope.write, ApiKeyScope.admin

# (method, path under /api as declared by the route) -> the least scope that may call it
ROUTE_SCOPES: Mapping[tuple[str, str], ApiKeyScope] = {
    # -- write: running flows and reporting them (the SDK, workers, executors, any-language clients)
    ("POST", "/flows"): WRITE,
    ("POST", "/flow_runs"): WRITE,
    ("POST", "/flow_runs/{run_id}/set_state"): WRITE,  # force=True: ADMIN
    ("POST", "/flow_runs/{run_id}/heartbeat"): WRITE,
    ("POST", "/task_runs"): WRITE,
    ("POST", "/task_runs/{run_id}/set_state"): WRITE,  # force=True: ADMIN
    ("POST", "/logs"): WRITE,
    ("POST", "/deployments/{flow_name}/{name}/runs"): WRITE,  # run_deployment from a flow
    ("POST", "/events"): WRITE,
    ("POST", "/work_queues/{name}/get_runs"): WRITE,  # a worker polling its queue
    ("PUT", "/saved_views/{name:path}"): WRITE,  # the dashboard's saved filters
    ("DELETE", "/saved_views/{name:path}"): WRITE,
    ("POST", "/flow_runs/{run_id}/retry"): WRITE,  # a finished deployment run scheduled again
    # -- admin: who may call, and how the server orchestrates
    ("GET", "/api_keys"): ADMIN,
    ("POST", "/api_keys"): ADMIN,
    ("DELETE", "/api_keys/{key_id}"): ADMIN,
    ("PUT", "/settings/result-storage"): ADMIN,
    ("DELETE", "/settings/result-storage"): ADMIN,
    ("PUT", "/retry_policies/{scope}/{name:path}"): ADMIN,
    ("DELETE", "/retry_policies/{scope}/{name:path}"): ADMIN,
    ("POST", "/concurrency_limits"): ADMIN,
    ("DELETE", "/concurrency_limits/{tag:path}"): ADMIN,
    ("POST", "/deployments"): ADMIN,
    ("DELETE", "/deployments/{flow_name}/{name}"): ADMIN,
    ("POST", "/deployments/{flow_name}/{name}/pause_schedule"): ADMIN,
    ("POST", "/deployments/{flow_name}/{name}/resume_schedule"): ADMIN,
    ("POST", "/work_queues"): ADMIN,
    ("PATCH", "/work_queues/{name}"): ADMIN,
}

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scope(method: str, path: str) -> ApiKeyScope:
    """The scope a call of the route declared as `path` (under /api) needs."""
    listed = ROUTE_SCOPES.get((method, path))
    if listed is not None:
        return listed
    if method == "HEAD":
        return ROUTE_SCOPES.get(("GET", path), READ)
    return READ if method in READ_METHODS else ADMIN


def scope_refusal(scope: ApiKeyScope, needed: ApiKeyScope, what: str) -> str:
    """The 403 message: what was refused, and how to get a key that may do it."""
    return (
        f"This API key has scope {scope.value!r}; {what} needs {needed.value!r}. Use a key with that scope:"
        f" `mintaka api-key create NAME --scope {needed.value}` (with an admin key, or on the store with"
        " `--store sqlite|dynamodb`)"
    )
