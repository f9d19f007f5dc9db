"""Orchestration rules. Each declares the transitions it governs (FROM types, TO types) and
may reject, delay, abort or rewrite the proposal. Rules are pure: they read a
`TransitionContext` and mutate only the `Decision` they are handed. They never read the clock:
every state a rule makes is stamped with the transition's time, `ctx.now`.

`None` in FROM_STATES means "the run has no state yet" (its first state).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from mintaka_core.schemas import SetStateStatus
from mintaka_core.states import (
    AWAITING_RETRY,
    CACHED,
    LATE,
    RESUMING,
    RETRYING,
    TERMINAL_STATE_TYPES,
    State,
    StateDetails,
    StateType,
)

from .context import CacheInsert, Decision, SlotReclaim, SlotUsage, TransitionContext, lease_expiry
from .run_input import run_input_problems

ALL = frozenset([*StateType, None])
ACTIVE = frozenset(t for t in StateType if t not in TERMINAL_STATE_TYPES) | {None}
TERMINAL = frozenset(TERMINAL_STATE_TYPES)
# A flow run in one of these states starts no more tasks (the store checks it too, when a task
# run is created straight into RUNNING: see `Store.create_task_run`).
FLOW_RUN_CLOSED = TERMINAL | {StateType.CANCELLING}

# How long a client is asked to wait before proposing again when a concurrency slot is taken.
SLOT_WAIT_SECONDS = 0.5
# The SCHEDULED state of a deployment's run sent back to its queue after its executor was lost.
REQUEUED = "Requeued"


class Rule:
    FROM_STATES: Iterable[StateType | None] = ALL
    TO_STATES: Iterable[StateType] = frozenset(StateType)

    @classmethod
    def governs(cls, from_type: StateType | None, to_type: StateType) -> bool:
        return from_type in cls.FROM_STATES and to_type in cls.TO_STATES

    @staticmethod
    def apply(ctx: TransitionContext, decision: Decision) -> None:
        raise NotImplementedError


class IgnoreDuplicateProposal(Rule):
    """A client retrying a proposal after a timeout must not move the run twice: a proposal
    carrying the idempotency key of the current state is answered with that state."""

    @staticmethod
    def apply(ctx, decision):
        key = ctx.proposed.state_details.idempotency_key
        current = ctx.run.state
        if key and current is not None and current.state_details.idempotency_key == key:
            decision.refuse(SetStateStatus.ACCEPT, current, "Duplicate proposal; already accepted")


def revives_reaped_run(ctx: TransitionContext) -> bool:
    """A RUNNING proposal naming the state the reaper gave this run (CRASHED, or AwaitingRetry
    made from it; never Requeued: that run is any worker's now) while it is still the current one.
    Its executor was alive, only cut off from the API for longer than three heartbeat intervals."""
    current = ctx.run.state
    return (
        ctx.proposed.type is StateType.RUNNING
        and current is not None
        and ctx.proposed.state_details.revives == current.id
        and bool(current.state_details.reaped)
        and current.type in (StateType.CRASHED, StateType.SCHEDULED)
        and current.name != REQUEUED
    )


class RefuseStaleRevivals(Rule):
    """A revival is for the reaped state it names, and only while that is the run's state: once
    the run has moved on (requeued for another worker, cancelled, forced), its old executor stops."""

    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.proposed.state_details.revives is not None and not revives_reaped_run(ctx):
            decision.refuse(
                SetStateStatus.ABORT,
                ctx.run.state,
                f"The run has moved on since it was reaped (now {ctx.run.state.name if ctx.run.state else 'no state'})",
            )


class ReviveReapedRuns(Rule):
    """The revival policy's bookkeeping: the same attempt goes on (its run count and start time
    stay), and the end time the reaper set is cleared."""

    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        decision.reopened = True


def reenters_cut_off_run(ctx: TransitionContext) -> bool:
    """A RUNNING proposal naming the CRASHED state of a run that was cut off with its executor
    while it is still the current one: a subflow run, or a task run in a flow run (a subflow's
    stand-in in its parent), re-entered by the replay of the flow run above it."""
    current = ctx.run.state
    return (
        ctx.proposed.type is StateType.RUNNING
        and current is not None
        and current.type is StateType.CRASHED
        and ctx.proposed.state_details.reenters == current.id
        and (ctx.run.parent_task_run_id if ctx.run.kind == "flow_run" else ctx.run.flow_run_id) is not None
    )


class ReenterCutOffSubflows(Rule):
    """A subflow cut off halfway (its process killed, its executor out of time) ends CRASHED;
    the replay of its parent runs it again as the same run, so that what completed in it returns
    its recorded result: RUNNING again, as a new attempt, with no end time. Only a proposal naming
    the crashed state it re-enters: a stale one (the run has moved on since) is refused."""

    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.proposed.state_details.reenters is None:
            return
        if not reenters_cut_off_run(ctx):
            current = ctx.run.state.name if ctx.run.state else "no state"
            decision.refuse(
                SetStateStatus.ABORT, ctx.run.state, f"Only a crashed subflow can be re-entered (now {current})"
            )
            return
        decision.reopened = True


class PreventTransitionsFromTerminalStates(Rule):
    """A finished run stays finished: late or racing clients cannot resurrect it.
    (Retries happen before the FAILED state is written, see `RetryFailedRuns`.)"""

    FROM_STATES = TERMINAL

    @staticmethod
    def apply(ctx, decision):
        if decision.reopened or _reopens_refused_cache_hit(ctx, decision):  # re-entered (the rule above)
            return
        decision.refuse(
            SetStateStatus.REJECT,
            ctx.run.state,
            f"Run is already finished ({ctx.run.state.name}); terminal states are final",
        )


def _reopens_refused_cache_hit(ctx: TransitionContext, decision: Decision) -> bool:
    """A task run served from the cache, whose client refused the cached result (it failed the
    client's checks: see mintaka.results), goes back to PENDING to run, refreshing the entry.
    It never ran: nothing it did is undone."""
    current = ctx.run.state
    return (
        ctx.run.kind == "task_run"
        and current.type is StateType.COMPLETED
        and current.name == CACHED
        and decision.state.type is StateType.PENDING
        and bool(ctx.proposed.state_details.refresh_cache)
    )


class PreventDuplicateTransitions(Rule):
    """Two clients racing to start (or queue) the same run: the second proposal finds the run
    already in that state and is rejected, so exactly one of them executes it. A run that is
    already queued, running or cancelling may not go back to PENDING either: otherwise a late
    worker's PENDING would reset a run another worker started, and both would run it."""

    FROM_STATES = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})
    TO_STATES = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.state_type is decision.state.type or decision.state.type is StateType.PENDING:
            decision.refuse(SetStateStatus.REJECT, ctx.run.state, f"Run is already {ctx.run.state_type.value}")


