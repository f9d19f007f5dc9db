"""Run contexts, carried in contextvars so threads and event loops see the right run.

`FlowRunContext.get()` / `TaskRunContext.get()` / `get_run_context()` as in Prefect 2: the
context's `flow_run` / `task_run` is the run's record, its `run_count` the current attempt.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mintaka.exceptions import MissingContextError

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.flows import Flow
    from mintaka.futures import MintakaFuture
    from mintaka.schemas import FlowRun, TaskRun
    from mintaka.states import State
    from mintaka.task_runners import TaskRunner
    from mintaka.tasks import Task


@dataclass
class FlowRunContext:
    """The flow run in progress: what its body, its tasks and its subflows share."""

    flow: Flow
    flow_run: FlowRun
    client: MintakaClient
    task_runner: TaskRunner
    log_prints: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    # This attempt's task runs (futures of calls, submits and maps), and the final states of
    # subflows: with no return value, they decide the flow run's state (Prefect's rule).
    futures: list[MintakaFuture] = field(default_factory=list)
    flow_run_states: list[State] = field(default_factory=list)
    # What completed in earlier attempts, by (task key, call index in its attempt): a flow
    # retry returns these instead of running them again (recalled from the API when the run
    # executes again in another process: `engine.replay`).
    completed: dict[tuple[str, int], State] = field(default_factory=dict)
    # This run's pauses that were resumed, by key, with the input each resume gave (or None): a
    # replay reaching one goes straight on (`wait_for_input` returns that input).
    resumed_pauses: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # Subflows' stand-ins (task runs) an earlier execution left unfinished, by call key: the
    # replay re-enters those subflow runs (`engine.reentry`).
    cut_off: dict[tuple[str, int], TaskRun] = field(default_factory=dict)
    # Persist task and subflow results unless they say otherwise (deployed runs: replay needs them).
    persist_results: bool = False
    # Dynamic-key suffixes of earlier attempts ("" is the first's): each attempt takes a new one.
    used_key_suffixes: set[str] = field(default_factory=set)
    _key_suffix: str = ""
    _attempt_counters: defaultdict = field(default_factory=lambda: defaultdict(itertools.count))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def get(cls) -> FlowRunContext | None:
        """The current flow run's context, or None outside flow runs."""
        return flow_run_context.get()

    @property
    def task_run_futures(self) -> list[MintakaFuture]:
        return self.futures

    def next_keys(self, task_key: str) -> tuple[str, tuple[str, int]]:
        """A new run's dynamic key (distinct across the flow run's attempts: the call's index,
        then its attempt's suffix) and its call key (the same for the same call in every
        attempt: how a retry recognises finished work)."""
        with self._lock:
            index = next(self._attempt_counters[task_key])
            return f"{index}{self._key_suffix}", (task_key, index)

    def track(self, future: MintakaFuture) -> None:
        with self._lock:
            self.futures.append(future)

    def remember(self, call_key: tuple[str, int] | None, state: State) -> None:
        if call_key is not None and state.is_completed():
            self.completed[call_key] = state

    def new_attempt(self) -> None:
        """Forget this attempt's runs (not what completed) before the body runs again, and take
        a dynamic-key suffix no earlier attempt used: "" for the first, ".N" for attempt N
        (".NrK" when a resumed attempt N executes again)."""
        with self._lock:
            self.futures = []
            self.flow_run_states = []
            self._attempt_counters = defaultdict(itertools.count)
            attempt = self.flow_run.run_count
            suffix = "" if attempt <= 1 else f".{attempt}"
            again = itertools.count(2)
            while suffix in self.used_key_suffixes:
                suffix = f".{attempt}r{next(again)}"
            self.used_key_suffixes.add(suffix)
            self._key_suffix = suffix


@dataclass
class TaskRunContext:
    """The task run in progress (also set while its `cache_key_fn` runs)."""

    task: Task
    task_run: TaskRun
    client: MintakaClient
    parameters: dict[str, Any]
    log_prints: bool = False

    @classmethod
    def get(cls) -> TaskRunContext | None:
        """The current task run's context, or None outside task runs."""
        return task_run_context.get()


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
        raise MissingContextError("No run context: this must be called from inside a flow or task run")
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


__all__ = ["FlowRunContext", "TaskRunContext", "get_run_context", "tags"]
