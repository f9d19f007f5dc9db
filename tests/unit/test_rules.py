"""The rules engine, rule by rule and through the core policies (`evaluate`), table-driven.

Everything here is pure: a `TransitionContext` in, a `Decision` out, no store and no clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mintaka.schemas import EmpiricalPolicy, SetStateStatus
from mintaka.states import TERMINAL_STATE_TYPES, ResultRef, State, StateDetails, StateType
from mintaka_server.orchestration import (
    FLOW_RUN_POLICY,
    TASK_RUN_POLICY,
    Decision,
    RunSnapshot,
    SlotUsage,
    TransitionContext,
    evaluate,
    force,
)
from mintaka_server.orchestration import rules as r

ACCEPT, REJECT, WAIT, ABORT = (
    SetStateStatus.ACCEPT,
    SetStateStatus.REJECT,
    SetStateStatus.WAIT,
    SetStateStatus.ABORT,
)
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(hours=1)
REF = ResultRef(storage="file:///tmp/results", key="k1")
ALL_TYPES = list(StateType)
TERMINAL = sorted(TERMINAL_STATE_TYPES)
NON_TERMINAL = [t for t in StateType if t not in TERMINAL_STATE_TYPES]
KINDS = ["flow_run", "task_run"]
RACING = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def state(state_type: StateType, name: str = "", **details) -> State:
    return State(type=state_type, name=name, timestamp=EARLIER, state_details=StateDetails(**details))


def make_ctx(
    current: StateType | State | None,
    proposed: StateType | State,
    *,
    kind: str = "task_run",
    run_count: int | None = None,
    retries: int = 0,
    delays: tuple[float, ...] = (),
    jitter_factor: float | None = None,
    jitter: float = 0.0,
    tags: tuple[str, ...] = (),
    held: tuple[str, ...] = (),
    start_time: dt.datetime | None = None,
    flow_run_state: State | None = None,
    cached: State | None = None,
    limits: dict[str, tuple[int, int]] | None = None,
    work_queue: str | None = None,
) -> TransitionContext:
    if isinstance(current, StateType):
        current = state(current)
    if isinstance(proposed, StateType):
        proposed = State(type=proposed, timestamp=NOW)
    if run_count is None:  # a run that is (or was) RUNNING has run at least once
        run_count = 1 if current is not None and current.type is StateType.RUNNING else 0
    snapshot = RunSnapshot(
        kind=kind,
        state=current,
        run_count=run_count,
        empirical_policy=EmpiricalPolicy(
            retries=retries, retry_delay_seconds=list(delays), retry_jitter_factor=jitter_factor
        ),
        tags=tags,
        held_slots=held,
        start_time=start_time,
        work_queue_name=work_queue,
    )
    return TransitionContext(
        run=snapshot,
        proposed=proposed,
        now=NOW,
        flow_run_state=flow_run_state,
        cached_state=cached,
        concurrency={tag: SlotUsage(limit, active) for tag, (limit, active) in (limits or {}).items()},
        jitter=jitter,
    )


def apply_rule(rule: type[r.Rule], ctx: TransitionContext) -> Decision:
    """Run one rule on its own, as the evaluator would if it governs the transition."""
    decision = Decision(status=ACCEPT, state=ctx.proposed)
    assert rule.governs(ctx.run.state_type, ctx.proposed.type), f"{rule.__name__} does not govern this"
    rule.apply(ctx, decision)
    return decision


def assert_refused(decision: Decision, status: SetStateStatus, ctx: TransitionContext) -> None:
    assert decision.status is status
    assert decision.state is ctx.run.state  # the answer carries the server's state
    assert decision.commit is False
    assert decision.reason


def assert_accepted(decision: Decision, state_type: StateType) -> None:
    assert decision.status is ACCEPT
    assert decision.commit is True
    assert decision.state.type is state_type


# -- the whole transition table, plain states, through each policy


NOT_STARTED = [None, StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED]
END_CANCELLED = [StateType.RUNNING, StateType.SCHEDULED, StateType.PAUSED, StateType.FAILED, StateType.CRASHED]


def expected_status(from_type: StateType | None, to_type: StateType) -> SetStateStatus:
    if from_type in TERMINAL_STATE_TYPES:
        return REJECT
    if from_type in RACING and (to_type is from_type or to_type is StateType.PENDING):
        return REJECT
    return ACCEPT


def expected_flow_run_rewrite(from_type: StateType | None, to_type: StateType) -> StateType | None:
    """Flow runs only: cancelling what has not started ends it; a cancelling run can only end."""
    if to_type is StateType.CANCELLING and from_type in NOT_STARTED:
        return StateType.CANCELLED
    if from_type is StateType.CANCELLING and to_type in END_CANCELLED:
        return StateType.CANCELLED
    return None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("from_type", "to_type"), list(itertools.product([None, *ALL_TYPES], ALL_TYPES)))
def test_transition_table(kind, from_type, to_type):
    ctx = make_ctx(from_type, to_type, kind=kind)
    decision = evaluate(ctx)
    rewrite = expected_flow_run_rewrite(from_type, to_type) if kind == "flow_run" else None
    if expected_status(from_type, to_type) is not ACCEPT:
        assert_refused(decision, REJECT, ctx)
    elif rewrite is not None:
        assert_accepted(decision, rewrite)
    else:
        assert_accepted(decision, to_type)
        assert decision.state is ctx.proposed


class TestPreventDuplicateTransitions:
    """Like Prefect's TestPreventPendingTransitions: two clients racing to queue or start a run."""

    banned = [(f, t) for f, t in itertools.product(RACING, RACING) if t is f or t is StateType.PENDING]
    allowed = [
        (None, StateType.PENDING),
        (StateType.SCHEDULED, StateType.PENDING),
        (StateType.PAUSED, StateType.PENDING),
        (StateType.PENDING, StateType.RUNNING),
        (StateType.RUNNING, StateType.CANCELLING),
        (StateType.PENDING, StateType.CANCELLING),
        (StateType.CANCELLING, StateType.RUNNING),
    ]

    @pytest.mark.parametrize(("from_type", "to_type"), banned)
    def test_banned(self, from_type, to_type):
        ctx = make_ctx(from_type, to_type)
        assert_refused(apply_rule(r.PreventDuplicateTransitions, ctx), REJECT, ctx)

    @pytest.mark.parametrize(("from_type", "to_type"), allowed)
    def test_allowed(self, from_type, to_type):
        ctx = make_ctx(from_type, to_type)
        decision = Decision(status=ACCEPT, state=ctx.proposed)
        if r.PreventDuplicateTransitions.governs(from_type, to_type):
            r.PreventDuplicateTransitions.apply(ctx, decision)
        assert_accepted(decision, to_type)

    def test_second_worker_cannot_requeue_a_run_the_first_already_started(self):
        """Worker A: PENDING then RUNNING. Worker B's late PENDING must not reset the run."""
        ctx = make_ctx(StateType.RUNNING, StateType.PENDING)
        assert_refused(evaluate(ctx), REJECT, ctx)