class OnlyScheduledRunsBecomeLate(Rule):
    """ "Late" renames a SCHEDULED run that missed its time. The scheduler decides from a listing
    that may be stale: if a worker claimed the run meanwhile, marking it Late would make it due
    again, and a second worker could claim it, so the proposal is rejected."""

    FROM_STATES = ALL - {StateType.SCHEDULED}
    TO_STATES = frozenset({StateType.SCHEDULED})

    @staticmethod
    def apply(ctx, decision):
        if decision.state.name == LATE:
            current = ctx.run.state_type.value if ctx.run.state_type else "new"
            decision.refuse(SetStateStatus.REJECT, ctx.run.state, f"Only a SCHEDULED run can be Late (it is {current})")


class CancelRunsThatHaveNotStarted(Rule):
    """Cancelling a run nothing is executing yet (scheduled, paused, or claimed but not started)
    ends it at once: there is no executor to wait for. A worker or a Fargate task that claimed
    it finds it CANCELLED when it proposes RUNNING, and stops there."""

    FROM_STATES = frozenset({None, StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED})
    TO_STATES = frozenset({StateType.CANCELLING})

    @staticmethod
    def apply(ctx, decision):
        decision.state = _cancelled(decision.state.message, ctx)


class CancellingRunsEndCancelled(Rule):
    """A run being cancelled can only end. Its executor, interrupted, reports CRASHED or FAILED;
    a racing executor may still propose RUNNING (or a retry): each ends the run CANCELLED, so a
    cancelled run never starts again. COMPLETED is kept: the run finished before it was stopped."""

    FROM_STATES = frozenset({StateType.CANCELLING})
    TO_STATES = frozenset(
        {StateType.RUNNING, StateType.SCHEDULED, StateType.PAUSED, StateType.FAILED, StateType.CRASHED}
    )

    @staticmethod
    def apply(ctx, decision):
        decision.state = _cancelled(ctx.run.state.message, ctx)


