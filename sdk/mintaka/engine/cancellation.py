"""Stopping a flow run that executes here once the orchestrator says it is being cancelled.

The executor learns it from its heartbeat's answer (the run, now CANCELLING) and calls
`CancelScope.cancel()`. The flow's thread is interrupted with `FlowRunCancelled`, a
BaseException, so a user's `except Exception` cannot swallow it:
- in the main thread by a real signal (SIGUSR1), which also breaks a blocking `time.sleep`
  or socket read;
- in any other thread (a Lambda runtime's worker thread, a test's) at its next bytecode.
Task bodies running in the flow's task-runner threads are interrupted the same way.
The engine then reports the run; the rules end a CANCELLING run CANCELLED.
"""

from __future__ import annotations

import contextvars
import signal
import threading
from types import TracebackType

from mintaka.exceptions import FlowRunCancelled
from mintaka.states import StateType

from .timeouts import raise_in_thread

CANCEL_SIGNAL = getattr(signal, "SIGUSR1", None)
# A run in one of these states must stop wherever it executes.
STOPPING_STATES = frozenset({StateType.CANCELLING, StateType.CANCELLED})

# The scope of the deployed run executing in this context; task runners copy it to their threads.
current_cancel_scope: contextvars.ContextVar[CancelScope | None] = contextvars.ContextVar(
    "mintaka_cancel_scope", default=None
)


class CancelScope:
    """While open, `cancel()` (from any thread) interrupts the thread that opened it, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        self._active = False
        self._previous_handler = None
        self._uses_signal = False
        self._extra_threads: set[int] = set()
        self.cancelled = False

    def __enter__(self) -> CancelScope:
        self._token = current_cancel_scope.set(self)
        self._thread_id = threading.get_ident()
        self._uses_signal = CANCEL_SIGNAL is not None and threading.current_thread() is threading.main_thread()
        if self._uses_signal:
            self._previous_handler = signal.signal(CANCEL_SIGNAL, self._on_signal)
        self._active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._active = False  # one store: a signal handled after it sees the scope closed
        finally:  # even if the cancel signal is handled just before it and raises here
            if self._uses_signal:
                signal.signal(CANCEL_SIGNAL, self._previous_handler)
            current_cancel_scope.reset(self._token)

    def track_thread(self, thread_id: int, running: bool) -> None:
        """A task body started (`running`) or ended in another thread: interrupt it too on cancel."""
        with self._lock:
            if running:
                self._extra_threads.add(thread_id)
            else:
                self._extra_threads.discard(thread_id)

    def cancel(self) -> bool:
        """Interrupt the scope's thread (and tracked task threads). False if closed or done already."""
        with self._lock:
            if not self._active or self.cancelled:
                return False
            self.cancelled = True
            for thread_id in self._extra_threads - {self._thread_id}:
                raise_in_thread(thread_id, FlowRunCancelled)
            if self._uses_signal:
                signal.pthread_kill(self._thread_id, CANCEL_SIGNAL)
            else:
                raise_in_thread(self._thread_id, FlowRunCancelled)
        return True

    def _on_signal(self, signum: int, frame: object) -> None:
        # No lock here: the handler runs in the main thread between any two bytecodes, possibly
        # while that thread holds `_lock` (in `track_thread`); a plain read cannot deadlock.
        if self._active:
            raise FlowRunCancelled("The flow run was cancelled")