class TestCancellation:
    """Cancelling ends a run that has not started at once; a cancelling run can only end."""

    @pytest.mark.parametrize("from_type", NOT_STARTED)
    def test_a_run_not_started_is_cancelled_at_once(self, from_type):
        proposed = State(type=StateType.CANCELLING, message="Stopped by alice")
        decision = evaluate(make_ctx(from_type, proposed, kind="flow_run"))
        assert_accepted(decision, StateType.CANCELLED)
        assert decision.state.message == "Stopped by alice"
        assert decision.end_time == NOW

    def test_a_running_run_is_cancelling_until_its_executor_stops(self):
        proposed = State(type=StateType.CANCELLING, message="Stopped by alice")
        decision = evaluate(make_ctx(StateType.RUNNING, proposed, kind="flow_run", held=("work-queue:q",)))
        assert_accepted(decision, StateType.CANCELLING)
        assert decision.release_slots == ("work-queue:q",)  # the queue's slot frees at once
        assert decision.end_time is None

    @pytest.mark.parametrize("to_type", END_CANCELLED)
    def test_whatever_a_cancelling_run_proposes_next_ends_it_cancelled(self, to_type):
        current = State(type=StateType.CANCELLING, message="Stopped by alice", timestamp=EARLIER)
        decision = evaluate(make_ctx(current, to_type, kind="flow_run", retries=3))
        assert_accepted(decision, StateType.CANCELLED)
        assert decision.state.message == "Stopped by alice"
        assert decision.run_count is None  # it never starts again

    @pytest.mark.parametrize("to_type", [StateType.COMPLETED, StateType.CANCELLED])
    def test_a_cancelling_run_that_finished_first_keeps_its_end(self, to_type):
        ctx = make_ctx(StateType.CANCELLING, to_type, kind="flow_run")
        assert_accepted(evaluate(ctx), to_type)

    def test_task_runs_are_not_rewritten(self):
        ctx = make_ctx(StateType.SCHEDULED, StateType.CANCELLING, kind="task_run")
        assert_accepted(evaluate(ctx), StateType.CANCELLING)


