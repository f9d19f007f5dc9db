"""Who may call the API: `Authorization: Bearer <API key>` on every route but `GET /api/health`.

A small pure-ASGI middleware checks the key before anything else runs: before routing, before
the body is read or validated, before any route touches the store. So a refused request writes
nothing, and missing, malformed, wrong and revoked keys (on any path, known or not) all get the
same 401 with `WWW-Authenticate: Bearer`. The check is one `ApiKeyService.verify` (one store read,
cached for a few seconds per process). The OpenAPI document and the docs page stay public: they
describe the API and hold no data.

A live key must also have the scope the route needs (`scopes.ROUTE_SCOPES`), or the answer is 403,
still before the body is read. The key is left in the request's state for the routes
(`deps.Caller`), which check what depends on the body (`force=True`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import anyio.to_thread
from fastapi.security import HTTPBearer
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from mintaka.schemas import ApiKey

from .scopes import required_scope, scope_refusal

# Declares the scheme in OpenAPI (the docs page's "Authorize" button); enforcement is below.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `mintaka api-key create NAME`, sent as `Authorization: Bearer mk_…`",
)

MISSING_KEY = "An API key is required: send `Authorization: Bearer <key>`"
REFUSED_KEY = "The API key is invalid or revoked"


def auth_required(default: bool) -> bool:
    """`MINTAKA_API_AUTH` when set, else the entry point's own `default` (off for the embedded
    API and a server on loopback, on for Lambda and a server on other interfaces)."""
    from mintaka.settings import get_settings

    setting = get_settings().api_auth
    return default if setting is None else setting


class RequireApiKey:
    """ASGI middleware: HTTP requests outside `public_paths` need a key `verify` accepts, with
    the scope their route (one of `routes`, matched here) needs."""

    def __init__(
        self,
        app: ASGIApp,
        verify: Callable[[str], ApiKey | None],
        public_paths: Collection[str],
        routes: Sequence[BaseRoute] = (),
        prefix: str = "/api",
    ):
        self.app = app
        self.verify = verify
        self.public_paths = frozenset(public_paths)
        self.routes = routes  # the app's own list: routes added after this middleware count too
        self.prefix = prefix

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
        refusal = self._scope_refusal(scope, key)
        if refusal is not None:
            await JSONResponse({"detail": refusal}, status_code=403)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)

    def _scope_refusal(self, scope: Scope, key: ApiKey) -> str | None:
        path = self._route_template(scope)
        if path is None:  # no such route: the router answers 404 or 405
            return None
        method = scope["method"]
        needed = required_scope(method, path.removeprefix(self.prefix))
        return None if key.scope.allows(needed) else scope_refusal(key.scope, needed, f"{method} {path}")

    def _route_template(self, scope: Scope) -> str | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", None)
        return None


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
