"""Mixing sync and async: an async flow or task called from sync run code runs to completion;
called from async code (or at top level, for `asyncio.run(my_flow())`) it is a coroutine."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from mintaka.context import flow_run_context, task_run_context


def is_async_fn(fn: Callable) -> bool:
    return inspect.iscoroutinefunction(fn)


def should_return_coroutine() -> bool:
    task_ctx = task_run_context.get()
    if task_ctx is not None:
        return task_ctx.task.isasync
    flow_ctx = flow_run_context.get()
    if flow_ctx is not None:
        return flow_ctx.flow.isasync
    return True


def run_coroutine_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from synchronous code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Sync code running inside an event loop's thread: give the coroutine its own thread.
    context = contextvars.copy_context()
    with cf.ThreadPoolExecutor(1, thread_name_prefix="mintaka-async") as pool:
        return pool.submit(context.run, asyncio.run, coro).result()