class TestPauseAndResume:
    @pytest.mark.parametrize("kind", KINDS)
    def test_a_resume_within_the_pause_continues_the_same_attempt(self, kind):
        paused = state(StateType.PAUSED, pause_timeout=NOW + dt.timedelta(seconds=1))
        decision = evaluate(make_ctx(paused, StateType.RUNNING, kind=kind, run_count=1, start_time=EARLIER))
        assert_accepted(decision, StateType.RUNNING)
        assert decision.run_count is None  # no new attempt: retries are not spent by pausing
        assert decision.start_time is None

    @pytest.mark.parametrize("seconds_late", [0, 1, 86400])
    def test_a_resume_after_the_pause_timed_out_is_rejected(self, seconds_late):
        paused = state(StateType.PAUSED, pause_timeout=NOW - dt.timedelta(seconds=seconds_late))
        ctx = make_ctx(paused, StateType.RUNNING, kind="flow_run", run_count=1)
        decision = evaluate(ctx)
        assert_refused(decision, REJECT, ctx)
        assert "pause timed out" in decision.reason

    def test_a_pause_without_a_timeout_resumes_any_time(self):
        ctx = make_ctx(StateType.PAUSED, StateType.RUNNING, kind="flow_run", run_count=1)
        assert_accepted(evaluate(ctx), StateType.RUNNING)

    def test_a_run_that_never_ran_counts_its_first_start(self):
        decision = evaluate(make_ctx(StateType.PAUSED, StateType.RUNNING, kind="flow_run", run_count=0))
        assert (decision.run_count, decision.start_time) == (1, NOW)

    def test_pausing_frees_the_queue_slot_and_cancelling_a_paused_run_ends_it(self):
        slot = ("work-queue:q",)
        pause = evaluate(make_ctx(StateType.RUNNING, StateType.PAUSED, kind="flow_run", held=slot))
        assert_accepted(pause, StateType.PAUSED)
        assert pause.release_slots == slot
        cancel = evaluate(make_ctx(StateType.PAUSED, StateType.CANCELLING, kind="flow_run"))
        assert_accepted(cancel, StateType.CANCELLED)


class TestTerminalStatesAreFinal:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize(("from_type", "to_type"), list(itertools.product(TERMINAL, ALL_TYPES)))
    def test_rejected(self, kind, from_type, to_type):
        ctx = make_ctx(from_type, to_type, kind=kind, retries=5)
        assert_refused(evaluate(ctx), REJECT, ctx)

    def test_even_a_cache_hit_or_retry_policy_cannot_reopen(self):
        ctx = make_ctx(StateType.FAILED, StateType.RUNNING, retries=10, cached=state(StateType.COMPLETED, "Cached"))
        assert_refused(evaluate(ctx), REJECT, ctx)

    @pytest.mark.parametrize("from_type", TERMINAL)
    def test_rule_on_its_own(self, from_type):
        ctx = make_ctx(from_type, StateType.RUNNING)
        assert_refused(apply_rule(r.PreventTransitionsFromTerminalStates, ctx), REJECT, ctx)
        assert not r.PreventTransitionsFromTerminalStates.governs(StateType.RUNNING, StateType.COMPLETED)


class TestIgnoreDuplicateProposal:
    @pytest.mark.parametrize("current_type", ALL_TYPES)
    def test_same_key_answers_the_current_state_without_writing(self, current_type):
        current = state(current_type, idempotency_key="proposal-1")
        proposed = State(type=StateType.COMPLETED, state_details=StateDetails(idempotency_key="proposal-1"))
        ctx = make_ctx(current, proposed)
        decision = evaluate(ctx)
        assert decision.status is ACCEPT
        assert decision.state is current
        assert decision.commit is False
        assert decision.run_count is None and decision.end_time is None and not decision.acquire_slots

    @pytest.mark.parametrize(("current_key", "proposed_key"), [("a", "b"), (None, "b"), ("a", None)])
    def test_other_keys_are_orchestrated_normally(self, current_key, proposed_key):
        current = state(StateType.PENDING, idempotency_key=current_key)
        proposed = State(type=StateType.RUNNING, state_details=StateDetails(idempotency_key=proposed_key))
        decision = evaluate(make_ctx(current, proposed))
        assert_accepted(decision, StateType.RUNNING)
        assert decision.run_count == 1

    def test_retried_failure_report_gets_the_retry_state_back(self):
        """The first FAILED became AwaitingRetry; its resend must not be treated as new."""
        first = State(type=StateType.FAILED, state_details=StateDetails(idempotency_key="fail-1"))
        decision = evaluate(make_ctx(StateType.RUNNING, first, retries=1))
        stored = decision.state
        assert stored.name == "AwaitingRetry"
        resend = evaluate(make_ctx(stored, first.model_copy(), retries=1, run_count=1))
        assert resend.status is ACCEPT and resend.state is stored and resend.commit is False


