"""Properties of the core policies over arbitrary sequences of proposals (hypothesis).

A run is simulated the way the store applies a committed decision; whatever clients propose,
and whatever the prefetched facts say (flow state, cache, slot usage), the invariants hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mintaka.schemas import EmpiricalPolicy, SetStateStatus
from mintaka.states import TERMINAL_STATE_TYPES, ResultRef, State, StateDetails, StateType
from mintaka_server.orchestration import RunSnapshot, SlotUsage, TransitionContext, evaluate

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
REF = ResultRef(storage="file:///tmp/results", key="k")


@dataclass(frozen=True)
class Proposal:
    state_type: StateType
    name: str
    idempotency_key: str | None
    scheduled_in: float | None
    cache_key: str | None
    flow_state: StateType | None
    cache_hit: bool
    limit: tuple[int, int] | None
    jitter: float
    tick: float


# Biased toward the moves that exercise most rules (starts, failures) so that runs do not
# all end after a step or two; every type still appears.
proposal_types = st.one_of(
    st.sampled_from([StateType.RUNNING, StateType.FAILED, StateType.PENDING, StateType.SCHEDULED]),
    st.sampled_from(list(StateType)),
)
proposals = st.builds(
    Proposal,
    state_type=proposal_types,
    name=st.sampled_from(["", "", "AwaitingRetry", "Expected Failure"]),
    idempotency_key=st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3"])),
    scheduled_in=st.one_of(st.none(), st.floats(min_value=-60, max_value=60)),
    cache_key=st.one_of(st.none(), st.just("ck")),
    flow_state=st.one_of(st.none(), st.just(StateType.RUNNING), st.sampled_from(list(StateType))),
    cache_hit=st.integers(0, 4).map(lambda n: n == 0),
    limit=st.one_of(st.none(), st.tuples(st.integers(0, 3), st.integers(0, 4))),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
    tick=st.floats(min_value=0, max_value=120),
)


@dataclass
class SimulatedRun:
    snapshot: RunSnapshot
    accepted_running: int = 0
    version: int = 0


def commit(run: SimulatedRun, decision, now: dt.datetime) -> None:
    """What `Store.commit_transition` does with a committed decision."""
    snap = run.snapshot
    held = [t for t in snap.held_slots if t not in decision.release_slots] + list(decision.acquire_slots)
    run.snapshot = replace(
        snap,
        state=decision.state,
        run_count=decision.run_count if decision.run_count is not None else snap.run_count,
        start_time=decision.start_time or snap.start_time,
        held_slots=tuple(held),
    )
    run.version += 1
    resumed = snap.state.type is StateType.PAUSED and snap.run_count > 0  # continues the attempt
    if decision.state.type is StateType.RUNNING and not resumed:
        run.accepted_running += 1


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["flow_run", "task_run"]),
    retries=st.integers(0, 3),
    delays=st.lists(st.floats(min_value=0, max_value=30), max_size=3),
    jitter_factor=st.one_of(st.none(), st.floats(min_value=0, max_value=2)),
    tags=st.sampled_from([(), ("db",), ("db", "db")]),
    steps=st.lists(proposals, min_size=1, max_size=40),
)
def test_terminal_runs_stay_terminal_and_run_count_counts_starts(kind, retries, delays, jitter_factor, tags, steps):
    policy = EmpiricalPolicy(retries=retries, retry_delay_seconds=delays, retry_jitter_factor=jitter_factor)
    initial = State(type=StateType.PENDING, timestamp=NOW)
    run = SimulatedRun(RunSnapshot(kind=kind, state=initial, empirical_policy=policy, tags=tags))
    now = NOW
    for step in steps:
        now += dt.timedelta(seconds=step.tick)
        details = StateDetails(
            idempotency_key=step.idempotency_key,
            cache_key=step.cache_key,
            scheduled_time=None if step.scheduled_in is None else now + dt.timedelta(seconds=step.scheduled_in),
        )
        proposed = State(type=step.state_type, name=step.name, timestamp=now, state_details=details)
        cached = State(type=StateType.COMPLETED, data=REF) if step.cache_hit else None
        ctx = TransitionContext(
            run=run.snapshot,
            proposed=proposed,
            now=now,
            flow_run_state=State(type=step.flow_state) if step.flow_state else None,
            cached_state=cached,
            concurrency={"db": SlotUsage(*step.limit)} if step.limit else {},
            jitter=step.jitter,
        )
        before = run.snapshot
        was_terminal = before.state.type in TERMINAL_STATE_TYPES
        decision = evaluate(ctx)

        assert decision.state is not None
        if decision.status is not SetStateStatus.ACCEPT:
            assert decision.commit is False
            assert decision.state is before.state  # refusals answer with the server's state
        if decision.status is SetStateStatus.WAIT:
            assert decision.delay_seconds > 0
        if decision.is_accept and not decision.commit:  # only a duplicate proposal
            assert decision.state is before.state
            assert step.idempotency_key == before.state.state_details.idempotency_key
        if was_terminal:
            assert not (decision.is_accept and decision.commit)
            assert decision.state.type is before.state.type

        if decision.is_accept and decision.commit:
            commit(run, decision, now)
        after = run.snapshot
        if was_terminal:
            assert after is before
        # Bookkeeping: run_count is exactly the number of accepted starts (moves into RUNNING
        # but resumes).
        assert after.run_count == run.accepted_running
        assert (after.start_time is not None) == (after.run_count > 0)
        # Slots are held only while RUNNING, at most one per tag.
        if after.held_slots:
            assert after.state.type is StateType.RUNNING
        assert len(after.held_slots) == len(set(after.held_slots))
        # The server retries a failure only while attempts so far are within the policy.
        if decision.history_before:
            assert decision.state.name == "AwaitingRetry"
            assert 1 <= after.run_count <= retries


@settings(max_examples=200, deadline=None)
@given(retries=st.integers(0, 5))
def test_attempts_are_bounded_by_retries(retries):
    """A task that fails every time it runs gets exactly retries + 1 attempts, then FAILED."""
    policy = EmpiricalPolicy(retries=retries)
    run = SimulatedRun(
        RunSnapshot(kind="task_run", state=State(type=StateType.PENDING, timestamp=NOW), empirical_policy=policy)
    )
    for _ in range(retries + 5):
        if run.snapshot.state.type in TERMINAL_STATE_TYPES:
            break
        for proposed_type in (StateType.RUNNING, StateType.FAILED):
            ctx = TransitionContext(run=run.snapshot, proposed=State(type=proposed_type, timestamp=NOW), now=NOW)
            decision = evaluate(ctx)
            assert decision.is_accept
            commit(run, decision, NOW)
    assert run.snapshot.state.type is StateType.FAILED
    assert run.snapshot.run_count == retries + 1
