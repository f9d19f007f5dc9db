"""Threads of this process as the kernel sees them (Linux)."""

from __future__ import annotations

import threading
import time
from pathlib import Path


def wakeups(thread: threading.Thread) -> int:
    """How many times `thread` has gone to sleep and been woken (voluntary context switches)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("voluntary_ctxt_switches")))


def started_by(action, name: str) -> threading.Thread:
    """The one thread called `name` that `action()` started."""
    before = set(threading.enumerate())
    action()
    (thread,) = [t for t in threading.enumerate() if t.name == name and t not in before]
    return thread


def stays_asleep(thread: threading.Thread, seconds: float = 1.0) -> bool:
    """Whether `thread` was woken at most once in the next `seconds`."""
    before = wakeups(thread)
    time.sleep(seconds)
    return wakeups(thread) - before <= 1