class TestPreventRunningTasksInFinishedFlows:
    stopped = [*TERMINAL, StateType.CANCELLING]

    @pytest.mark.parametrize("flow_type", stopped)
    def test_abort(self, flow_type):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, flow_run_state=state(flow_type))
        assert_refused(apply_rule(r.PreventRunningTasksInFinishedFlows, ctx), ABORT, ctx)
        assert_refused(evaluate(ctx), ABORT, ctx)

    @pytest.mark.parametrize("flow_type", stopped)
    def test_abort_comes_before_a_cache_hit(self, flow_type):
        cached = State(type=StateType.COMPLETED, name="Cached", data=REF)
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, flow_run_state=state(flow_type), cached=cached)
        assert_refused(evaluate(ctx), ABORT, ctx)

    @pytest.mark.parametrize("flow_type", [StateType.RUNNING, StateType.PENDING, StateType.PAUSED, None])
    def test_allowed_while_the_flow_runs(self, flow_type):
        flow_state = state(flow_type) if flow_type else None
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, flow_run_state=flow_state)
        assert_accepted(evaluate(ctx), StateType.RUNNING)

    @pytest.mark.parametrize("to_type", [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED])
    def test_a_task_may_still_finish_in_a_finished_flow(self, to_type):
        ctx = make_ctx(StateType.RUNNING, to_type, flow_run_state=state(StateType.CANCELLED))
        assert_accepted(evaluate(ctx), to_type)

    def test_flow_runs_are_not_governed(self):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, kind="flow_run", flow_run_state=state(StateType.COMPLETED))
        assert_accepted(evaluate(ctx), StateType.RUNNING)


class TestWaitForScheduledTime:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("to_type", [StateType.PENDING, StateType.RUNNING])
    @pytest.mark.parametrize("seconds_ahead", [0.25, 30, 86400])
    def test_wait_until_scheduled(self, kind, to_type, seconds_ahead):
        when = NOW + dt.timedelta(seconds=seconds_ahead)
        ctx = make_ctx(state(StateType.SCHEDULED, scheduled_time=when), to_type, kind=kind)
        decision = evaluate(ctx)
        assert_refused(decision, WAIT, ctx)
        assert decision.delay_seconds == pytest.approx(seconds_ahead)
        assert_refused(apply_rule(r.WaitForScheduledTime, ctx), WAIT, ctx)

    @pytest.mark.parametrize("seconds_ahead", [0, -1, -86400])
    def test_due_or_late_runs_start(self, seconds_ahead):
        when = NOW + dt.timedelta(seconds=seconds_ahead)
        decision = evaluate(make_ctx(state(StateType.SCHEDULED, scheduled_time=when), StateType.RUNNING))
        assert_accepted(decision, StateType.RUNNING)

    def test_no_scheduled_time_means_now(self):
        assert_accepted(evaluate(make_ctx(StateType.SCHEDULED, StateType.RUNNING)), StateType.RUNNING)

    @pytest.mark.parametrize("to_type", [StateType.CANCELLED, StateType.SCHEDULED, StateType.FAILED])
    def test_other_moves_do_not_wait(self, to_type):
        future = state(StateType.SCHEDULED, scheduled_time=NOW + dt.timedelta(hours=1))
        assert not r.WaitForScheduledTime.governs(StateType.SCHEDULED, to_type)
        assert_accepted(evaluate(make_ctx(future, to_type)), to_type)


class TestUpdateRunBookkeeping:
    def test_first_start_sets_run_count_and_start_time(self):
        decision = evaluate(make_ctx(StateType.PENDING, StateType.RUNNING))
        assert (decision.run_count, decision.start_time, decision.end_time) == (1, NOW, None)

    def test_start_time_is_set_once(self):
        awaiting = state(StateType.SCHEDULED, "AwaitingRetry")
        decision = evaluate(make_ctx(awaiting, StateType.RUNNING, run_count=1, start_time=EARLIER))
        assert decision.run_count == 2
        assert decision.start_time is None  # None = leave the stored start_time alone

    @pytest.mark.parametrize("to_type", TERMINAL)
    def test_end_time_on_terminal(self, to_type):
        decision = evaluate(make_ctx(StateType.RUNNING, to_type))
        assert decision.end_time == NOW
        assert decision.run_count is None

    @pytest.mark.parametrize(
        "to_type", [StateType.SCHEDULED, StateType.PAUSED, StateType.CANCELLING, StateType.PENDING]
    )
    def test_non_terminal_non_running(self, to_type):
        decision = evaluate(make_ctx(StateType.SCHEDULED, to_type))
        assert (decision.run_count, decision.start_time, decision.end_time) == (None, None, None)

    def test_bookkeeping_follows_the_rewritten_state(self):
        """A cache hit turns RUNNING into COMPLETED: no run is counted, the run ends."""
        cached = State(type=StateType.COMPLETED, name="Cached", data=REF)
        decision = evaluate(make_ctx(StateType.PENDING, StateType.RUNNING, cached=cached))
        assert decision.run_count is None and decision.start_time is None
        assert decision.end_time == NOW


