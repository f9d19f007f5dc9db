"""What a web page in the user's browser cannot make the API do: the guard against DNS rebinding
and cross-site requests, in front of everything else (keys, routing, the body).

A server without keys (the default on loopback) trusts whoever can reach it, and a browser on the
same machine can reach it on behalf of any web page. Three checks close that door:

- `Host` must be on an allow-list (loopback names, the bind address, `MINTAKA_SERVER_ALLOWED_HOSTS`):
  a rebinding page's requests carry its own domain name. Refused: 400.
- A state-changing request (POST, PUT, PATCH, DELETE) with an `Origin` header must come from the
  server's own origin or a configured one (`MINTAKA_SERVER_CORS_ORIGINS`). Refused: 403.
- A state-changing request must carry `Content-Type: application/json` or an `Authorization`
  header. A page can send neither cross-site without a CORS preflight (which only configured
  origins pass), so this also holds for browsers that send no `Origin`. Bodiless requests are no
  exception: a bodiless cross-site POST is as much a forgery. Refused: 415.

CORS answers (preflights included) are given only to configured origins; none by default.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = "*"


def allowed_hosts(bind: str | None = None, *, default: Iterable[str] = LOOPBACK_HOSTS) -> tuple[str, ...]:
    """The Host allow-list of a server: `default` (loopback names), plus `bind` unless it is a
    wildcard address, plus `MINTAKA_SERVER_ALLOWED_HOSTS` (comma-separated; `*` allows any).
    With the setting, loopback names are always kept: no rebinding page can send them."""
    from mintaka_server.server_settings import get_server_settings

    configured = _split(get_server_settings().server_allowed_hosts)
    names = [*default] if not configured else [*LOOPBACK_HOSTS, *configured]
    if bind is not None and bind.strip() not in WILDCARD_BINDS:
        names.append(bind)
    return tuple(dict.fromkeys(names))


def cors_origins() -> tuple[str, ...]:
    """`MINTAKA_SERVER_CORS_ORIGINS`: the origins whose pages may call the API (none by default)."""
    from mintaka_server.server_settings import get_server_settings

    return tuple(_split(get_server_settings().server_cors_origins))


class BrowserGuard:
    """ASGI middleware: the Host, Origin and Content-Type checks, then CORS for `origins`."""

    def __init__(self, app: ASGIApp, hosts: Collection[str], origins: Collection[str] = ()):
        self.any_host = ANY in hosts
        self.hosts = frozenset(_host_name(h) for h in hosts if h != ANY)
        self.any_origin = ANY in origins
        self.origins = frozenset(_origin(o) for o in origins if o != ANY)
        self.app: ASGIApp = app
        if origins:
            self.app = CORSMiddleware(
                app,
                allow_origins=[ANY] if self.any_origin else sorted(self.origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)

    def host_allowed(self, host: str) -> bool:
        if self.any_host:
            return True
        name = _host_name(host)
        return name in self.hosts or any(h.startswith("*.") and name.endswith(h[1:]) for h in self.hosts)

    def origin_allowed(self, origin: str, host: str) -> bool:
        return self.any_origin or _origin(origin) in self.origins or _same_origin(origin, host)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, message) for a request this guard refuses; None to let it through."""
        headers = _headers(scope)
        host = headers.get("host", "")
        if not self.host_allowed(host):
            return 400, _BAD_HOST.format(host=host)
        method = scope["method"]
        if method not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, host):
            return 403, _FOREIGN_ORIGIN.format(method=method, origin=origin)
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json" and "authorization" not in headers:
            return 415, _NOT_JSON.format(method=method, media_type=media_type or "no content type")
        return None


_BAD_HOST = (
    "Host {host!r} is not allowed: this server answers only to the names it is configured for"
    " (DNS-rebinding protection). Reach it by one of them, or add the name to"
    " MINTAKA_SERVER_ALLOWED_HOSTS (comma-separated; `*` allows any)"
)
_FOREIGN_ORIGIN = (
    "Cross-origin {method} from {origin!r} refused: only the server's own origin and"
    " MINTAKA_SERVER_CORS_ORIGINS (comma-separated origins, e.g. https://ops.example.com) may change things"
)
_NOT_JSON = (
    "A {method} must be sent with `Content-Type: application/json` (even without a body) or an"
    " `Authorization` header; got {media_type!r}. Browsers cannot send either cross-site without CORS,"
    " so this refuses forged requests from web pages"
)


def _headers(scope: Scope) -> dict[str, str]:
    """The first value of each header, lower-case names (a repeated Host is judged by its first)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _host_name(host: str) -> str:
    """`Example.com:8080` → `example.com`; `[::1]:4200` and `::1` → `[::1]` (no port, no final dot)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address, as written in settings
        return f"[{host}]"
    return host.partition(":")[0].rstrip(".")


def _origin(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


def _same_origin(origin: str, host: str) -> bool:
    """Whether `Origin` names this server as reached (its `Host`): same name, same port."""
    try:
        parts, served = urlsplit(_origin(origin)), urlsplit(f"//{host.strip().lower()}")
        default = {"http": 80, "https": 443}.get(parts.scheme)
        if default is None or not parts.hostname or parts.hostname != served.hostname:
            return False
        return (parts.port or default) == (served.port or default)
    except ValueError:  # a malformed port or address
        return False


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
