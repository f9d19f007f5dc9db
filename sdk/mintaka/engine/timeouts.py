"""Run timeouts for synchronous bodies.

In the main thread a SIGALRM timer interrupts the body (even a blocking `time.sleep`); in
other threads, or when a timer is already armed (a task timeout inside a flow timeout), the
timeout is raised asynchronously in the body's thread at its next bytecode.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mintaka.exceptions import MintakaTimeoutError


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
    return (
        hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise MintakaTimeoutError()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _async_exception(seconds: float) -> Iterator[None]:
    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = False

    def fire() -> None:
        with lock:
            if not finished:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(MintakaTimeoutError)
                )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            finished = True
        timer.cancel()