class TestForce:
    @pytest.mark.parametrize(("from_type", "to_type"), list(itertools.product(TERMINAL, ALL_TYPES)))
    def test_force_skips_the_rules(self, from_type, to_type):
        decision = force(make_ctx(from_type, to_type))
        assert_accepted(decision, to_type)

    def test_force_still_releases_slots_and_keeps_books(self):
        ctx = make_ctx(StateType.RUNNING, StateType.CANCELLED, tags=("db",), held=("db",))
        decision = force(ctx)
        assert decision.release_slots == ("db",)
        assert decision.end_time == NOW

    def test_force_does_not_acquire_slots(self):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, tags=("db",), limits={"db": (1, 1)})
        decision = force(ctx)
        assert_accepted(decision, StateType.RUNNING)
        assert decision.acquire_slots == ()
        assert decision.run_count == 1


# -- retries


RETRY_TABLE = [
    # retries, delays, run_count (attempts so far), expected delay (None: no retry)
    (1, (), 1, 0.0),
    (2, (10,), 1, 10.0),
    (2, (10,), 2, 10.0),
    (2, (10,), 3, None),
    (3, (1, 5, 30), 1, 1.0),
    (3, (1, 5, 30), 2, 5.0),
    (3, (1, 5, 30), 3, 30.0),
    (3, (1, 5, 30), 4, None),
    (5, (2, 4), 3, 4.0),  # the last delay is reused
    (5, (2, 4), 5, 4.0),
    (5, (2, 4), 6, None),
    (0, (10,), 1, None),
]


class TestRequeueLostRuns:
    """A deployment's run whose executor was lost goes back to its queue while retries last."""

    @pytest.mark.parametrize(("retries", "delays", "run_count", "delay"), RETRY_TABLE)
    def test_retry_table(self, retries, delays, run_count, delay):
        crashed = State(type=StateType.CRASHED, message="No heartbeat for 95 s", timestamp=NOW)
        ctx = make_ctx(
            StateType.RUNNING,
            crashed,
            kind="flow_run",
            retries=retries,
            delays=delays,
            run_count=run_count,
            work_queue="default",
            held=("work-queue:default",),
        )
        decision = evaluate(ctx)
        assert decision.status is ACCEPT and decision.commit
        assert decision.release_slots == ("work-queue:default",)  # the lost executor's slot frees
        if delay is None:
            assert decision.state is crashed
            assert decision.end_time == NOW
            return
        requeued = decision.state
        assert (requeued.type, requeued.name, requeued.message) == (
            StateType.SCHEDULED,
            "Requeued",
            "No heartbeat for 95 s",
        )
        assert requeued.state_details.scheduled_time == NOW + dt.timedelta(seconds=delay)
        assert decision.history_before == [crashed]
        assert decision.end_time is None

    @pytest.mark.parametrize(("kind", "work_queue"), [("flow_run", None), ("task_run", "default")])
    def test_only_a_deployments_flow_runs_are_requeued(self, kind, work_queue):
        """An ad-hoc run crashed with its own process: nobody is left to run it again."""
        ctx = make_ctx(StateType.RUNNING, StateType.CRASHED, kind=kind, retries=3, work_queue=work_queue)
        assert_accepted(evaluate(ctx), StateType.CRASHED)


