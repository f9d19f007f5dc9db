"""Refuse JSON bodies carrying lone UTF-16 surrogates (`"\\ud800"`), with a 422 naming the field.

JSON may spell any UTF-16 code unit as an escape, and Python decodes an unpaired one into a
string that no UTF-8 encoder (SQLite, botocore, the JSON response) can write: left in, it fails
the request after validation, half-way through the writes. Only bodies containing such an escape
are parsed here (a quick byte search decides), so ordinary requests pay nothing but that search.
Paths and query strings need no check: the server decodes them as UTF-8 with replacement.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorResponse

# A \uD800-\uDFFF escape (a surrogate, paired or not); only then is the body parsed.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnicodeGuard:
    """ASGI middleware: a request body whose JSON holds a string that is not valid Unicode is
    answered 422 before any route reads it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        body, disconnected = await _read_body(receive)
        where = None if disconnected else lone_surrogate(body)
        if where is not None:
            detail = (
                f"{where}: text is not valid Unicode (a lone UTF-16 surrogate escape such as \\ud800); "
                "send strings as valid UTF-8"
            )
            await ErrorResponse({"detail": detail}, status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed or disconnected:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (the body limit, outside this middleware, bounds it) and whether the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def lone_surrogate(body: bytes) -> str | None:
    """Where (e.g. `body.parameters.x`) the JSON `body` has a string with a lone surrogate; None if
    it has none, or is not JSON at all (the route reports that)."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Any, str]] = [(value, "body")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodable(key):
                    return f"{path} (a key)"
                stack.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{index}") for index, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