def _cancelled(message: str | None, ctx: TransitionContext) -> State:
    # The proposal's key stays on the state that replaced it: the same proposal sent again
    # (its answer was lost) is then a duplicate, answered as the first, not a REJECT.
    key = ctx.proposed.state_details.idempotency_key
    details = StateDetails(idempotency_key=key) if key else StateDetails()
    return State(type=StateType.CANCELLED, timestamp=ctx.now, message=message or "Cancelled", state_details=details)


class ResumeOnlyWithinThePause(Rule):
    """A paused run resumes (RUNNING again) only before its pause times out: the paused flow
    gives up at that moment and fails, so a late resume must not revive it under its feet."""

    FROM_STATES = frozenset({StateType.PAUSED})
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        deadline = ctx.run.state.state_details.pause_timeout
        if deadline is not None and ctx.now >= deadline:
            decision.refuse(
                SetStateStatus.REJECT, ctx.run.state, f"The pause timed out at {deadline.isoformat()}; it cannot resume"
            )


class CheckRunInput(Rule):
    """A pause waiting for typed input (`wait_for_input`) resumes only with input its JSON schema
    accepts (none given is `{}`: enough when every field has a default), and a pause that waits
    for none takes none: the paused flow would otherwise fail on it, or never see it. The input
    travels on the state the run resumes to, where the flow (or its replay) reads it."""

    FROM_STATES = frozenset({StateType.PAUSED})
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        schema = ctx.run.state.state_details.run_input_schema
        given = ctx.proposed.state_details.run_input
        if schema is None:
            if given is not None:
                decision.refuse(SetStateStatus.REJECT, ctx.run.state, "This pause takes no input (no wait_for_input)")
            return
        problems = run_input_problems(schema, given)
        if problems:
            decision.refuse(SetStateStatus.REJECT, ctx.run.state, f"Invalid run input: {problems}")


class ResumeSuspendedRunsThroughTheirQueue(Rule):
    """A suspended run (paused with `reschedule`: its executor exited, holding nothing) has no
    process to resume in place: a resume sends it to its work queue instead, SCHEDULED
    "Resuming" and due now, and the executor that picks it up replays it to where it stopped."""

    FROM_STATES = frozenset({StateType.PAUSED})
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.state.state_details.pause_reschedule:
            key = ctx.proposed.state_details.idempotency_key
            decision.state = State(
                type=StateType.SCHEDULED,
                name=RESUMING,
                timestamp=ctx.now,
                message=ctx.proposed.message or "Resumed",
                state_details=StateDetails(
                    scheduled_time=ctx.now, idempotency_key=key, run_input=ctx.proposed.state_details.run_input
                ),
            )


class PreventRunningTasksInFinishedFlows(Rule):
    """A task may not start once its flow run has finished or is being cancelled: its result
    could never be used, and it would hold slots for nothing."""

    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        flow_state = ctx.flow_run_state
        if ctx.run.kind != "task_run" or flow_state is None:
            return
        if flow_state.type in FLOW_RUN_CLOSED:
            decision.refuse(
                SetStateStatus.ABORT,
                ctx.run.state,
                f"The flow run is {flow_state.type.value}; its tasks may not start",
            )