class TestRetryFailedRuns:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize(("retries", "delays", "run_count", "delay"), RETRY_TABLE)
    def test_retry_table(self, kind, retries, delays, run_count, delay):
        failed = State(type=StateType.FAILED, message="boom", timestamp=NOW)
        ctx = make_ctx(StateType.RUNNING, failed, kind=kind, retries=retries, delays=delays, run_count=run_count)
        decision = evaluate(ctx)
        assert decision.status is ACCEPT and decision.commit
        if delay is None:
            assert decision.state is failed
            assert decision.history_before == []
            assert decision.end_time == NOW
            return
        retry = decision.state
        assert (retry.type, retry.name, retry.message) == (StateType.SCHEDULED, "AwaitingRetry", "boom")
        assert retry.state_details.scheduled_time == NOW + dt.timedelta(seconds=delay)
        assert decision.delay_seconds == delay
        assert decision.history_before == [failed]  # the failure stays visible
        assert decision.end_time is None  # the run is not over
        assert decision.run_count is None

    @given(
        delay=st.floats(min_value=0, max_value=3600),
        factor=st.floats(min_value=0, max_value=10),
        jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
    )
    def test_jitter_bounds(self, delay, factor, jitter):
        ctx = make_ctx(
            StateType.RUNNING, StateType.FAILED, retries=1, delays=(delay,), jitter_factor=factor, jitter=jitter
        )
        decision = evaluate(ctx)
        assert delay <= decision.delay_seconds <= delay * (1 + factor)
        expected = NOW + dt.timedelta(seconds=decision.delay_seconds)
        assert abs(decision.state.state_details.scheduled_time - expected) <= dt.timedelta(microseconds=1)

    @pytest.mark.parametrize("kind", KINDS)
    def test_a_failure_the_client_declared_not_retriable_is_final(self, kind):
        failed = State(type=StateType.FAILED, timestamp=NOW, state_details=StateDetails(retriable=False))
        decision = evaluate(make_ctx(StateType.RUNNING, failed, kind=kind, retries=3, delays=(5,), run_count=1))
        assert decision.status is ACCEPT and decision.state is failed and decision.end_time == NOW

    def test_no_jitter_without_a_factor(self):
        ctx = make_ctx(StateType.RUNNING, StateType.FAILED, retries=1, delays=(10,), jitter=0.9)
        assert evaluate(ctx).delay_seconds == 10

    def test_failure_details_are_kept_on_the_retry_state(self):
        failed = State(
            type=StateType.FAILED,
            name="Expected Failure",
            state_details=StateDetails(idempotency_key="p-7", cache_key="ck"),
        )
        decision = evaluate(make_ctx(StateType.RUNNING, failed, retries=1))
        assert decision.history_before[0].name == "Expected Failure"
        assert decision.state.state_details.idempotency_key == "p-7"
        assert decision.state.state_details.cache_key == "ck"

    @pytest.mark.parametrize("to_type", [StateType.CRASHED, StateType.CANCELLED, StateType.COMPLETED])
    def test_only_failures_are_retried(self, to_type):
        decision = evaluate(make_ctx(StateType.RUNNING, to_type, retries=3))
        assert_accepted(decision, to_type)
        assert decision.history_before == []

    @pytest.mark.parametrize("from_type", [StateType.PENDING, StateType.SCHEDULED, StateType.PAUSED])
    def test_only_failures_of_a_running_attempt_are_retried(self, from_type):
        assert not r.RetryFailedRuns.governs(from_type, StateType.FAILED)
        assert_accepted(evaluate(make_ctx(from_type, StateType.FAILED, retries=3)), StateType.FAILED)

    def test_retrying_releases_the_slot(self):
        ctx = make_ctx(StateType.RUNNING, StateType.FAILED, retries=1, tags=("db",), held=("db",))
        decision = evaluate(ctx)
        assert decision.state.name == "AwaitingRetry"
        assert decision.release_slots == ("db",)


class TestRenameRetryingRuns:
    @pytest.mark.parametrize("kind", KINDS)
    def test_the_attempt_after_awaiting_retry_is_retrying(self, kind):
        ctx = make_ctx(state(StateType.SCHEDULED, "AwaitingRetry"), StateType.RUNNING, kind=kind, run_count=1)
        decision = evaluate(ctx)
        assert_accepted(decision, StateType.RUNNING)
        assert decision.state.name == "Retrying"
        assert decision.run_count == 2
        assert apply_rule(r.RenameRetryingRuns, ctx).state.name == "Retrying"

    @pytest.mark.parametrize("name", ["Scheduled", "Late", "My Schedule"])
    def test_other_scheduled_runs_keep_the_name(self, name):
        decision = evaluate(make_ctx(state(StateType.SCHEDULED, name), StateType.RUNNING))
        assert decision.state.name == "Running"

    def test_awaiting_retry_still_waits_for_its_time(self):
        awaiting = state(StateType.SCHEDULED, "AwaitingRetry", scheduled_time=NOW + dt.timedelta(seconds=5))
        ctx = make_ctx(awaiting, StateType.RUNNING, run_count=1)
        assert_refused(evaluate(ctx), WAIT, ctx)


