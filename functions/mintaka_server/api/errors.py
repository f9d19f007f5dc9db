"""Errors at the HTTP edge, translated in exactly one place.

`ERROR_STATUS` is the one table from domain errors to HTTP status. Every error body is
`{"detail": "<one readable message>"}`; validation errors name the bad field(s) and also list
them under `errors`. Unexpected exceptions are logged here and answered with a generic 500:
no traceback ever leaves the server. Error bodies are rendered so that any text echoed from the
request (a lone surrogate, a NUL) cannot break the rendering itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mintaka_core.exceptions import MintakaError, status_for

logger = logging.getLogger("mintaka_server.api")


STORE_BUSY_RETRY_AFTER_SECONDS = 1
INTERNAL_ERROR_MESSAGE = "Internal server error; the server log has the details"


def describe_validation_errors(errors: Iterable[dict[str, Any]]) -> str:
    """`body.flow_name: String should have at least 1 character; query.limit: ...`"""
    return "; ".join(f"{_location(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


class ErrorResponse(JSONResponse):
    """JSON that renders whatever text it holds: characters UTF-8 cannot carry (lone surrogates
    echoed from the request) become `?` instead of failing the response."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
        return text.encode("utf-8", "replace")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MintakaError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:  # transient and nothing was written: the client's retry is safe
        headers = {"Retry-After": str(STORE_BUSY_RETRY_AFTER_SECONDS)}
    return ErrorResponse({"detail": str(exc) or type(exc).__name__}, status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if isinstance(exc, ValidationError):  # raised past the edge: a value the route's own model did not check
        logger.warning("Validation failed in %s %s: %s", request.method, request.url.path, exc)
    return ErrorResponse({"detail": describe_validation_errors(errors), "errors": errors}, status_code=422)


class CatchUnhandledErrors:
    """ASGI middleware: an exception no handler claimed becomes a logged, generic 500."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("Unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer; let the server drop the connection
                raise
            response = ErrorResponse({"detail": INTERNAL_ERROR_MESSAGE}, status_code=500)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MintakaError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_middleware(CatchUnhandledErrors)
