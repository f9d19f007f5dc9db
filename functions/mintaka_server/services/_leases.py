"""Leases in the service: what a full limit's holders are, what follows a transition that took
slots back or ended a flow run's attempt, and ending a run whose lease lapsed. Mixed into
`OrchestrationService`, whose store, clock and `_set_state` it uses."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from mintaka_core.exceptions import MintakaError, ObjectNotFound
from mintaka_core.schemas import FlowRun, SetStateRequest, SetStateStatus, TaskRun
from mintaka_core.states import NOT_READY, State, StateDetails, StateType
from mintaka_server.orchestration import Decision, SlotUsage
from mintaka_server.orchestration.context import LEASE_INTERVALS, RunKind, SlotHolder, lease_expiry
from mintaka_server.orchestration.rules import REQUEUED

logger = logging.getLogger("mintaka_server.services.orchestration")

# The interval of a run whose executor beats without declaring one (an older SDK): 3 of them are
# the 90 s after which such runs were always reaped.
DEFAULT_HEARTBEAT_INTERVAL = 30.0
# Silent holders one write may take slots back from (each is two items of a DynamoDB transaction).
MAX_RECLAIMED_PER_WRITE = 20
_LIVE = frozenset({StateType.RUNNING, StateType.CANCELLING})  # states an executor is behind


class LeaseKeeping:
    """Needs the host's `store`, `clock` and `_set_state`."""

    def _slot_usage(self, keys, lessee: uuid.UUID | None = None) -> dict[str, SlotUsage]:
        """Each limit's usage; a full one also with its leased holders (the rules decide which
        are silent), except those of `lessee`, the proposing run's own."""
        usage = {}
        for key, limit in self.store.read_concurrency_limits(keys).items():
            holders: tuple[SlotHolder, ...] = ()
            if 0 < limit.limit <= limit.active_slots:
                holders = self._leased_holders(key, lessee)
            usage[key] = SlotUsage(limit.limit, limit.active_slots, holders)
        return usage

    def _leased_holders(self, key: str, lessee: uuid.UUID | None) -> tuple[SlotHolder, ...]:
        """Only read when a limit is full: a free slot costs no read of its holders."""
        holders = [h for h in self.store.read_slot_holders(key) if h.lessee != lessee]
        leases = self.store.read_leases(list({h.lessee for h in holders}))
        leased = [SlotHolder(h.holder, h.lessee, leases[h.lessee]) for h in holders if h.lessee in leases]
        leased.sort(key=lambda h: h.expires)
        return tuple(leased[:MAX_RECLAIMED_PER_WRITE])

    def _after_commit(self, kind: RunKind, run: FlowRun | TaskRun, decision: Decision, now: dt.datetime) -> None:
        """What follows a transition, each step its own transition: the runs whose slots it took
        back end CRASHED (no executor is behind them), and a flow run's attempt that ended takes
        its unfinished task runs with it. A failure here is logged: the transition stands."""
        try:
            for lessee in dict.fromkeys(h.lessee for reclaim in decision.reclaim for h in reclaim.holders):
                self.end_silent_run(lessee, "found by a run waiting for its concurrency slots", now)
            if kind == "flow_run" and (decision.state.is_final() or _requeued(decision.state)):
                self._end_task_runs(run.id, decision.state)
            elif kind == "flow_run" and decision.reopened and decision.state.state_details.revives is not None:
                self._revive_task_runs(run.id)
        except MintakaError:
            logger.exception("Cleaning up after a transition of %s %s failed", kind, run.id)

    def end_silent_run(self, run_id: uuid.UUID, found_by: str, now: dt.datetime | None = None) -> bool:
        """End a run whose lease has expired by `now` CRASHED (or requeued, or CANCELLED if it was
        being cancelled: the rules decide): a flow run, or a task run called outside any flow.
        True if this call ended it."""
        kind: RunKind = "flow_run"
        run: FlowRun | TaskRun | None = self.store.read_flow_run(run_id)
        if run is None:  # a lessee is a flow run, or a task run that ran outside any flow
            kind, run = "task_run", self.store.read_task_run(run_id)
        if run is None or run.state_type not in _LIVE:
            return False
        expires = self.store.read_leases([run_id]).get(run_id)
        now = now or self.clock()
        if expires is None or expires > now:  # it beat meanwhile: alive after all
            return False
        interval = run.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
        silent = (now - expires).total_seconds() + LEASE_INTERVALS * interval
        message = f"No heartbeat for {silent:.0f} s ({found_by}): the run's executor was lost"
        # Marked reaped: if its executor was only cut off from the API, it revives the run.
        reaped = State(type=StateType.CRASHED, message=message, state_details=StateDetails(reaped=True))
        answer = self._set_state(kind, run_id, SetStateRequest(state=reaped))
        return answer.status is SetStateStatus.ACCEPT

    def heartbeat_task_run(self, run_id: uuid.UUID, interval: float | None = None) -> TaskRun:
        """Renew the lease of a running task run called outside any flow (one in a flow is kept by
        its flow run's lease: nothing changes for it). The answer is the task run."""
        run = self.store.read_task_run(run_id)
        if run is None:
            raise ObjectNotFound(f"No task run with id {run_id}")
        if run.flow_run_id is None and run.state_type in _LIVE:
            every = interval or run.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
            self.store.renew_leases([run_id], lease_expiry(self.clock(), every), create=True)
        return run

    def _end_task_runs(self, flow_run_id: uuid.UUID, ended: State) -> None:
        """Task runs still unfinished when their flow run's attempt ended (its process died, it
        was cancelled, requeued or forced) end too, and give back their slots: CANCELLED with a
        cancelled flow run, else CRASHED (as Prefect's engine marks them). A NotReady one (PENDING
        because an upstream failed) is left as it is: that is its final answer in Prefect 2."""
        for task_run in self.store.list_unfinished_task_runs(flow_run_id):
            if (
                task_run.state is not None
                and task_run.state.type is StateType.PENDING
                and task_run.state.name == NOT_READY
            ):
                continue
            if ended.type is StateType.CANCELLED:
                state = State(type=StateType.CANCELLED, message="Its flow run was cancelled")
            else:
                message = f"Its flow run ended ({ended.name}) before it finished"
                details = StateDetails(reaped=ended.state_details.reaped)  # revived with it, if it is
                state = State(type=StateType.CRASHED, message=message, state_details=details)
            self._set_state("task_run", task_run.id, SetStateRequest(state=state))

    def _revive_task_runs(self, flow_run_id: uuid.UUID) -> None:
        """A revived flow run's task runs that were ended with it run on too (their executor is
        the same). They hold no slots now: those went back when the run was reaped."""
        for task_run in self.store.list_task_runs(flow_run_id):  # rare: only on a revival
            current = task_run.state
            if current is None or current.type is not StateType.CRASHED or not current.state_details.reaped:
                continue
            message = "Resumed with its flow run, whose executor was alive"
            revival = State(type=StateType.RUNNING, message=message, state_details=StateDetails(revives=current.id))
            self._set_state("task_run", task_run.id, SetStateRequest(state=revival))


def _requeued(state: State) -> bool:
    return state.type is StateType.SCHEDULED and state.name == REQUEUED
