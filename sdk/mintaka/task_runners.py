"""Task runners: where submitted task runs execute."""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from mintaka.states import State

if TYPE_CHECKING:
    from mintaka._pool import ElasticThreadPool
    from mintaka.engine.task_engine import TaskRunEngine


class TaskRunner:
    """Runs `submit`ted callables that return a final State."""

    name = "task runner"

    def submit(self, fn: Callable[[], State]) -> cf.Future:
        raise NotImplementedError

    def submit_task(self, engine: TaskRunEngine) -> cf.Future:
        """Start a submitted task run; runners that ship runs elsewhere override this."""
        if engine.task.isasync:
            from mintaka._sync import run_coroutine_sync

            return self.submit(lambda: run_coroutine_sync(engine.run_async()))
        return self.submit(engine.run)

    def start(self) -> None:
        """Called when a flow run starts using this runner."""

    def shutdown(self, wait: bool = True) -> None:
        """Called when the flow run ends: after every future finished, or (`wait=False`) when
        it was interrupted and task bodies may still be running."""

    def duplicate(self) -> TaskRunner:
        """A fresh runner with the same settings (each flow run gets its own)."""
        return type(self)()


class ConcurrentTaskRunner(TaskRunner):
    """Runs task runs concurrently in threads (the default): up to `max_workers` at once, on as
    few threads as keep the work moving (see `ElasticThreadPool`)."""

    name = "concurrent"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or min(64, (os.cpu_count() or 1) * 8)
        self._pool: ElasticThreadPool | None = None  # imported on first submit

    def start(self) -> None:
        self._pool = None  # created on first submit: flows that never submit pay nothing

    def submit(self, fn: Callable[[], State]) -> cf.Future:
        if self._pool is None:
            from mintaka._pool import ElasticThreadPool

            self._pool = ElasticThreadPool(self.max_workers, name="mintaka-task")
        context = contextvars.copy_context()
        return self._pool.submit(functools.partial(context.run, fn))

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None

    def duplicate(self) -> TaskRunner:
        return ConcurrentTaskRunner(self.max_workers)


class SequentialTaskRunner(TaskRunner):
    """Runs each submitted task run immediately, one at a time, in the caller's thread."""

    name = "sequential"

    def submit(self, fn: Callable[[], State]) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)
        return future


def __getattr__(name: str):
    if name in ("DaskTaskRunner", "RayTaskRunner"):  # optional extras: imported on first use
        from mintaka import distributed

        return getattr(distributed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConcurrentTaskRunner", "SequentialTaskRunner", "TaskRunner"]
