"""The request-size limit: bodies larger than `MINTAKA_SERVER_MAX_BODY_BYTES` are answered 413.

Enforced while the body streams in, so an oversized request is never held in memory: a
`Content-Length` above the limit is refused before a byte of the body is read, and a body without
one (chunked, or a length that lies) is counted and refused as soon as it passes the limit. The
same middleware runs under uvicorn and under the Lambda handler (Mangum; API Gateway has its own,
larger, 10 MB limit).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorResponse

SETTING = "MINTAKA_SERVER_MAX_BODY_BYTES"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit; FastAPI's body parsing lets an
    HTTPException through, so the route never runs."""

    def __init__(self, limit: int, declared: int | None = None):
        size = f"{declared} bytes" if declared is not None else "more"
        super().__init__(
            413,
            f"Request body too large: {size}; this server accepts at most {limit} bytes ({_mib(limit)}). "
            f"Send less per request (e.g. smaller log batches), or raise the limit with {SETTING}",
            headers={"Connection": "close"},  # the rest of the body is never read
        )


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(BodyTooLarge(self.max_bytes, declared), scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # read outside a route (a route's body parsing answers it itself)
            if started:
                raise
            await _refuse(exc, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length; counting still applies
    return None


async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = ErrorResponse({"detail": exc.detail}, status_code=413, headers=exc.headers)
    await response(scope, receive, send)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"