# -- cache


class TestRetrieveCachedResult:
    def cached(self, expiration: dt.datetime | None = None) -> State:
        return State(
            type=StateType.COMPLETED,
            name="Completed",
            data=REF,
            state_details=StateDetails(cache_key="ck", cache_expiration=expiration),
        )

    @pytest.mark.parametrize("from_type", [None, StateType.PENDING, StateType.SCHEDULED])
    def test_hit_completes_as_cached(self, from_type):
        expiration = NOW + dt.timedelta(hours=1)
        proposed = State(type=StateType.RUNNING, state_details=StateDetails(cache_key="ck"))
        decision = evaluate(make_ctx(from_type, proposed, cached=self.cached(expiration)))
        assert_accepted(decision, StateType.COMPLETED)
        assert decision.state.name == "Cached"
        assert decision.state.data == REF
        assert decision.state.state_details.cache_expiration == expiration
        assert decision.cache_insert is None  # a hit is not re-inserted
        assert "ck" in decision.state.message

    def test_miss_runs(self):
        decision = evaluate(make_ctx(StateType.PENDING, StateType.RUNNING))
        assert_accepted(decision, StateType.RUNNING)

    def test_refresh_cache_runs_despite_a_hit(self):
        details = StateDetails(cache_key="ck", refresh_cache=True)
        proposed = State(type=StateType.RUNNING, state_details=details)
        decision = evaluate(make_ctx(StateType.PENDING, proposed, cached=self.cached()))
        assert_accepted(decision, StateType.RUNNING)

    def test_hit_needs_no_concurrency_slot(self):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, cached=self.cached(), tags=("db",), limits={"db": (1, 1)})
        decision = evaluate(ctx)
        assert decision.state.name == "Cached"
        assert decision.acquire_slots == ()

    def test_flow_runs_ignore_the_cache(self):
        decision = evaluate(make_ctx(StateType.PENDING, StateType.RUNNING, kind="flow_run", cached=self.cached()))
        assert_accepted(decision, StateType.RUNNING)

    def test_rule_on_its_own(self):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, cached=self.cached())
        assert apply_rule(r.RetrieveCachedResult, ctx).state.name == "Cached"


class TestInsertCacheEntry:
    def completed(self, key: str | None = "ck", data: ResultRef | None = REF, name: str = "") -> State:
        expiration = NOW + dt.timedelta(minutes=5)
        details = StateDetails(cache_key=key, cache_expiration=expiration)
        return State(type=StateType.COMPLETED, name=name, data=data, state_details=details)

    def test_completed_with_key_and_result_is_inserted(self):
        done = self.completed()
        decision = evaluate(make_ctx(StateType.RUNNING, done))
        assert decision.cache_insert is not None
        assert decision.cache_insert.key == "ck"
        assert decision.cache_insert.state is done
        assert decision.cache_insert.expiration == NOW + dt.timedelta(minutes=5)

    @pytest.mark.parametrize(
        ("kind", "key", "data", "name"),
        [
            ("task_run", None, REF, ""),  # no cache key
            ("task_run", "ck", None, ""),  # nothing persisted to point at
            ("task_run", "ck", REF, "Cached"),  # already the cached entry
            ("flow_run", "ck", REF, ""),  # flows are not cached
        ],
    )
    def test_not_inserted(self, kind, key, data, name):
        decision = evaluate(make_ctx(StateType.RUNNING, self.completed(key, data, name), kind=kind))
        assert_accepted(decision, StateType.COMPLETED)
        assert decision.cache_insert is None


# -- concurrency slots


