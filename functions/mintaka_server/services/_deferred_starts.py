"""Deferred task starts, for the embedded store: one write per short task instead of two.

A task run the rules let start is not written at once. If it ends within `delay` seconds, its
end writes the run with its whole history (Pending, Running, the end) in one transaction; if
not, a background thread writes its start when `delay` has passed, and its end is an ordinary
transition. Every state is still recorded with the time it happened. What changes: a reader in
another process sees a task RUNNING only once it has run for `delay` (0.1 s by default), and a
process killed during a task younger than that leaves no record of it (nor any result: it never
ended). Any other call to the service first writes every deferred start, so nothing it reads or
decides (a flow run ending takes its unfinished task runs with it) misses one.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from mintaka_core.schemas import TaskRun
from mintaka_core.states import State
from mintaka_server.storage import RunStore

logger = logging.getLogger(__name__)

DEFAULT_DELAY = 0.1  # seconds a task's start may wait to be written with its end


@dataclass
class DeferredStart:
    run: TaskRun  # as started: RUNNING, version 1
    history: list[State]  # the states before `run.state` (Pending, and any the rules inserted)
    since: float = field(default_factory=time.monotonic)


class DeferredStarts:
    """The starts not yet written, and the thread that writes those older than `delay`."""

    def __init__(self, store: RunStore, on_written: Callable[[TaskRun], None], delay: float = DEFAULT_DELAY):
        self.store = store
        self.delay = delay
        self._on_written = on_written
        self._pending: dict[uuid.UUID, DeferredStart] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The thread sleeps on `_waiting` while nothing is deferred; `add` wakes it (a plain flag
        # read per task, under the lock `add` takes anyway).
        self._waiting = threading.Event()
        self._idle = False

    def add(self, start: DeferredStart) -> None:
        with self._lock:
            self._pending[start.run.id] = start
            if self._idle:
                self._idle = False
                self._waiting.set()
            if self._thread is None:
                self._start_thread()

    def take(self, run_id: uuid.UUID) -> DeferredStart | None:
        """The start of `run_id` if it is still unwritten; whoever takes it writes it."""
        if not self._pending:
            return None
        with self._lock:
            return self._pending.pop(run_id, None)

    def write(self, start: DeferredStart) -> None:
        # The rules allowed the start when it was decided; a flow run closed since then does
        # not undo a task that has begun (as with a start written at once).
        written = self.store.create_task_run(start.run, history_before=start.history)
        self._on_written(written)

    def flush(self, older_than: float | None = None) -> None:
        """Write the deferred starts (only those deferred `older_than` seconds ago, if given)."""
        if not self._pending:
            return
        horizon = time.monotonic() - older_than if older_than is not None else None
        with self._lock:
            due = [s for s in self._pending.values() if horizon is None or s.since <= horizon]
            for start in due:
                del self._pending[start.run.id]
        for start in due:
            try:
                self.write(start)
            except BaseException:
                self.add(start)  # written by the next flush instead of lost
                raise

    def close(self) -> None:
        self._stop.set()
        self._waiting.set()
        self.flush()

    def _sleep_if_idle(self) -> bool:
        """(The thread's.) True if nothing is deferred: it is told when something is."""
        with self._lock:
            if self._pending:
                return False
            self._idle = True
            self._waiting.clear()
            return True

    def _start_thread(self) -> None:
        weakref.finalize(self, self._waiting.set)  # a collected one wakes its thread, which ends
        self._thread = threading.Thread(target=_flush_loop, args=(weakref.ref(self), self._waiting), daemon=True)
        self._thread.name = "mintaka-deferred-starts"
        self._thread.start()
        atexit.register(_flush_at_exit, weakref.ref(self))


def _flush_loop(ref: weakref.ref[DeferredStarts], waiting: threading.Event) -> None:
    """Write the starts older than `delay`, every `delay` while any waits; asleep otherwise."""
    while True:
        starts = ref()
        if starts is None or starts._stop.is_set():
            return
        if starts._sleep_if_idle():
            del starts
            waiting.wait()
            continue
        delay, stop = starts.delay, starts._stop
        del starts
        if stop.wait(delay):
            return
        starts = ref()
        if starts is None:
            return
        try:
            starts.flush(older_than=starts.delay)
        except Exception:  # the store busy past its timeout: the next tick retries
            logger.warning("Writing deferred task starts failed; retrying", exc_info=True)
        del starts


def _flush_at_exit(ref: weakref.ref[DeferredStarts]) -> None:
    starts = ref()
    if starts is not None:
        try:
            starts.close()
        except Exception:  # the store may be gone at exit; nothing is left to report to
            logger.debug("Writing deferred task starts at exit failed", exc_info=True)
