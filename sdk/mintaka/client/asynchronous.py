"""Awaitable client methods: `async with get_client() as client: await client.read_flow_run(id)`.

Over HTTP each call runs on a small pool of I/O threads (the transport's connections are
shared and thread-safe), so the event loop never waits on the network. The transport's
outage policy (`retrying`: backoff, the tolerance window, one warning each way) is the same
object for both: an awaited call is the sync call, run in the caller's context. The embedded API is
called inline: its calls are short in-process work on the local store, and a hop to a thread
would cost more than it frees.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import contextvars
import functools
import threading
from typing import TYPE_CHECKING, Any

from mintaka_core.client import register_async_view

if TYPE_CHECKING:
    from .base import MintakaClient

_pool: cf.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _io_pool() -> cf.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = cf.ThreadPoolExecutor(64, thread_name_prefix="mintaka-api-io")
    return _pool


def _offloads(client: MintakaClient) -> bool:
    offload = getattr(client, "_offload_async", None)
    if offload is None:
        from .http import HttpTransport

        offload = isinstance(client, HttpTransport)
        with contextlib.suppress(AttributeError):
            client._offload_async = offload  # type: ignore[attr-defined]
    return offload


async def acall(client: MintakaClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """Await `client.method(*args, **kwargs)` without blocking the event loop on the network."""
    bound = getattr(client, method)
    if not _offloads(client):
        return bound(*args, **kwargs)
    loop = asyncio.get_running_loop()
    # In the caller's context: `retrying.patience()` and `single_attempt()` reach the thread.
    call = functools.partial(contextvars.copy_context().run, bound, *args, **kwargs)
    return await loop.run_in_executor(_io_pool(), call)


class AsyncMintakaClient:
    """The same methods as `MintakaClient`, awaitable."""

    def __init__(self, client: MintakaClient):
        self.sync_client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.sync_client, name)
        if not callable(attribute):
            return attribute

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await acall(self.sync_client, name, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = attribute.__doc__
        return method

    async def __aenter__(self) -> AsyncMintakaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"AsyncMintakaClient({self.sync_client!r})"


register_async_view(AsyncMintakaClient)  # `async with client:` on any client

__all__ = ["AsyncMintakaClient", "acall"]
