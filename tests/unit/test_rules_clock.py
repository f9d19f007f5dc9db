"""One clock reaches the rules: every state a rule makes carries the transition's `now`.

`now` here is in 2031, far from the wall clock, and the proposal and the run's current state
carry other times still, so a state stamped by a `utcnow()` default, or copied from the
proposal, cannot pass for one stamped with `ctx.now`.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from mintaka.schemas import EmpiricalPolicy, SetStateStatus
from mintaka.states import ResultRef, State, StateDetails, StateType
from mintaka_server.orchestration import RunSnapshot, SlotUsage, TransitionContext, evaluate
from mintaka_server.orchestration import rules as r

NOW = dt.datetime(2031, 7, 4, 9, 30, tzinfo=dt.UTC)
PROPOSED_AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # what a client's clock said
CURRENT_AT = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)  # when the run entered its current state
REF = ResultRef(storage="file:///tmp/results", key="k")


def ctx_for(
    current: StateType | None,
    proposed: StateType,
    *,
    kind: str = "flow_run",
    current_name: str = "",
    retries: int = 0,
    delays: tuple[float, ...] = (),
    cached: bool = False,
    work_queue: str | None = None,
    run_count: int | None = None,
) -> TransitionContext:
    state = State(type=current, name=current_name, timestamp=CURRENT_AT) if current else None
    if run_count is None:
        run_count = 1 if current is StateType.RUNNING else 0
    details = StateDetails(cache_key="key" if cached else None)
    cached_state = None
    if cached:
        cached_state = State(type=StateType.COMPLETED, timestamp=CURRENT_AT, data=REF, state_details=details)
    return TransitionContext(
        run=RunSnapshot(
            kind=kind,
            state=state,
            run_count=run_count,
            empirical_policy=EmpiricalPolicy(retries=retries, retry_delay_seconds=list(delays)),
            work_queue_name=work_queue,
        ),
        proposed=State(type=proposed, timestamp=PROPOSED_AT, message="why", state_details=details),
        now=NOW,
        cached_state=cached_state,
        concurrency={},
    )


# -- each rule that makes a state


def test_cancelling_a_run_that_has_not_started_is_cancelled_at_now():
    decision = evaluate(ctx_for(StateType.SCHEDULED, StateType.CANCELLING))
    assert (decision.state.type, decision.state.timestamp) == (StateType.CANCELLED, NOW)
    assert decision.end_time == NOW


@pytest.mark.parametrize("ending", [StateType.FAILED, StateType.CRASHED, StateType.RUNNING])
def test_a_cancelling_run_ends_cancelled_at_now(ending):
    decision = evaluate(ctx_for(StateType.CANCELLING, ending))
    assert (decision.state.type, decision.state.timestamp) == (StateType.CANCELLED, NOW)


def test_a_cached_result_is_stamped_now():
    decision = evaluate(ctx_for(StateType.PENDING, StateType.RUNNING, kind="task_run", cached=True))
    assert (decision.state.name, decision.state.timestamp) == ("Cached", NOW)


@pytest.mark.parametrize("kind", ["flow_run", "task_run"])
def test_awaiting_retry_is_stamped_now_and_scheduled_from_now(kind):
    decision = evaluate(ctx_for(StateType.RUNNING, StateType.FAILED, kind=kind, retries=1, delays=(30,)))
    assert (decision.state.name, decision.state.timestamp) == ("AwaitingRetry", NOW)
    assert decision.state.state_details.scheduled_time == NOW + dt.timedelta(seconds=30)
    (failed,) = decision.history_before
    assert failed.type is StateType.FAILED  # the proposal, kept in history as it was proposed


def test_requeued_is_stamped_now_and_scheduled_from_now():
    decision = evaluate(ctx_for(StateType.RUNNING, StateType.CRASHED, work_queue="q", retries=1, delays=(5,)))
    assert (decision.state.name, decision.state.timestamp) == (r.REQUEUED, NOW)
    assert decision.state.state_details.scheduled_time == NOW + dt.timedelta(seconds=5)


@pytest.mark.parametrize("kind", ["flow_run", "task_run"])
def test_retrying_is_stamped_now(kind):
    decision = evaluate(
        ctx_for(StateType.SCHEDULED, StateType.RUNNING, kind=kind, current_name="AwaitingRetry", run_count=1)
    )
    assert (decision.state.name, decision.state.timestamp) == ("Retrying", NOW)
    assert decision.run_count == 2


def test_bookkeeping_times_are_now():
    started = evaluate(ctx_for(StateType.PENDING, StateType.RUNNING, kind="task_run"))
    assert started.start_time == NOW
    ended = evaluate(ctx_for(StateType.RUNNING, StateType.COMPLETED, kind="task_run"))
    assert ended.end_time == NOW


# -- the whole table: a state is the proposal as sent, the run's own, or made at `now`

VARIANTS = [
    {},
    {"retries": 2, "delays": (10,)},
    {"cached": True},
    {"work_queue": "q", "retries": 1},
    {"current_name": "AwaitingRetry"},
]


@pytest.mark.parametrize("kind", ["flow_run", "task_run"])
def test_every_state_a_policy_makes_is_stamped_now(kind):
    checked = 0
    for current, proposed, variant in itertools.product([None, *StateType], StateType, VARIANTS):
        if variant.get("current_name") and current is not StateType.SCHEDULED:
            continue
        ctx = ctx_for(current, proposed, kind=kind, **variant)
        decision = evaluate(ctx)
        for made in [decision.state, *decision.history_before]:
            if made is ctx.proposed or made is ctx.run.state:
                continue
            if made.id == ctx.proposed.id and made.type is ctx.proposed.type and made.name == ctx.proposed.name:
                assert made.timestamp in (PROPOSED_AT, NOW)  # the proposal itself, unchanged
                continue
            assert made.timestamp == NOW, (current, proposed, variant, made)
            checked += 1
        if decision.status is SetStateStatus.ACCEPT and decision.cache_insert is not None:
            assert decision.cache_insert.state is decision.state
    assert checked >= 5  # cancelled, cached, awaiting retry, requeued, retrying: some apply to each kind


def test_the_concurrency_rules_make_no_state():
    ctx = ctx_for(StateType.PENDING, StateType.RUNNING, kind="task_run")
    ctx = TransitionContext(
        run=RunSnapshot(kind="task_run", state=ctx.run.state, tags=("db",)),
        proposed=ctx.proposed,
        now=NOW,
        concurrency={"db": SlotUsage(limit=1, active=1)},
    )
    decision = evaluate(ctx)
    assert decision.status is SetStateStatus.WAIT
    assert decision.state is ctx.run.state