class TestSecureTaskConcurrencySlots:
    @pytest.mark.parametrize(
        ("tags", "limits", "status", "acquired"),
        [
            (("db",), {"db": (2, 1)}, ACCEPT, ("db",)),
            (("db",), {"db": (2, 2)}, WAIT, ()),
            (("db",), {"db": (2, 5)}, WAIT, ()),  # overfull (limit lowered): still wait
            (("db",), {"db": (0, 0)}, ABORT, ()),  # limit 0: never runs
            (("db", "api"), {"db": (1, 0), "api": (3, 2)}, ACCEPT, ("db", "api")),
            (("db", "api"), {"db": (1, 0), "api": (3, 3)}, WAIT, ()),
            (("db", "free"), {"db": (1, 0)}, ACCEPT, ("db",)),  # unlimited tags take no slot
            (("free",), {}, ACCEPT, ()),
            ((), {"db": (1, 1)}, ACCEPT, ()),
            (("db", "db"), {"db": (1, 0)}, ACCEPT, ("db",)),  # a repeated tag takes one slot
        ],
    )
    def test_table(self, tags, limits, status, acquired):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, tags=tags, limits=limits)
        decision = evaluate(ctx)
        assert decision.status is status
        assert decision.acquire_slots == acquired
        if status is WAIT:
            assert_refused(decision, WAIT, ctx)
            assert decision.delay_seconds == r.SLOT_WAIT_SECONDS
        if status is ABORT:
            assert_refused(decision, ABORT, ctx)

    @pytest.mark.parametrize("from_type", [None, StateType.SCHEDULED, StateType.PAUSED])
    def test_every_start_takes_a_slot(self, from_type):
        decision = evaluate(make_ctx(from_type, StateType.RUNNING, tags=("db",), limits={"db": (1, 0)}))
        assert decision.acquire_slots == ("db",)

    def test_a_retry_takes_a_slot_again(self):
        awaiting = state(StateType.SCHEDULED, "AwaitingRetry")
        ctx = make_ctx(awaiting, StateType.RUNNING, run_count=1, tags=("db",), limits={"db": (1, 1)})
        assert_refused(evaluate(ctx), WAIT, ctx)

    def test_flow_runs_take_no_task_slots(self):
        ctx = make_ctx(StateType.PENDING, StateType.RUNNING, kind="flow_run", tags=("db",), limits={"db": (1, 1)})
        decision = evaluate(ctx)
        assert_accepted(decision, StateType.RUNNING)
        assert decision.acquire_slots == ()


class TestReleaseConcurrencySlots:
    @pytest.mark.parametrize("to_type", [t for t in ALL_TYPES if t not in (StateType.RUNNING, StateType.PENDING)])
    def test_leaving_running_releases(self, to_type):
        ctx = make_ctx(StateType.RUNNING, to_type, tags=("db", "api"), held=("db", "api"))
        assert evaluate(ctx).release_slots == ("db", "api")
        assert apply_rule(r.ReleaseConcurrencySlots, ctx).release_slots == ("db", "api")

    def test_a_refused_move_releases_nothing(self):
        ctx = make_ctx(StateType.RUNNING, StateType.PENDING, tags=("db",), held=("db",))
        decision = evaluate(ctx)
        assert decision.status is REJECT and decision.release_slots == ()

    def test_nothing_held_nothing_released(self):
        assert evaluate(make_ctx(StateType.RUNNING, StateType.COMPLETED, tags=("db",))).release_slots == ()

    @pytest.mark.parametrize("from_type", [StateType.PENDING, StateType.SCHEDULED, StateType.PAUSED])
    def test_only_running_runs_release(self, from_type):
        assert not r.ReleaseConcurrencySlots.governs(from_type, StateType.COMPLETED)


# -- the policies themselves


def test_policies_are_ordered_lists_of_rules():
    for policy in (TASK_RUN_POLICY, FLOW_RUN_POLICY):
        assert all(issubclass(rule, r.Rule) for rule in policy)
        assert policy[0] is r.IgnoreDuplicateProposal
        assert policy[1] is r.RefuseStaleRevivals
        assert policy[2] is r.ReenterCutOffSubflows  # the one way out of CRASHED, before the refusal
        assert policy[3] is r.PreventTransitionsFromTerminalStates
        assert policy[-1] is r.UpdateRunBookkeeping
        assert all(rule.__doc__ for rule in policy)  # each rule names the race it prevents
    assert TASK_RUN_POLICY.index(r.ReleaseConcurrencySlots) < TASK_RUN_POLICY.index(r.RetryFailedRuns)
    assert TASK_RUN_POLICY.index(r.RetrieveCachedResult) < TASK_RUN_POLICY.index(r.SecureTaskConcurrencySlots)


def test_evaluate_never_mutates_the_context():
    proposed = State(type=StateType.FAILED, timestamp=NOW)
    ctx = make_ctx(StateType.RUNNING, proposed, retries=1, held=("db",), tags=("db",))
    snapshot = proposed.model_copy(deep=True)
    evaluate(ctx)
    assert ctx.proposed == snapshot
    assert ctx.run.state.type is StateType.RUNNING


def test_explicit_policy_argument():
    ctx = make_ctx(StateType.COMPLETED, StateType.RUNNING)
    assert evaluate(ctx, policy=(r.UpdateRunBookkeeping,)).status is ACCEPT


def test_state_ids_are_preserved_for_accepted_proposals():
    proposed = State(type=StateType.RUNNING, id=uuid.uuid4())
    assert evaluate(make_ctx(StateType.PENDING, proposed)).state.id == proposed.id
