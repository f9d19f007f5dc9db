"""What a rule sees (`TransitionContext`) and what the policy decides (`Decision`). Pure data."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Literal

from mintaka_core.schemas import EmpiricalPolicy, SetStateStatus
from mintaka_core.states import State, StateType

RunKind = Literal["flow_run", "task_run"]

# A run is alive while its executor heartbeats; it is declared lost (its lease expires) after
# this many of its declared intervals without one.
LEASE_INTERVALS = 3


def lease_expiry(now: dt.datetime, interval: float) -> dt.datetime:
    """When the lease of a run that beat at `now`, every `interval` seconds, runs out."""
    return now + dt.timedelta(seconds=LEASE_INTERVALS * interval)


def work_queue_slot(name: str) -> str:
    """Work-queue concurrency is a concurrency limit on this key, enforced like tag limits."""
    return f"work-queue:{name}"


@dataclass(frozen=True)
class RunSnapshot:
    """The run as the store had it when the proposal arrived."""

    kind: RunKind
    state: State | None
    run_count: int = 0
    empirical_policy: EmpiricalPolicy = field(default_factory=EmpiricalPolicy)
    tags: tuple[str, ...] = ()
    held_slots: tuple[str, ...] = ()
    start_time: dt.datetime | None = None
    work_queue_name: str | None = None
    heartbeat_interval: float | None = None  # stored on the run: it holds a lease
    flow_run_id: uuid.UUID | None = None  # a task run's flow run (None: called outside any flow)
    parent_task_run_id: uuid.UUID | None = None  # a subflow run's stand-in in its parent

    @property
    def holds_own_lease(self) -> bool:
        """Whose executor heartbeats for it: a flow run, and a task run called outside any flow
        (a task run in a flow is kept by its flow run's lease)."""
        return self.kind == "flow_run" or self.flow_run_id is None

    @property
    def queue_slot(self) -> str | None:
        """The concurrency-limit key of the run's work queue (flow runs from deployments)."""
        return work_queue_slot(self.work_queue_name) if self.work_queue_name else None

    @property
    def state_type(self) -> StateType | None:
        return self.state.type if self.state else None


@dataclass(frozen=True)
class SlotHolder:
    """A run holding a slot, and the run whose heartbeat keeps it (`lessee`: the task run's flow
    run, or the run itself) with that lease's expiry (None: no lease, it never expires)."""

    holder: uuid.UUID
    lessee: uuid.UUID
    expires: dt.datetime | None = None


@dataclass(frozen=True)
class SlotUsage:
    limit: int
    active: int
    holders: tuple[SlotHolder, ...] = ()  # read only when the limit is full


@dataclass(frozen=True)
class SlotReclaim:
    """Slots of silent holders taken back in the acquiring write: the store re-checks that each
    lessee's lease is still expired at `now` and that the limit is still `limit`."""

    tag: str
    limit: int
    holders: tuple[SlotHolder, ...]


@dataclass(frozen=True)
class TransitionContext:
    """Everything a rule may read. The service prefetches it, so rules never do I/O."""

    run: RunSnapshot
    proposed: State
    now: dt.datetime
    flow_run_state: State | None = None
    cached_state: State | None = None
    concurrency: dict[str, SlotUsage] = field(default_factory=dict)
    jitter: float = 0.0  # uniform in [0, 1); the service draws it so rules stay deterministic
    heartbeat_interval: float | None = None  # declared with the proposal


@dataclass
class CacheInsert:
    key: str
    state: State
    expiration: dt.datetime | None


@dataclass
class Decision:
    """The policy's verdict and the writes it implies (committed atomically by the store)."""

    status: SetStateStatus
    state: State | None
    reason: str | None = None
    delay_seconds: float | None = None
    commit: bool = True
    history_before: list[State] = field(default_factory=list)
    acquire_slots: tuple[str, ...] = ()
    release_slots: tuple[str, ...] = ()
    cache_insert: CacheInsert | None = None
    run_count: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    reclaim: tuple[SlotReclaim, ...] = ()
    lease_expires: dt.datetime | None = None  # grant or renew the run's lease
    heartbeat_interval: float | None = None  # stored on the run with the lease
    end_lease: bool = False
    reopened: bool = False  # a reaped run revived: it is running again, with no end time

    @property
    def is_accept(self) -> bool:
        return self.status is SetStateStatus.ACCEPT

    def refuse(self, status: SetStateStatus, state: State | None, reason: str, delay: float | None = None):
        self.status, self.state, self.reason, self.delay_seconds = status, state, reason, delay
        self.commit = False
