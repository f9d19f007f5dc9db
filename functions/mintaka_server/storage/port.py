"""The store port: what the service needs from a database, and nothing more.

Every operation maps onto GetItem / Query / TransactWriteItems (no scans), so the DynamoDB
adapter can serve it as cheaply as SQLite. Writes are atomic; a state transition is one
write conditional on the run's version (`VersionConflict` when it lost a race).
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from mintaka_core.copying import updated
from mintaka_core.exceptions import Conflict, ObjectNotFound
from mintaka_core.schemas import (
    ApiKey,
    ConcurrencyLimit,
    Flow,
    FlowRun,
    FlowRunFilter,
    FlowRunPage,
    Log,
    LogCreate,
    TaskRun,
)
from mintaka_core.states import State, StateType
from mintaka_server.orchestration import CacheInsert
from mintaka_server.orchestration.context import RunKind, SlotHolder, SlotReclaim


class VersionConflict(Conflict):
    """The run changed since it was read; re-read and decide again."""


class SlotsUnavailable(Conflict):
    """A concurrency slot was taken between the read and the write."""


class FlowRunClosed(Conflict):
    """The flow run of a task run to be started is finished or being cancelled (`state_type`)."""

    def __init__(self, flow_run_id: uuid.UUID, state_type: StateType | None):
        now = state_type.value if state_type else "closed"
        super().__init__(f"Flow run {flow_run_id} is {now}; its tasks may not start")
        self.flow_run_id = flow_run_id
        self.state_type = state_type


def lessee_of(run: FlowRun | TaskRun) -> uuid.UUID:
    """The run whose lease keeps `run`'s slots: a task run's flow run (whose process heartbeats
    for all of its task runs), else the run itself."""
    return getattr(run, "flow_run_id", None) or run.id


def flow_run_not_found(flow_run_id: uuid.UUID) -> ObjectNotFound:
    """The error every adapter raises for a task run whose flow run does not exist."""
    return ObjectNotFound(f"No flow run with id {flow_run_id}")


@dataclass
class TransitionWrite:
    """One state transition: all of it is written, or none of it.

    `run` is the run as read before the decision; the write succeeds only if the stored run
    still has `expected_version` (by default the version that was read)."""

    kind: RunKind
    run: FlowRun | TaskRun
    state: State
    history_before: list[State] = field(default_factory=list)
    run_count: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    acquire_slots: Sequence[str] = ()
    release_slots: Sequence[str] = ()
    cache_insert: CacheInsert | None = None
    expected_version: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # Slots of silent holders given back in this write (each checked: its lessee's lease has
    # still expired at `now`, the limit is unchanged); then `acquire_slots` are taken.
    reclaim: Sequence[SlotReclaim] = ()
    now: dt.datetime | None = None
    lease_expires: dt.datetime | None = None  # grant the run a lease until then
    heartbeat_interval: float | None = None
    end_lease: bool = False
    reopened: bool = False  # running again after a final state: the end time is cleared

    def __post_init__(self) -> None:
        if self.expected_version is None:
            self.expected_version = self.run.state_version

    @property
    def run_id(self) -> uuid.UUID:
        return self.run.id

    def updated_run(self) -> FlowRun | TaskRun:
        """The run document after this transition (adapters write it; no read needed). Built
        once: the service keeps the same object as the run it last wrote."""
        built = self.__dict__.get("_updated_run")
        if built is None:
            built = self.__dict__["_updated_run"] = self._build_updated_run()
        return built

    def _build_updated_run(self) -> FlowRun | TaskRun:
        held = [t for t in self.run.held_slots if t not in self.release_slots]
        held += [t for t in self.acquire_slots if t not in held]
        updates: dict = {"state": self.state, "state_version": self.expected_version + 1, "held_slots": held}
        if self.run_count is not None:
            updates["run_count"] = self.run_count
        if self.start_time is not None:
            updates["start_time"] = self.start_time
        if self.end_time is not None:
            updates["end_time"] = self.end_time
        elif self.reopened:
            updates["end_time"] = None
        due = self.state.state_details.scheduled_time
        if due is not None and self.state.type is StateType.SCHEDULED and hasattr(self.run, "expected_start_time"):
            updates["expected_start_time"] = due
        if self.labels and hasattr(self.run, "labels"):
            updates["labels"] = {**self.run.labels, **self.labels}
        if self.heartbeat_interval is not None:
            updates["heartbeat_interval"] = self.heartbeat_interval
        return updated(self.run, **updates)


class ApiKeyRecord(ApiKey):
    """An API key as stored: a hash of the secret, never the secret."""

    secret_hash: str


def suspension_timeout(run: FlowRun) -> dt.datetime | None:
    """When a suspended run (PAUSED, rescheduled: no executor waits for it) times out; None if
    it is not suspended or has no timeout."""
    state = run.state
    if state is None or state.type is not StateType.PAUSED:
        return None
    details = state.state_details
    return details.pause_timeout if details.pause_reschedule else None


class RunStore(ABC):
    """Flows, flow runs, task runs and their states, with what a transition writes beside them:
    leases, concurrency-slot holders and cache entries."""

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes made inside commit together where the store can (one SQLite transaction: one
        commit for a batch of task-run reports instead of one per run); an exception escaping
        it writes none of them. Each write inside still succeeds or fails on its own. Stores
        without multi-write transactions commit each write as it comes."""
        yield

    # -- flows
    @abstractmethod
    def ensure_flow(self, name: str) -> Flow:
        """The flow with this name, created on first use."""

    @abstractmethod
    def list_flows(self, limit: int = 200) -> list[Flow]: ...

    # -- runs
    @abstractmethod
    def create_flow_run(
        self, run: FlowRun, history_before: Sequence[State] = (), *, lease_expires: dt.datetime | None = None
    ) -> FlowRun:
        """Insert the run with its state (history: `history_before`, then the state), and its
        lease until `lease_expires` if given. A run whose idempotency key is already taken is not
        inserted: the existing run is returned."""

    @abstractmethod
    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun | None: ...

    def read_flow_run_state_type(self, run_id: uuid.UUID) -> StateType | None:
        """The flow run's state type; None if it has no state or does not exist."""
        run = self.read_flow_run(run_id)
        return run.state.type if run is not None and run.state is not None else None

    @abstractmethod
    def list_due_flow_runs(
        self,
        before: dt.datetime,
        work_queue_name: str | None = None,
        limit: int = 100,
        after: FlowRun | None = None,
    ) -> list[FlowRun]:
        """SCHEDULED flow runs whose `expected_start_time` <= `before` (of one work queue, if
        given), earliest first (then by id); `after`: the last run of the previous page, to
        continue after it."""

    @abstractmethod
    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        """Newest first, `flt.limit` at a time; `next_cursor` continues after the last item."""

    @abstractmethod
    def create_task_run(
        self,
        run: TaskRun,
        history_before: Sequence[State] = (),
        acquire_slots: Sequence[str] = (),
        *,
        require_open_flow_run: bool = False,
    ) -> TaskRun:
        """Insert the task run with its state (history: `history_before`, then the state) and
        take a slot of each tag in `acquire_slots`, held by the run under its `lessee_of` lease
        (`SlotsUnavailable` if one is full: nothing is written). Idempotent on (flow_run_id,
        task_key, dynamic_key): an existing run is returned as it is, and no slot is taken.

        The run's flow run (if it has one) is checked in the same atomic write, never read first:
        missing → `ObjectNotFound` (`flow_run_not_found`); with `require_open_flow_run`, finished
        or cancelling (`FLOW_RUN_CLOSED`) → `FlowRunClosed`. Either way nothing is written."""

    def record_ended_task_run(self, run: TaskRun, history_before: Sequence[State] = ()) -> None:
        """Insert a task run that started and ended in this process (`run.state` final), as
        `create_task_run` does, whose answer the caller does not need. A store may commit such
        runs in groups: the run is then durable against a crash of this process when this
        returns, visible to this store's next operation, and to other processes a little later."""
        self.create_task_run(run, history_before)

    @abstractmethod
    def read_task_run(self, run_id: uuid.UUID) -> TaskRun | None: ...

    @abstractmethod
    def list_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        """Task runs of a flow run, in creation order."""

    @abstractmethod
    def list_unfinished_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        """Task runs of a flow run not in a terminal state (a flow run ending reads only these)."""

    # -- states
    @abstractmethod
    def read_state_history(self, kind: RunKind, run_id: uuid.UUID) -> list[State]:
        """Every state the run has had, oldest first."""

    @abstractmethod
    def commit_transition(self, write: TransitionWrite) -> None:
        """Write the new state, its history entries, run bookkeeping, slot counters and holders
        (reclaimed ones first), the run's lease and the cache entry atomically. Raises
        `VersionConflict` or `SlotsUnavailable` (also when a reclaimed holder's lease was renewed
        or its slot given back meanwhile); then nothing is written. Releasing a slot the run no
        longer holds (it was reclaimed) is a no-op."""

    # -- leases: a heartbeating run's hold on its slots, and the reaper's sign of life
    @abstractmethod
    def renew_leases(
        self, run_ids: Sequence[uuid.UUID], expires: dt.datetime, *, create: bool = False
    ) -> list[uuid.UUID]:
        """Extend the leases of these runs to `expires` (never shorten one); the ids that had a
        lease. A run without one (not started, finished) is left without, unless `create`."""

    @abstractmethod
    def read_leases(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dt.datetime]:
        """The lease expiry of each of these runs that has one."""

    def list_expired_leases(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        """Runs whose lease expired at or before `before`, earliest expiry first (the reaper's
        input). This fallback pages RUNNING and CANCELLING runs and reads their leases; a store
        with an index on lease expiry answers from the index alone."""
        expired: list[tuple[dt.datetime, uuid.UUID]] = []
        for state_type in (StateType.RUNNING, StateType.CANCELLING):
            cursor = None
            while True:
                page = self.list_flow_runs(FlowRunFilter(state_type=state_type, limit=200, cursor=cursor))
                leases = self.read_leases([run.id for run in page.items])
                expired += [(expires, run_id) for run_id, expires in leases.items() if expires <= before]
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
        return [run_id for _, run_id in sorted(expired)[:limit]]

    def list_upcoming_flow_runs(
        self, after: dt.datetime, limit: int = 10, *, flow_name: str | None = None, deployment_name: str | None = None
    ) -> list[FlowRun]:
        """SCHEDULED flow runs due after `after` (the dashboard's next runs), soonest first (then
        by id), of one flow or deployment if given. This fallback pages every SCHEDULED run; the
        stores read their due index from `after` on (SQLite) or its shards' Queries (DynamoDB)."""
        found: list[FlowRun] = []
        cursor = None
        while True:
            flt = FlowRunFilter(
                state_type=StateType.SCHEDULED,
                flow_name=flow_name,
                deployment_name=deployment_name,
                limit=200,
                cursor=cursor,
            )
            page = self.list_flow_runs(flt)
            found += [r for r in page.items if r.expected_start_time is not None and r.expected_start_time > after]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        return sorted(found, key=lambda run: (run.expected_start_time, str(run.id)))[:limit]

    def list_expired_suspensions(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        """Suspended flow runs (PAUSED with `pause_reschedule`) whose `pause_timeout` is at or
        before `before`, earliest timeout first. This fallback pages every PAUSED run; the
        stores answer from an index on the timeout (DynamoDB) or a bounded query (SQLite)."""
        expired: list[tuple[dt.datetime, uuid.UUID]] = []
        cursor = None
        while True:
            page = self.list_flow_runs(FlowRunFilter(state_type=StateType.PAUSED, limit=200, cursor=cursor))
            for run in page.items:
                if (timeout := suspension_timeout(run)) is not None and timeout <= before:
                    expired.append((timeout, run.id))
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        return [run_id for _, run_id in sorted(expired)[:limit]]

    @abstractmethod
    def read_slot_holders(self, tag: str) -> list[SlotHolder]:
        """The runs holding a slot of `tag` and their lessees (`expires` not filled in)."""

    # -- cache
    @abstractmethod
    def read_cache(self, key: str, now: dt.datetime) -> State | None:
        """The cached COMPLETED state for `key`, unless it has expired."""


class ConcurrencyLimitStore(ABC):
    """Tag concurrency limits (their slots are taken and given back by `RunStore`'s writes)."""

    @abstractmethod
    def upsert_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit: ...

    @abstractmethod
    def read_concurrency_limits(self, tags: Sequence[str]) -> dict[str, ConcurrencyLimit]: ...

    @abstractmethod
    def list_concurrency_limits(self) -> list[ConcurrencyLimit]: ...

    @abstractmethod
    def delete_concurrency_limit(self, tag: str) -> bool:
        """True if a limit was deleted."""


class LogStore(ABC):
    """Log lines of runs."""

    @abstractmethod
    def write_logs(self, logs: Sequence[LogCreate]) -> None: ...

    @abstractmethod
    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        """Logs of a flow run (its tasks' included) at `min_level` or above, in time order
        (write order among equal timestamps), or the reverse with `newest_first`; `offset` and
        `limit` count the lines that match."""


class ApiKeyStore(ABC):
    """API keys, as hashes of their secrets."""

    @abstractmethod
    def create_api_key(self, record: ApiKeyRecord) -> None: ...

    @abstractmethod
    def read_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    @abstractmethod
    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key, revoked ones included, oldest first."""

    @abstractmethod
    def revoke_api_key(self, key_id: str, at: dt.datetime) -> bool:
        """True if the key existed (revoking twice keeps the first time)."""


class DocumentStore(ABC):
    """Small JSON records addressed by kind and key (deployments, work queues, retry policies,
    schedule cursors, leader leases, saved views) and server settings."""

    # -- documents: deployments, work queues and other small records addressed by kind + key
    @abstractmethod
    def put_document(self, kind: str, key: str, doc: dict) -> None:
        """Create or replace."""

    @abstractmethod
    def read_document(self, kind: str, key: str) -> dict | None: ...

    @abstractmethod
    def list_documents(self, kind: str) -> list[dict]:
        """Every document of a kind, ordered by key."""

    @abstractmethod
    def delete_document(self, kind: str, key: str) -> bool:
        """True if it existed."""

    @abstractmethod
    def swap_document(self, kind: str, key: str, doc: dict, expected_version: int | None) -> bool:
        """Compare-and-set for a document several processes update (schedule cursors, leader
        leases): store `doc` with `"version": expected_version + 1` (1 when None) only if the
        stored document's `version` is `expected_version` (None: there is no such document).
        False, writing nothing, when another writer got there first."""

    # -- server settings (small JSON documents, e.g. the default result storage)
    @abstractmethod
    def read_setting(self, name: str) -> dict | None: ...

    @abstractmethod
    def write_setting(self, name: str, value: dict) -> None: ...


class Store(RunStore, ConcurrencyLimitStore, LogStore, ApiKeyStore, DocumentStore):
    """The whole persistence port, as each adapter implements it. Code that needs one part takes
    that narrow port instead (a service of API keys takes an `ApiKeyStore`), so what it may touch
    is in its signature."""

    def close(self) -> None:
        """Release connections."""
