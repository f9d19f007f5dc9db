"""A thread pool sized to its work, for the concurrent task runner.

On CPython, threads only help work that waits (I/O, sleeps, other task runs, concurrency
slots). Task runs whose time is orchestration (pydantic and the embedded store, GIL-bound)
gain nothing from more threads: each extra runnable thread only fights for the GIL, a dozen
context switches per task run, which made `.map` over trivial tasks ~1.5x slower per task
than a loop.

So the pool keeps a target number of workers that may take work, starting at one, and a
watcher adjusts it every `interval` while work is queued, from the CPU the process used and
the CPU it wanted (`ProcessDemand`: used, plus the time its threads were ready to run while
other processes had the CPUs, so that a busy machine is not mistaken for waiting workers):
- when the process wanted under half a core, the workers are waiting: one per queued item;
- when no worker took an item (and nobody submitted one), they are on long items: one more;
- when it looked GIL-bound for `GIL_BOUND_INTERVALS` in a row (items taken, a core or so
  wanted, under one and a half used): one fewer; the surplus workers park after their item.
It does not grow while every busy worker is in `serial_threads` (the embedded store): such a
stall (a WAL checkpoint, another process's write lock) is not helped by more threads.
Threads start as the target first needs them, up to `max_workers`; waiting work reaches full
concurrency one interval or two after it starts waiting.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from mintaka._serial import serial_threads

INTERVAL_SECONDS = 0.01  # twice CPython's GIL switch interval
MAX_INTERVAL_SECONDS = 0.16  # while nothing changes
WAITING_BELOW_CORES = 0.5  # wanted: the workers mostly wait (I/O, sleeps, locks)
GIL_BOUND_CORES = (0.75, 1.5)  # wanted at least, used under: one thread holding the GIL
GIL_BOUND_INTERVALS = 5  # in a row before parking one: waiting work has bursts of CPU too


class ProcessDemand:
    """The process's CPU seconds and, where Linux tells (`/proc/.../schedstat`), the seconds its
    tracked threads were ready to run but waited for a CPU that other processes had."""

    def __init__(self) -> None:
        self._files: dict[int, int] = {}  # thread ident -> its open schedstat file

    def track_current_thread(self) -> None:
        if threading.get_ident() not in self._files:
            with contextlib.suppress(OSError):  # not Linux: CPU time alone
                path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
                self._files[threading.get_ident()] = os.open(path, os.O_RDONLY)

    def untrack_current_thread(self) -> None:
        self._untrack([threading.get_ident()])

    def untrack_all_but(self, keep: Collection[int]) -> None:
        self._untrack([ident for ident in self._files if ident not in keep])

    def _untrack(self, idents: list[int]) -> None:
        for ident in idents:
            fd = self._files.pop(ident, None)
            if fd is not None:
                os.close(fd)

    def read(self) -> tuple[float, float]:
        """(CPU seconds used, seconds spent runnable but not running)."""
        waited_ns = 0
        for fd in self._files.values():
            with contextlib.suppress(OSError, IndexError, ValueError):  # unexpected: CPU time alone
                waited_ns += int(os.pread(fd, 64, 0).split()[1])
        return time.process_time(), waited_ns / 1e9


class ElasticThreadPool:
    """`submit(fn) -> Future` and `shutdown()`, like a `ThreadPoolExecutor`, on as many of its
    `max_workers` threads as keep the work moving."""

    def __init__(self, max_workers: int, interval: float = INTERVAL_SECONDS, name: str = "mintaka-task"):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.interval = interval
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._target = 1  # workers that may take items
        self._active = 0  # started workers that are not parked
        self._queued = 0  # submitted, not yet taken
        self._submitted = 0
        self._taken = 0  # taken so far: the watcher's sign of progress
        self._gil_bound_for = 0  # intervals in a row that looked GIL-bound
        self._demand = ProcessDemand()
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
            self._submitted += 1
            self._queue.put((future, fn))
            self._demand.track_current_thread()  # the submitting thread works too (and may starve)
            if not self._threads:
                self._start_worker()
            elif self.max_workers > 1 and not self._watching:
                self._watching = True
                if self._watcher is None:
                    self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watcher", daemon=True)
                    self._watcher.start()
                else:
                    self._changed.notify_all()
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
            self._demand.untrack_all_but({thread.ident for thread in self._threads})  # the submitters'
            watcher = self._watcher
        if not wait:
            return
        if watcher is not None:
            watcher.join()  # after this, no worker is started
        for thread in self._threads:
            thread.join()

    # -- workers
    def _start_worker(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        self._active += 1
        thread.start()

    def _work(self) -> None:
        with self._lock:  # the watcher reads the demand under it
            self._demand.track_current_thread()
        try:
            while self._take_and_run():
                pass
        finally:
            with self._lock:
                self._demand.untrack_current_thread()

    def _take_and_run(self) -> bool:
        item = self._queue.get()
        if item is None:
            self._queue.put(None)
            return False
        with self._lock:
            self._queued -= 1
            self._taken += 1
        _run(*item)
        del item  # drop the references before waiting for the next one
        with self._lock:
            if self._active > self._target and not self._shutdown:
                self._active -= 1
                while self._active >= self._target and not self._shutdown:
                    self._changed.wait()
                self._active += 1
        return True

    # -- sizing
    def _watch(self) -> None:
        """Resize while work is queued; sleep while there is none. An interval that changes
        nothing doubles the next one (up to `MAX_INTERVAL_SECONDS`): each look takes the GIL
        from a worker, which on a busy machine costs it its CPU for a while."""
        with self._lock:
            interval = self.interval
            while True:
                if self._queued == 0:
                    if self._shutdown:
                        return
                    self._watching = False
                    self._changed.wait()
                    interval = self.interval
                    continue
                taken, submitted, wall = self._taken, self._submitted, time.monotonic()
                cpu, waited = self._demand.read()
                self._changed.wait(interval)
                wall = time.monotonic() - wall
                if wall < interval or not self._queued:
                    continue  # woken early (shutdown), or nothing left to judge
                now_cpu, now_waited = self._demand.read()
                used = (now_cpu - cpu) / wall
                wanted = used + (now_waited - waited) / wall
                target = self._judge(used, wanted, took=self._taken > taken, submitted=self._submitted > submitted)
                steady = target == self._target and not self._gil_bound_for
                interval = min(interval * 2, MAX_INTERVAL_SECONDS) if steady else self.interval
                if target != self._target:
                    self._resize(target)

    def _judge(self, used: float, wanted: float, took: bool, submitted: bool) -> int:
        """The target after an interval in which the process used and wanted so many cores."""
        gil_bound = took and self._target > 1 and GIL_BOUND_CORES[0] <= wanted and used < GIL_BOUND_CORES[1]
        self._gil_bound_for = self._gil_bound_for + 1 if gil_bound else 0
        if self._gil_bound_for >= GIL_BOUND_INTERVALS:
            self._gil_bound_for = 0
            return self._target - 1
        if self._all_busy_in_serial_work():
            return self._target  # the store is the bottleneck: more threads would only queue for it
        if wanted < WAITING_BELOW_CORES:
            return min(self._target + self._queued, self.max_workers)
        if not took and not submitted:
            return min(self._target + 1, self.max_workers)  # all on long items (not a busy submitter)
        return self._target

    def _all_busy_in_serial_work(self) -> bool:
        return sum(thread.ident in serial_threads for thread in self._threads) >= self._active

    def _resize(self, target: int) -> None:
        self._target = target
        if len(self._threads) > self._active:  # some are parked
            self._changed.notify_all()
        for _ in range(target - len(self._threads)):
            self._start_worker()


def _run(future: cf.Future, fn: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn()
    except BaseException as exc:  # delivered to whoever waits on the future
        future.set_exception(exc)
    else:
        future.set_result(result)
