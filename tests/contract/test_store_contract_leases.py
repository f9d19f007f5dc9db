"""The store contract, continued: leases and slot holders. A slot is held by a run under its
lessee's lease (a task run's flow run); a write that reclaims silent holders' slots succeeds only
if each lessee's lease is still expired and each holder still holds its slot, else nothing is
written (`SlotsUnavailable`); heartbeats extend leases and never shorten them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRun
from mintaka.states import State, StateType
from mintaka_server.orchestration.context import SlotHolder, SlotReclaim
from mintaka_server.storage import SlotsUnavailable


@pytest.fixture
def running(store, new_flow_run, at):
    """`running(lease_until)`: a flow run created RUNNING with a lease until `at(lease_until)`."""

    def make(lease_until: float | None = 30):
        run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
        if lease_until is None:
            return run
        store.renew_leases([run.id], at(lease_until), create=True)
        return run

    return make


def hold(store, transition, new_task_run, flow_run, tag: str):
    """A task run of `flow_run` that takes a slot of `tag`, as read after the write."""
    task = new_task_run(flow_run.id, task_key=f"t-{tag}-{len(store.list_task_runs(flow_run.id))}")
    store.commit_transition(transition(task, State(type=StateType.RUNNING), acquire_slots=[tag]))
    return store.read_task_run(task.id)


def active(store, tag: str) -> int:
    return store.read_concurrency_limits([tag])[tag].active_slots


class TestLeases:
    def test_a_flow_run_created_running_holds_the_lease_it_is_created_with(self, store, new_flow_run, at):
        flow = store.ensure_flow("etl")
        started = State(type=StateType.RUNNING, timestamp=at(0))
        run = FlowRun(id=uuid.uuid4(), flow_id=flow.id, flow_name=flow.name, name="r", state=started, created=at(0))
        store.create_flow_run(run, lease_expires=at(9))
        assert store.read_leases([run.id]) == {run.id: at(9)}
        plain = new_flow_run(state=started)
        assert store.read_leases([plain.id]) == {}

    def test_renewing_extends_existing_leases_only_unless_told_to_create(self, store, running, at):
        leased, unleased = running(30), running(None)
        assert store.renew_leases([leased.id, unleased.id], at(60)) == [leased.id]
        assert store.read_leases([leased.id, unleased.id]) == {leased.id: at(60)}
        assert set(store.renew_leases([leased.id, unleased.id], at(90), create=True)) == {leased.id, unleased.id}
        assert store.read_leases([leased.id, unleased.id]) == {leased.id: at(90), unleased.id: at(90)}

    def test_a_renewal_never_shortens_a_lease(self, store, running, at):
        run = running(120)
        assert store.renew_leases([run.id], at(60)) == [run.id]  # it has a lease: renewed (to the later time)
        assert store.read_leases([run.id]) == {run.id: at(120)}

    def test_transitions_grant_and_end_leases(self, store, new_flow_run, transition, at):
        run = new_flow_run()
        store.commit_transition(
            transition(run, State(type=StateType.RUNNING), lease_expires=at(30), heartbeat_interval=10.0)
        )
        started = store.read_flow_run(run.id)
        assert started.heartbeat_interval == 10.0
        assert store.read_leases([run.id]) == {run.id: at(30)}
        store.commit_transition(transition(started, State(type=StateType.COMPLETED), end_lease=True))
        assert store.read_leases([run.id]) == {}
        assert store.renew_leases([run.id], at(60)) == []  # a late beat does not bring it back


class TestSlotHolders:
    def test_acquiring_records_the_holder_and_its_lessee_and_releasing_removes_it(
        self, store, running, new_task_run, transition
    ):
        store.upsert_concurrency_limit("gpu", 2)
        flow_run = running()
        task = hold(store, transition, new_task_run, flow_run, "gpu")
        assert store.read_slot_holders("gpu") == [SlotHolder(task.id, flow_run.id)]
        store.commit_transition(transition(task, State(type=StateType.COMPLETED), release_slots=["gpu"]))
        assert store.read_slot_holders("gpu") == []
        assert active(store, "gpu") == 0

    def test_a_task_run_created_running_holds_its_slot_too(self, store, running, at):
        from contract.test_store_contract_hot_path import create_started, started_task_run

        store.upsert_concurrency_limit("gpu", 1)
        flow_run = running()
        task = create_started(store, started_task_run(flow_run.id, at, tags=["gpu"]), at, acquire=("gpu",))
        assert store.read_slot_holders("gpu") == [SlotHolder(task.id, flow_run.id)]

    def test_deleting_a_limit_forgets_its_holders(self, store, running, new_task_run, transition):
        store.upsert_concurrency_limit("gpu", 1)
        hold(store, transition, new_task_run, running(), "gpu")
        assert store.delete_concurrency_limit("gpu")
        store.upsert_concurrency_limit("gpu", 1)
        assert store.read_slot_holders("gpu") == [] and active(store, "gpu") == 0


class TestReclaimingSilentHolders:
    def setup_full_limit(self, store, running, new_task_run, transition, lease_until: float):
        store.upsert_concurrency_limit("gpu", 2)
        dead = running(lease_until)
        holders = [hold(store, transition, new_task_run, dead, "gpu") for _ in range(2)]
        waiter = new_task_run(running().id, task_key="waiter")
        return dead, holders, waiter

    def reclaim_write(self, transition, waiter, dead, holders, now):
        silent = tuple(SlotHolder(h.id, dead.id) for h in holders)
        return transition(
            waiter,
            State(type=StateType.RUNNING),
            acquire_slots=["gpu"],
            reclaim=[SlotReclaim("gpu", 2, silent)],
            now=now,
        )

    def test_expired_holders_give_their_slots_to_the_acquirer_in_one_write(
        self, store, running, new_task_run, transition, at
    ):
        dead, holders, waiter = self.setup_full_limit(store, running, new_task_run, transition, lease_until=30)
        store.commit_transition(self.reclaim_write(transition, waiter, dead, holders, now=at(31)))
        assert active(store, "gpu") == 1
        assert store.read_slot_holders("gpu") == [SlotHolder(waiter.id, waiter.flow_run_id)]
        assert store.read_task_run(waiter.id).state.type is StateType.RUNNING
        # The silent holders' own release, should their process come back, is a no-op.
        late = store.read_task_run(holders[0].id)
        store.commit_transition(transition(late, State(type=StateType.COMPLETED), release_slots=["gpu"]))
        assert active(store, "gpu") == 1

    def test_a_lease_renewed_in_between_fails_the_write_and_nothing_is_written(
        self, store, running, new_task_run, transition, at
    ):
        dead, holders, waiter = self.setup_full_limit(store, running, new_task_run, transition, lease_until=30)
        store.renew_leases([dead.id], at(60))  # it beat after all
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(self.reclaim_write(transition, waiter, dead, holders, now=at(31)))
        assert active(store, "gpu") == 2
        assert {h.holder for h in store.read_slot_holders("gpu")} == {h.id for h in holders}
        assert store.read_task_run(waiter.id).state.type is StateType.PENDING

    def test_a_slot_released_in_between_fails_the_write(self, store, running, new_task_run, transition, at):
        dead, holders, waiter = self.setup_full_limit(store, running, new_task_run, transition, lease_until=30)
        store.commit_transition(transition(holders[0], State(type=StateType.COMPLETED), release_slots=["gpu"]))
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(self.reclaim_write(transition, waiter, dead, holders, now=at(31)))
        assert active(store, "gpu") == 1
        assert [h.holder for h in store.read_slot_holders("gpu")] == [holders[1].id]

    def test_a_holder_whose_lessee_has_no_lease_is_never_reclaimed(self, store, running, new_task_run, transition, at):
        store.upsert_concurrency_limit("gpu", 1)
        reporter = running(None)  # a client that only reports states: no lease
        holder = hold(store, transition, new_task_run, reporter, "gpu")
        waiter = new_task_run(running().id, task_key="waiter")
        write = transition(
            waiter,
            State(type=StateType.RUNNING),
            acquire_slots=["gpu"],
            reclaim=[SlotReclaim("gpu", 1, (SlotHolder(holder.id, reporter.id),))],
            now=at(10_000),
        )
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(write)
        assert store.read_slot_holders("gpu") == [SlotHolder(holder.id, reporter.id)]

    def test_a_changed_limit_fails_the_write(self, store, running, new_task_run, transition, at):
        dead, holders, waiter = self.setup_full_limit(store, running, new_task_run, transition, lease_until=30)
        store.upsert_concurrency_limit("gpu", 3)  # raised meanwhile: decide again
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(self.reclaim_write(transition, waiter, dead, holders, now=at(31)))
        assert active(store, "gpu") == 2


def test_a_flow_runs_unfinished_task_runs_are_listed_alone(store, running, new_task_run, transition):
    flow_run = running()
    waiting, going, done, failed = (new_task_run(flow_run.id, task_key=key) for key in ("w", "g", "d", "f"))
    store.commit_transition(transition(going, State(type=StateType.RUNNING)))
    for run, end in ((done, StateType.COMPLETED), (failed, StateType.FAILED)):
        store.commit_transition(transition(run, State(type=StateType.RUNNING)))
        store.commit_transition(transition(store.read_task_run(run.id), State(type=end)))
    assert [run.id for run in store.list_unfinished_task_runs(flow_run.id)] == [waiting.id, going.id]
    assert store.list_unfinished_task_runs(running().id) == []


def test_lease_times_keep_microseconds(store, running, at):
    run = running(None)
    when = at(0) + dt.timedelta(microseconds=123456)
    store.renew_leases([run.id], when, create=True)
    assert store.read_leases([run.id]) == {run.id: when}
