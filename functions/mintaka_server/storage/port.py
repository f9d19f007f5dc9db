"""The store port: what the service needs from a database, and nothing more.

Every operation maps onto GetItem / Query / TransactWriteItems (no scans), so the DynamoDB
adapter can serve it as cheaply as SQLite. Writes are atomic; a state transition is one
write conditional on the run's version (`VersionConflict` when it lost a race).
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from mintaka.exceptions import Conflict
from mintaka.schemas import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    FlowRunFilter,
    FlowRunPage,
    Log,
    LogCreate,
    TaskRun,
)
from mintaka.states import State
from mintaka_server.orchestration import CacheInsert
from mintaka_server.orchestration.context import RunKind


class VersionConflict(Conflict):
    """The run changed since it was read; re-read and decide again."""


class SlotsUnavailable(Conflict):
    """A concurrency slot was taken between the read and the write."""


@dataclass
class TransitionWrite:
    """One state transition: all of it is written, or none of it."""

    kind: RunKind
    run_id: uuid.UUID
    expected_version: int
    state: State
    history_before: list[State] = field(default_factory=list)
    run_count: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    acquire_slots: Sequence[str] = ()
    release_slots: Sequence[str] = ()
    cache_insert: CacheInsert | None = None


class Store(ABC):
    """Persistence for flows, runs, states, logs, cache entries and concurrency limits."""

    # -- flows
    @abstractmethod
    def ensure_flow(self, name: str) -> Flow:
        """The flow with this name, created on first use."""

    @abstractmethod
    def list_flows(self, limit: int = 200) -> list[Flow]: ...

    # -- runs
    @abstractmethod
    def create_flow_run(self, run: FlowRun) -> FlowRun:
        """Insert the run with its initial state (in history too). A run whose idempotency key
        is already taken is not inserted: the existing run is returned."""

    @abstractmethod
    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun | None: ...

    @abstractmethod
    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        """Newest first, `flt.limit` at a time; `next_cursor` continues after the last item."""

    @abstractmethod
    def create_task_run(self, run: TaskRun) -> TaskRun:
        """Insert the task run with its initial state; idempotent on
        (flow_run_id, task_key, dynamic_key): the existing run is returned."""

    @abstractmethod
    def read_task_run(self, run_id: uuid.UUID) -> TaskRun | None: ...

    @abstractmethod
    def list_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        """Task runs of a flow run, in creation order."""

    # -- states
    @abstractmethod
    def read_state_history(self, kind: RunKind, run_id: uuid.UUID) -> list[State]:
        """Every state the run has had, oldest first."""

    @abstractmethod
    def commit_transition(self, write: TransitionWrite) -> None:
        """Write the new state, its history entries, run bookkeeping, slot counters and cache
        entry atomically. Raises `VersionConflict` or `SlotsUnavailable`; then nothing is written."""

    # -- cache
    @abstractmethod
    def read_cache(self, key: str, now: dt.datetime) -> State | None:
        """The cached COMPLETED state for `key`, unless it has expired."""

    # -- concurrency limits
    @abstractmethod
    def upsert_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit: ...

    @abstractmethod
    def read_concurrency_limits(self, tags: Sequence[str]) -> dict[str, ConcurrencyLimit]: ...

    @abstractmethod
    def list_concurrency_limits(self) -> list[ConcurrencyLimit]: ...

    @abstractmethod
    def delete_concurrency_limit(self, tag: str) -> bool:
        """True if a limit was deleted."""

    # -- logs
    @abstractmethod
    def write_logs(self, logs: Sequence[LogCreate]) -> None: ...

    @abstractmethod
    def read_logs(self, flow_run_id: uuid.UUID, limit: int = 1000, offset: int = 0) -> list[Log]:
        """Logs of a flow run (its tasks' included), in time order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
