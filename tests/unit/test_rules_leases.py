"""The lease rules, pure: a full limit gives a slot to the acquirer when a holder's lease has
expired at the transition's `now` (and only then); a flow run that declares a heartbeat interval
gets a lease from RUNNING on (expiry from `now` and the interval, no clock read); the lease ends
with the run or when it goes back to waiting."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import SetStateStatus
from mintaka.states import TERMINAL_STATE_TYPES, State, StateType
from mintaka_server.orchestration import RunSnapshot, SlotUsage, TransitionContext, evaluate, force
from mintaka_server.orchestration.context import LEASE_INTERVALS, SlotHolder, SlotReclaim, lease_expiry

NOW = dt.datetime(2031, 3, 9, 2, 30, tzinfo=dt.UTC)  # any time: rules never read the clock
ACCEPT, WAIT = SetStateStatus.ACCEPT, SetStateStatus.WAIT


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def holder(expires_in: float | None) -> SlotHolder:
    return SlotHolder(uuid.uuid4(), uuid.uuid4(), None if expires_in is None else at(expires_in))


def ctx(
    current: StateType | None,
    proposed: StateType,
    *,
    kind: str = "task_run",
    tags: tuple[str, ...] = (),
    usage: dict[str, SlotUsage] | None = None,
    work_queue: str | None = None,
    declared: float | None = None,
    stored: float | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> TransitionContext:
    return TransitionContext(
        run=RunSnapshot(
            kind=kind,
            state=State(type=current, timestamp=at(-60)) if current else None,
            tags=tags,
            work_queue_name=work_queue,
            heartbeat_interval=stored,
            flow_run_id=flow_run_id,
        ),
        proposed=State(type=proposed, timestamp=NOW),
        now=NOW,
        concurrency=usage or {},
        heartbeat_interval=declared,
    )


class TestReclaimingSlotsOfSilentHolders:
    def test_a_free_slot_is_taken_without_looking_at_holders(self):
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage={"gpu": SlotUsage(3, 2)}))
        assert decision.status is ACCEPT and decision.acquire_slots == ("gpu",) and decision.reclaim == ()

    def test_a_full_limit_with_live_holders_waits(self):
        live = tuple(holder(expires_in=5) for _ in range(3))
        decision = evaluate(
            ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage={"gpu": SlotUsage(3, 3, live)})
        )
        assert decision.status is WAIT and decision.acquire_slots == () and decision.reclaim == ()

    @pytest.mark.parametrize("expired_at", [0, -0.001, -3600])
    def test_a_full_limit_takes_back_the_slots_of_holders_whose_lease_has_expired(self, expired_at):
        dead = holder(expired_at)
        live = (holder(5), holder(None))  # no lease: never reclaimed
        usage = {"gpu": SlotUsage(3, 3, (dead, *live))}
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage=usage))
        assert decision.status is ACCEPT and decision.state.type is StateType.RUNNING
        assert decision.acquire_slots == ("gpu",)
        assert decision.reclaim == (SlotReclaim("gpu", 3, (dead,)),)

    def test_every_expired_holder_is_taken_back_at_once(self):
        dead = (holder(-10), holder(-1))
        decision = evaluate(
            ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage={"gpu": SlotUsage(2, 2, dead)})
        )
        assert decision.reclaim == (SlotReclaim("gpu", 2, dead),)

    def test_over_a_lowered_limit_it_waits_unless_enough_holders_are_silent(self):
        # The limit went from 4 to 2 while 4 held slots: one silent holder still leaves it full.
        usage = {"gpu": SlotUsage(2, 4, (holder(-1), holder(5), holder(5), holder(5)))}
        assert evaluate(ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage=usage)).status is WAIT

    def test_one_full_tag_without_silent_holders_blocks_the_others_reclaim(self):
        usage = {"a": SlotUsage(1, 1, (holder(-1),)), "b": SlotUsage(1, 1, (holder(5),))}
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, tags=("a", "b"), usage=usage))
        assert decision.status is WAIT and decision.reclaim == ()

    def test_a_work_queue_slot_is_taken_back_the_same_way(self):
        dead = holder(-1)
        usage = {"work-queue:etl": SlotUsage(1, 1, (dead,))}
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, kind="flow_run", work_queue="etl", usage=usage))
        assert decision.status is ACCEPT and decision.acquire_slots == ("work-queue:etl",)
        assert decision.reclaim == (SlotReclaim("work-queue:etl", 1, (dead,)),)


class TestLeases:
    @pytest.mark.parametrize("current", [None, StateType.PENDING, StateType.SCHEDULED, StateType.PAUSED])
    def test_a_flow_run_starting_with_a_declared_interval_gets_a_lease_of_three_intervals(self, current):
        decision = evaluate(ctx(current, StateType.RUNNING, kind="flow_run", declared=2.0))
        assert decision.status is ACCEPT
        assert decision.lease_expires == at(LEASE_INTERVALS * 2.0) == lease_expiry(NOW, 2.0)
        assert decision.heartbeat_interval == 2.0

    def test_the_interval_the_run_declared_before_serves_a_retry_that_declares_none(self):
        decision = evaluate(ctx(StateType.SCHEDULED, StateType.RUNNING, kind="flow_run", stored=100.0))
        assert decision.lease_expires == at(300)

    def test_a_run_that_declares_no_interval_holds_no_lease(self):
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, kind="flow_run"))
        assert decision.lease_expires is None and not decision.end_lease

    def test_task_runs_in_a_flow_hold_no_lease_of_their_own(self):  # their flow run's lease keeps their slots
        decision = evaluate(ctx(StateType.PENDING, StateType.RUNNING, declared=2.0, flow_run_id=uuid.uuid4()))
        assert decision.lease_expires is None and decision.heartbeat_interval is None

    def test_a_task_run_called_outside_any_flow_is_leased_from_its_start_until_its_end(self):
        # No flow run beats for it: killed before its first beat, its slots must still come back.
        usage = {"gpu": SlotUsage(1, 0)}
        started = evaluate(ctx(StateType.PENDING, StateType.RUNNING, tags=("gpu",), usage=usage, declared=2.0))
        assert started.status is ACCEPT and started.acquire_slots == ("gpu",)
        assert started.lease_expires == lease_expiry(NOW, 2.0) and started.heartbeat_interval == 2.0
        ended = evaluate(ctx(StateType.RUNNING, StateType.COMPLETED, stored=2.0))
        assert ended.end_lease

    @pytest.mark.parametrize("ending", [*sorted(TERMINAL_STATE_TYPES), StateType.SCHEDULED])
    def test_the_lease_ends_with_the_run_or_when_it_waits_again(self, ending):
        current = StateType.CANCELLING if ending is StateType.CANCELLED else StateType.RUNNING
        decision = evaluate(ctx(current, ending, kind="flow_run", stored=5.0))
        assert decision.end_lease and decision.lease_expires is None

    @pytest.mark.parametrize("staying", [StateType.CANCELLING, StateType.PAUSED])
    def test_a_run_being_cancelled_or_paused_keeps_its_lease(self, staying):
        decision = evaluate(ctx(StateType.RUNNING, staying, kind="flow_run", stored=5.0))
        assert not decision.end_lease

    def test_force_keeps_leases_sound(self):
        assert force(ctx(StateType.COMPLETED, StateType.RUNNING, kind="flow_run", declared=1.0)).lease_expires == at(3)
        assert force(ctx(StateType.RUNNING, StateType.COMPLETED, kind="flow_run", stored=1.0)).end_lease
