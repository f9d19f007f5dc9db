"""Run timeouts for synchronous bodies.

In the main thread a SIGALRM timer interrupts the body (even a blocking `time.sleep`); an
alarm already armed (a flow timeout around a task timeout, pytest-timeout) is honoured and
re-armed afterwards. In other threads the timeout is raised asynchronously in the body's
thread at its next bytecode.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from mintaka.exceptions import MintakaTimeoutError

T = TypeVar("T")


async def await_with_timeout(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await an async body, raising MintakaTimeoutError after `seconds` (None: no limit)."""
    if not seconds:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError as exc:
        raise MintakaTimeoutError() from exc


@contextmanager
def timeout_after(seconds: float | None) -> Iterator[None]:
    if not seconds:
        yield
        return
    if _can_use_alarm():
        with _alarm(seconds):
            yield
    else:
        with _async_exception(seconds):
            yield


def _can_use_alarm() -> bool:
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    started = time.monotonic()
    outer_remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    deadline = started + seconds
    outer_deadline = started + outer_remaining if outer_remaining else None
    previous = signal.getsignal(signal.SIGALRM)

    def on_alarm(signum, frame):
        nonlocal outer_deadline
        if time.monotonic() >= deadline - 1e-3:
            raise MintakaTimeoutError()
        outer_deadline = None  # the outer alarm came due first: its handler acts now
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 1e-3))
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_remaining) if outer_remaining else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 1e-3))


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> None:
    """Raise `exc_type` in another thread at its next bytecode."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))


@contextmanager
def _async_exception(seconds: float) -> Iterator[None]:
    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = False

    def fire() -> None:
        with lock:
            if not finished:
                raise_in_thread(thread_id, MintakaTimeoutError)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            finished = True
        timer.cancel()
