"""The SDK's clock: the time runs read and the waits they make (retry delays, WAIT answers,
scheduled starts). Under `mintaka.testing.harness(time_skipping=True)` waits are instant: they
move this clock forward instead, and the embedded API reads the same clock, so a retry delay
of an hour passes at once and every recorded time still says an hour passed."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_offset = 0.0  # seconds the skipping clock is ahead of the wall clock
_skipping = 0  # nesting depth of time_skipping() blocks


def now() -> dt.datetime:
    """The current time (UTC), ahead of the wall clock by what skipped waits skipped."""
    current = dt.datetime.now(dt.UTC)
    return current + dt.timedelta(seconds=_offset) if _offset else current


def is_skipping() -> bool:
    return _skipping > 0


def advance(seconds: float) -> None:
    """Move the clock forward (only while skipping time)."""
    global _offset
    with _lock:
        _offset += max(seconds, 0.0)


def sleep(seconds: float) -> None:
    if _skipping:
        advance(seconds)
        time.sleep(0)  # let other threads run, as a real wait would
    else:
        time.sleep(seconds)


async def asleep(seconds: float) -> None:
    if _skipping:
        advance(seconds)
        await asyncio.sleep(0)
    else:
        await asyncio.sleep(seconds)


@contextmanager
def time_skipping() -> Iterator[None]:
    """Make waits instant for the block (the clock jumps instead)."""
    global _skipping, _offset
    with _lock:
        _skipping += 1
    try:
        yield
    finally:
        with _lock:
            _skipping -= 1
            if not _skipping:
                _offset = 0.0


__all__ = ["advance", "asleep", "is_skipping", "now", "sleep", "time_skipping"]
