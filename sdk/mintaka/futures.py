"""Futures returned by `task.submit()` and `task.map()`."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from mintaka.states import State, StateType


class MintakaFuture:
    """A task run in progress. `.result()` waits and returns its value (or raises)."""

    def __init__(self, inner: cf.Future, task_run_id: uuid.UUID | None = None, name: str = ""):
        self._inner = inner
        self.task_run_id = task_run_id
        self.name = name

    def wait(self, timeout: float | None = None) -> State | None:
        """Wait for the run to finish; its final state (None if `timeout` passed first)."""
        if self._inner.done():  # the flow waits for every future at its end: most are done
            return self._inner.result()
        done, _ = cf.wait([self._inner], timeout=timeout)
        return self._inner.result() if done else None

    @property
    def state(self) -> State | None:
        """The final state if finished, else None (non-blocking)."""
        return self._inner.result() if self._inner.done() else None

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        state = self._inner.result(timeout=timeout)
        return state.result(raise_on_failure=raise_on_failure)

    def done(self) -> bool:
        return self._inner.done()

    def __repr__(self) -> str:
        return f"MintakaFuture({self.name!r}, state={self.state!r})"


class MintakaFutureList(list):
    """The futures of a `.map()`; `.result()` returns all values in order."""

    def wait(self, timeout: float | None = None) -> None:
        cf.wait([f._inner for f in self], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        if timeout is None:
            _wait_all(self, until_failure=raise_on_failure)
        return [f.result(timeout=timeout, raise_on_failure=raise_on_failure) for f in self]


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
