"""Run contexts, carried in contextvars so threads and event loops see the right run."""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.flows import Flow
    from mintaka.futures import MintakaFuture
    from mintaka.schemas import FlowRun, TaskRun
    from mintaka.task_runners import TaskRunner
    from mintaka.tasks import Task


@dataclass
class FlowRunContext:
    flow: Flow
    flow_run: FlowRun
    client: MintakaClient
    task_runner: TaskRunner
    log_prints: bool = False
    futures: list[MintakaFuture] = field(default_factory=list)
    _counters: defaultdict = field(default_factory=lambda: defaultdict(itertools.count))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_dynamic_key(self, task_key: str) -> str:
        """A per-flow-run index for each task, so repeated calls are distinct task runs."""
        with self._lock:
            return str(next(self._counters[task_key]))

    def track(self, future: MintakaFuture) -> None:
        with self._lock:
            self.futures.append(future)


@dataclass
class TaskRunContext:
    task: Task
    task_run: TaskRun
    client: MintakaClient
    parameters: dict[str, Any]
    log_prints: bool = False


flow_run_context: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "mintaka_flow_run", default=None
)
task_run_context: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "mintaka_task_run", default=None
)
_tags: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("mintaka_tags", default=frozenset())


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The innermost run context; raises outside of a flow or task run."""
    ctx = task_run_context.get() or flow_run_context.get()
    if ctx is None:
        from mintaka.exceptions import MintakaError

        raise MintakaError("No run context: this must be called from inside a flow or task run")
    return ctx


@contextmanager
def tags(*new_tags: str) -> Iterator[frozenset[str]]:
    """Apply tags to every task run (and flow run) created inside the block."""
    current = _tags.get() | frozenset(new_tags)
    token = _tags.set(current)
    try:
        yield current
    finally:
        _tags.reset(token)


def current_tags() -> frozenset[str]:
    return _tags.get()
