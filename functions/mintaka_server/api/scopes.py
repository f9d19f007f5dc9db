"""Which API key scope each route needs: the one table, enforced by `auth.RequireApiKey`.

Scopes nest: `admin` ⊃ `write` ⊃ `read`. `read` is every GET (but the list of keys). `write` is
what an SDK process and a worker need to run flows and report them. `admin` is the rest: keys,
server settings, retry policies, concurrency limits, deployments and their schedules, work-queue
settings, and proposing a state with `force=True` (checked on the body, in `deps.require_force`).

The client's operations carry their scope in `mintaka.client.operations` (declared once, for
the transports and the server alike); the dashboard's own writes are listed here. A route in
neither needs `read` for GET/HEAD and `admin` for anything else, so a new route is closed until
it is classified (a test checks every route is listed).
"""

from __future__ import annotations

from collections.abc import Mapping

from mintaka_core.operations import OPERATIONS
from mintaka_core.schemas import ApiKeyScope

READ, WRITE, ADMIN = ApiKeyScope.read, ApiKeyScope.write, ApiKeyScope.admin

# (method, path under /api as declared by the route) -> the least scope that may call it.
# `write` is running flows and reporting them (the SDK, workers, executors, any-language clients;
# a state proposal with force=True: `admin`); `admin` is who may call and how the server orchestrates.
ROUTE_SCOPES: Mapping[tuple[str, str], ApiKeyScope] = {
    **{(op.method, op.path): op.scope for op in OPERATIONS},
    # -- the dashboard's writes
    ("PUT", "/saved_views/{name:path}"): WRITE,  # saved filters
    ("DELETE", "/saved_views/{name:path}"): WRITE,
    ("POST", "/flow_runs/{run_id}/retry"): WRITE,  # a finished deployment run scheduled again
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
