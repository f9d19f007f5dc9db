"""A thread pool sized to its work: it starts with one worker and adds workers only while
all of them are stuck.

Task runs that finish quickly (their time is orchestration: pydantic and the store) gain
nothing from more threads on CPython: each extra runnable thread only fights for the GIL and
the store's lock, which made `.map` over trivial tasks ~1.5x slower per task than calling
them in a loop. Task runs that block (I/O, sleeps, waiting on other task runs, concurrency
slots) still get up to `max_workers` threads: whenever queued work has waited `stall_seconds`
without any worker taking an item, the pool doubles its workers (one per queued item at most).
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

# Longer than CPython's GIL switch interval (5 ms): a worker merely waiting for the GIL while
# the flow's thread submits is not a stall.
STALL_SECONDS = 0.01


class ElasticThreadPool:
    """`submit(fn) -> Future` and `shutdown()`, like a `ThreadPoolExecutor` that grows on stalls."""

    def __init__(self, max_workers: int, stall_seconds: float = STALL_SECONDS, name: str = "mintaka-task"):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.stall_seconds = stall_seconds
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._queued = 0  # submitted, not yet taken by a worker
        self._taken = 0  # taken so far: the watcher's sign of progress
        self._watcher: threading.Thread | None = None
        self._watching = False
        self._shutdown = False

    @property
    def size(self) -> int:
        """Worker threads started so far."""
        return len(self._threads)

    def submit(self, fn: Callable[[], Any]) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queued += 1
            self._queue.put((future, fn))
            if not self._threads:
                self._add_workers(1)
            elif len(self._threads) < self.max_workers and not self._watching:
                self._watching = True
                if self._watcher is None:
                    self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watcher", daemon=True)
                    self._watcher.start()
                else:
                    self._changed.notify()
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the workers once the queued work ran (or was cancelled, with `cancel_futures`);
        wait for them if `wait`. Like `ThreadPoolExecutor.shutdown`."""
        with self._lock:
            self._shutdown = True
            while cancel_futures:
                try:
                    future, _ = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._queued -= 1
                future.cancel()
            self._queue.put(None)  # the stop sign, behind all the work; each worker passes it on
            self._changed.notify_all()
            watcher = self._watcher
        if not wait:
            return
        if watcher is not None:
            watcher.join()  # after this, no worker is added
        for thread in self._threads:
            thread.join()

    def _add_workers(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)
                return
            with self._lock:
                self._queued -= 1
                self._taken += 1
            _run(*item)
            del item  # drop the references before blocking for the next one

    def _watch(self) -> None:
        """Add workers while queued work makes no progress; sleep while there is none to watch."""
        with self._lock:
            while True:
                full = len(self._threads) >= self.max_workers
                if self._queued == 0 or full:
                    if self._shutdown:
                        return
                    self._watching = False
                    self._changed.wait()
                    continue
                taken, since = self._taken, time.monotonic()
                self._changed.wait(self.stall_seconds)
                stalled = self._queued and self._taken == taken
                if stalled and time.monotonic() - since >= self.stall_seconds:
                    room = self.max_workers - len(self._threads)
                    self._add_workers(min(len(self._threads), self._queued, room))


def _run(future: cf.Future, fn: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn()
    except BaseException as exc:  # delivered to whoever waits on the future
        future.set_exception(exc)
    else:
        future.set_result(result)
