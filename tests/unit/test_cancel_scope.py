"""`CancelScope`: how a deployed run's flow thread is interrupted when it is cancelled."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from mintaka.engine.cancellation import CANCEL_SIGNAL, CancelScope, current_cancel_scope
from mintaka.exceptions import FlowRunCancelled


def cancel_soon(scope: CancelScope, after: float = 0.1) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(after), scope.cancel()), daemon=True)
    thread.start()
    return thread


def test_in_the_main_thread_a_signal_breaks_a_blocking_sleep():
    before = signal.getsignal(CANCEL_SIGNAL)
    started = time.monotonic()
    with pytest.raises(FlowRunCancelled), CancelScope() as scope:
        cancel_soon(scope)
        time.sleep(30)
    assert time.monotonic() - started < 5
    assert signal.getsignal(CANCEL_SIGNAL) is before  # the previous handler is back
    assert scope.cancelled and current_cancel_scope.get() is None


def test_in_another_thread_the_exception_lands_at_its_next_bytecode():
    outcome: list[str] = []

    def body():
        try:
            with CancelScope() as scope:
                cancel_soon(scope)
                while True:
                    time.sleep(0.01)
        except FlowRunCancelled:
            outcome.append("cancelled")

    worker = threading.Thread(target=body)
    worker.start()
    worker.join(5)
    assert outcome == ["cancelled"]


def test_tracked_task_threads_are_interrupted_too():
    outcome: list[str] = []
    entered = threading.Event()

    with pytest.raises(FlowRunCancelled), CancelScope() as scope:

        def task_body():
            scope.track_thread(threading.get_ident(), running=True)
            entered.set()
            try:
                while True:
                    time.sleep(0.01)
            except FlowRunCancelled:
                outcome.append("task cancelled")

        task = threading.Thread(target=task_body)
        task.start()
        entered.wait(5)
        cancel_soon(scope, after=0)
        time.sleep(30)
    task.join(5)
    assert outcome == ["task cancelled"]


def test_cancel_is_once_and_does_nothing_after_the_scope_closed():
    with CancelScope() as scope:
        pass
    assert scope.cancel() is False
    assert not scope.cancelled
