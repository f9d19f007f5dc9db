"""Who may call the API: `Authorization: Bearer <API key>` on every route but `GET /api/health`.

A small pure-ASGI middleware checks the key before anything else runs: before routing, before
the body is read or validated, before any route touches the store. So a refused request writes
nothing, and missing, malformed, wrong and revoked keys (on any path, known or not) all get the
same 401 with `WWW-Authenticate: Bearer`. The check is one `ApiKeyService.verify` (one store read,
cached for a few seconds per process). The OpenAPI document and the docs page stay public: they
describe the API and hold no data.

The key is left in the request's state. Once routed, `require_scope` (a dependency of every keyed
route) checks the key has the scope its route needs (`scopes.ROUTE_SCOPES`), or answers 403
before the body is validated or the route runs (a body that is not JSON at all is a 422 first);
a route checks what depends on the body itself (`force=true`, `deps.require_force`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import anyio.to_thread
from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mintaka_core.schemas import ApiKey

from .scopes import required_scope, scope_refusal

# Declares the scheme in OpenAPI (the docs page's "Authorize" button); enforcement is below.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `mintaka api-key create NAME`, sent as `Authorization: Bearer mk_…`",
)

API_PREFIX = "/api"
MISSING_KEY = "An API key is required: send `Authorization: Bearer <key>`"
REFUSED_KEY = "The API key is invalid or revoked"


def auth_required(default: bool) -> bool:
    """`MINTAKA_API_AUTH` when set, else the entry point's own `default` (off for the embedded
    API and a server on loopback, on for Lambda and a server on other interfaces)."""
    from mintaka.settings import get_settings

    setting = get_settings().api_auth
    return default if setting is None else setting


class RequireApiKey:
    """ASGI middleware: HTTP requests outside `public_paths` need a key `verify` accepts."""

    def __init__(self, app: ASGIApp, verify: Callable[[str], ApiKey | None], public_paths: Collection[str]):
        self.app = app
        self.verify = verify
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope) if scope["type"] == "http" else ""
        # The dashboard's static files are public; the data they show comes from /api/ (keyed).
        if scope["type"] != "http" or path in self.public_paths or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        token = _bearer_token(scope)
        key = await anyio.to_thread.run_sync(self.verify, token) if token else None
        if key is None:
            response = JSONResponse(
                {"detail": REFUSED_KEY if token else MISSING_KEY},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


def require_scope(request: Request) -> None:
    """Dependency of every keyed route: 403 unless the request's key has the route's scope."""
    key: ApiKey | None = request.scope.get("state", {}).get("api_key")
    if key is None:  # no key required here (the middleware let it through)
        return
    # The route as declared (`/flow_runs/{run_id}/set_state`); FastAPI versions differ on whether
    # the app's `/api` prefix is part of it. No route known: the strictest reading (admin to write).
    path = getattr(request.scope.get("route"), "path", "")
    path = path[len(API_PREFIX) :] if path.startswith(f"{API_PREFIX}/") else path
    needed = required_scope(request.method, path)
    if not key.scope.allows(needed):
        raise HTTPException(403, detail=scope_refusal(key.scope, needed, f"{request.method} {API_PREFIX}{path}"))


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _route_path(scope: Scope) -> str:
    """The path as routed, without a mount prefix (`root_path`, e.g. an API Gateway stage)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