class WaitForScheduledTime(Rule):
    """A scheduled run (or one awaiting retry) may not start before its scheduled time."""

    FROM_STATES = frozenset({StateType.SCHEDULED})
    TO_STATES = frozenset({StateType.PENDING, StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        scheduled = ctx.run.state.state_details.scheduled_time
        if scheduled is None:
            return
        delay = (scheduled - ctx.now).total_seconds()
        if delay > 0:
            decision.refuse(SetStateStatus.WAIT, ctx.run.state, f"Scheduled for {scheduled.isoformat()}", delay)


class RetrieveCachedResult(Rule):
    """A task whose cache key has a live entry completes as "Cached" without running."""

    FROM_STATES = ACTIVE
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.kind != "task_run" or ctx.cached_state is None or ctx.proposed.state_details.refresh_cache:
            return
        cached = ctx.cached_state
        decision.state = State(
            type=StateType.COMPLETED,
            name=CACHED,
            timestamp=ctx.now,
            message=f"Cached result for key {ctx.proposed.state_details.cache_key!r}",
            data=cached.data,
            state_details=ctx.proposed.state_details.model_copy(
                update={"cache_expiration": cached.state_details.cache_expiration}
            ),
        )


def _free_slot(ctx: TransitionContext, tag: str, usage: SlotUsage) -> tuple[bool, SlotReclaim | None]:
    """Whether the limit has room for one more, and the silent holders to take it back from.
    A holder whose lessee's lease has expired (its process was killed, its machine lost) gives its
    slot back here, so a full limit never waits on the dead, even where no reaper runs."""
    if usage.active < usage.limit:
        return True, None
    silent = tuple(h for h in usage.holders if h.expires is not None and h.expires <= ctx.now)
    if silent and usage.active - len(silent) < usage.limit:
        return True, SlotReclaim(tag, usage.limit, silent)
    return False, None


class SecureTaskConcurrencySlots(Rule):
    """Tag concurrency limits: a task starts only if every limited tag has a free slot (or one a
    silent holder's expired lease frees). The store re-checks the counters (and that those leases
    are still expired) in the same atomic write, so a race cannot overfill."""

    FROM_STATES = ACTIVE - {StateType.RUNNING}
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.kind != "task_run" or decision.state.type is not StateType.RUNNING:
            return
        limited = [tag for tag in dict.fromkeys(ctx.run.tags) if tag in ctx.concurrency]
        reclaim = []
        for tag in limited:
            usage = ctx.concurrency[tag]
            if usage.limit == 0:
                decision.refuse(SetStateStatus.ABORT, ctx.run.state, f"Concurrency limit for tag {tag!r} is 0")
                return
            free, silent = _free_slot(ctx, tag, usage)
            if not free:
                decision.refuse(
                    SetStateStatus.WAIT,
                    ctx.run.state,
                    f"Concurrency limit for tag {tag!r} reached ({usage.active}/{usage.limit})",
                    SLOT_WAIT_SECONDS,
                )
                return
            if silent:
                reclaim.append(silent)
        decision.acquire_slots = tuple(limited)
        decision.reclaim = tuple(reclaim)


class SecureWorkQueueSlots(Rule):
    """A work queue's concurrency limit caps how many of its flow runs are RUNNING at once.
    Like tag limits, the store re-checks the counter in the same atomic write."""

    FROM_STATES = ACTIVE - {StateType.RUNNING}
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        slot = ctx.run.queue_slot
        if ctx.run.kind != "flow_run" or slot is None or slot not in ctx.concurrency:
            return
        usage = ctx.concurrency[slot]
        free, silent = _free_slot(ctx, slot, usage)
        if not free:
            decision.refuse(
                SetStateStatus.WAIT,
                ctx.run.state,
                f"Work queue {ctx.run.work_queue_name!r} is at its concurrency limit ({usage.active}/{usage.limit})",
                SLOT_WAIT_SECONDS,
            )
            return
        decision.acquire_slots = (slot,)
        decision.reclaim = (silent,) if silent else ()


class ReleaseConcurrencySlots(Rule):
    """Slots are released however a run leaves RUNNING (completed, failed, crashed, retrying)."""

    FROM_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if decision.state.type is not StateType.RUNNING and ctx.run.held_slots:
            decision.release_slots = ctx.run.held_slots


class LeaseRunningRuns(Rule):
    """A flow run whose executor declares a heartbeat interval holds a lease while it runs: the
    lease starts with the RUNNING state (so a process killed before its first beat is still
    found), each heartbeat renews it, and once the run has been silent for `LEASE_INTERVALS`
    intervals its slots are anyone's and the reaper ends it. The interval is the one declared with
    this proposal, else the one the run declared before (a retry, a resume). A task run called
    outside any flow is leased the same way (its slots would otherwise outlive a killed process);
    one in a flow is kept by its flow run's lease."""

    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        interval = ctx.heartbeat_interval or ctx.run.heartbeat_interval
        if ctx.run.holds_own_lease and interval:
            decision.lease_expires = lease_expiry(ctx.now, interval)
            decision.heartbeat_interval = interval


class EndLeases(Rule):
    """A run that ends, or goes back to waiting (a retry, a requeue), no longer has an executor to
    hear from: its lease ends with it. Only runs that held one are touched."""

    TO_STATES = TERMINAL | {StateType.SCHEDULED}

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.heartbeat_interval is not None and decision.state.type in EndLeases.TO_STATES:
            decision.end_lease = True


class RetryFailedRuns(Rule):
    """A failed attempt with retries left becomes AwaitingRetry (SCHEDULED at now + delay).
    The Failed state is kept in history so the failure stays visible."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    @staticmethod
    def apply(ctx, decision):
        if ctx.proposed.state_details.retriable is False:  # the task's retry_condition_fn said no
            return
        _schedule_retry(ctx, decision, AWAITING_RETRY)


class RequeueLostRuns(Rule):
    """A deployment's run whose executor was lost (the reaper found it silent, or a worker or
    container was stopped under it) ends CRASHED; with retries left it goes back to its work
    queue instead, SCHEDULED as "Requeued", for any worker to pick up: no executor is left to
    retry it (an "AwaitingRetry" run is its own executor's to retry). Crashed stays in history."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.CRASHED})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.kind == "flow_run" and ctx.run.work_queue_name:
            _schedule_retry(ctx, decision, REQUEUED)


def _schedule_retry(ctx: TransitionContext, decision: Decision, name: str) -> None:
    """With retries left, the proposed end becomes a SCHEDULED state `name` at now + delay."""
    policy = ctx.run.empirical_policy
    if ctx.run.run_count > policy.retries:
        return
    delays = policy.retry_delay_seconds
    attempt = max(ctx.run.run_count - 1, 0)
    delay = delays[min(attempt, len(delays) - 1)] if delays else 0.0
    if policy.retry_jitter_factor:
        # Clamped: rounding must not carry a delay past its documented bound.
        ceiling = delay * (1 + policy.retry_jitter_factor)
        delay = min(delay + delay * policy.retry_jitter_factor * ctx.jitter, ceiling)
    ended = decision.state
    decision.history_before.append(ended)
    decision.state = State(
        type=StateType.SCHEDULED,
        name=name,
        timestamp=ctx.now,
        message=ended.message,
        state_details=ended.state_details.model_copy(update={"scheduled_time": ctx.now + dt.timedelta(seconds=delay)}),
    )
    decision.delay_seconds = delay


class RenameRetryingRuns(Rule):
    """The attempt after AwaitingRetry is named "Retrying" so history reads as it happened."""

    FROM_STATES = frozenset({StateType.SCHEDULED})
    TO_STATES = frozenset({StateType.RUNNING})

    @staticmethod
    def apply(ctx, decision):
        if ctx.run.state.name == AWAITING_RETRY and decision.state.type is StateType.RUNNING:
            decision.state = decision.state.model_copy(update={"name": RETRYING, "timestamp": ctx.now})


class InsertCacheEntry(Rule):
    """A completed task with a cache key and a persisted result becomes the cache entry."""

    FROM_STATES = ACTIVE
    TO_STATES = frozenset({StateType.COMPLETED})

    @staticmethod
    def apply(ctx, decision):
        details = decision.state.state_details
        fresh = decision.state.data is not None and decision.state.name != CACHED
        if ctx.run.kind == "task_run" and details.cache_key and fresh:
            decision.cache_insert = CacheInsert(details.cache_key, decision.state, details.cache_expiration)


class UpdateRunBookkeeping(Rule):
    """Run count, start and end times follow the accepted state (last rule: sees the final word)."""

    @staticmethod
    def apply(ctx, decision):
        new_type = decision.state.type
        resumed = ctx.run.state_type is StateType.PAUSED and ctx.run.run_count > 0  # the same attempt goes on
        if new_type is StateType.RUNNING and not resumed:
            decision.run_count = ctx.run.run_count + 1
            if ctx.run.start_time is None:
                decision.start_time = ctx.now
        if new_type in TERMINAL_STATE_TYPES:
            decision.end_time = ctx.now
