"""Futures returned by `task.submit()` and `task.map()`.

In async flows and tasks their waiting methods are awaitable, as in Prefect 2:
`future = await task.submit(x)`, `await future.result()`, `await future.wait()`,
`futures = await task.map(xs)`. In sync code they block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import uuid
from collections.abc import Generator, Iterable
from typing import Any

from mintaka._sync import should_return_coroutine
from mintaka.states import State, StateType


def in_async_context() -> bool:
    """True when the caller is async run code on a running event loop (awaitable forms)."""

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return should_return_coroutine()


async def _await_inner(inner: cf.Future) -> State:
    if not inner.done():
        await asyncio.wrap_future(inner)
    return inner.result()


class MintakaFuture:
    """A task run in progress. `.result()` waits and returns its value (or raises)."""

    def __init__(self, inner: cf.Future, task_run_id: uuid.UUID | None = None, name: str = ""):
        self._inner = inner
        self.task_run_id = task_run_id
        self.name = name

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the run to finish; its final state (None if `timeout` passed first)."""
        if in_async_context():  # `await future.wait()`, finished or not (Prefect 2's async form)
            return self._await_state(timeout)
        if self._inner.done():
            return self._inner.result()
        done, _ = cf.wait([self._inner], timeout=timeout)
        return self._inner.result() if done else None

    async def _await_state(self, timeout: float | None) -> State | None:
        try:
            return await asyncio.wait_for(_await_inner(self._inner), timeout)
        except TimeoutError:
            return None

    @property
    def state(self) -> State | None:
        """The final state if finished, else None (non-blocking)."""
        return self._inner.result() if self._inner.done() else None

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The run's value (waits); raises its exception if it failed, unless `raise_on_failure=False`."""
        if in_async_context():
            return self._await_result(timeout, raise_on_failure)
        state = self._inner.result(timeout=timeout)
        return state.result(raise_on_failure=raise_on_failure)

    async def _await_result(self, timeout: float | None, raise_on_failure: bool) -> Any:
        state = await asyncio.wait_for(_await_inner(self._inner), timeout)
        return state.result(raise_on_failure=raise_on_failure)

    def done(self) -> bool:
        return self._inner.done()

    def __await__(self) -> Generator[Any, None, MintakaFuture]:
        """`await task.submit(...)` gives the future itself (Prefect 2's async form)."""
        return _itself(self).__await__()

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"MintakaFuture({self.name!r}, state={self.state!r})"


async def _itself(value: Any) -> Any:
    return value


class MintakaFutureList(list):
    """The futures of a `.map()`; `.result()` returns all values in order; awaitable in async
    code (`futures = await task.map(...)`)."""

    def wait(self, timeout: float | None = None) -> Any:
        if in_async_context():
            return self._await_all(timeout)
        cf.wait([f._inner for f in self], timeout=timeout)
        return None

    async def _await_all(self, timeout: float | None) -> None:
        pending = [asyncio.wrap_future(f._inner) for f in self if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        if in_async_context():
            return self._await_results(timeout, raise_on_failure)
        if timeout is None:
            _wait_all(self, until_failure=raise_on_failure)
        return [f.result(timeout=timeout, raise_on_failure=raise_on_failure) for f in self]

    async def _await_results(self, timeout: float | None, raise_on_failure: bool) -> list[Any]:
        await self._await_all(timeout)
        return [f._inner.result(timeout=0).result(raise_on_failure=raise_on_failure) for f in self]

    def __await__(self) -> Generator[Any, None, MintakaFutureList]:
        return _itself(self).__await__()


def wait(futures: Iterable[MintakaFuture], timeout: float | None = None) -> None:
    cf.wait([f._inner for f in futures], timeout=timeout)


def _wait_all(futures: Iterable[MintakaFuture], until_failure: bool) -> None:
    """Block once until every future is done (or, `until_failure`, one did not complete), rather
    than waking for each future in turn: a wake-up per task run costs its worker the GIL."""
    pending = [f._inner for f in futures if not f._inner.done()]
    if not pending:
        return
    finished = threading.Event()
    lock = threading.Lock()
    remaining = len(pending)

    def on_done(inner: cf.Future) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            if remaining == 0 or (until_failure and not _completed(inner)):
                finished.set()

    for inner in pending:
        inner.add_done_callback(on_done)
    finished.wait()


def _completed(inner: cf.Future) -> bool:
    try:
        return inner.exception() is None and inner.result().type is StateType.COMPLETED
    except cf.CancelledError:
        return False
