"""Leases through the service, on a real SQLite file and a hand-moved clock: the reaper's silence
threshold follows each run's declared interval (3 intervals, not a fixed 90 s); heartbeats renew;
a run waiting for a full limit takes back the slots of a silent run and ends that run (and its
task runs) CRASHED; schema-2 store files migrate in place."""

from __future__ import annotations

import random
import sqlite3

import pytest
from unit.test_service import Clock, history

from mintaka.schemas import ConcurrencyLimitCreate, FlowRunCreate, SetStateRequest, TaskRunCreate
from mintaka.states import State, StateDetails, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService

ACCEPT, WAIT = "ACCEPT", "WAIT"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(sqlite_store, clock) -> OrchestrationService:
    return OrchestrationService(sqlite_store, clock=clock, rng=random.Random(0))


@pytest.fixture
def reaper(service) -> DeploymentService:
    return DeploymentService(service)


def started(service, interval: float | None, tags=(), name="etl"):
    """A flow run created RUNNING by a process beating every `interval` s, and a task run of it
    holding a slot of each tag."""
    run = service.create_flow_run(
        FlowRunCreate(flow_name=name, state=State(type=StateType.RUNNING), heartbeat_interval=interval)
    )
    task = service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="t", tags=list(tags)))
    answer = service.set_task_run_state(task.id, SetStateRequest(state=State(type=StateType.RUNNING)))
    assert answer.status == ACCEPT
    return run, task


def state_of(service, run) -> StateType:
    reader = service.read_task_run if hasattr(run, "task_key") else service.read_flow_run
    return reader(run.id).state.type


class TestTheReaperFollowsTheDeclaredInterval:
    def test_a_run_beating_every_100_s_is_alive_for_300_s_after_its_last_beat(self, service, reaper, clock):
        run, task = started(service, interval=100)
        clock.advance(120)  # past the old fixed 90 s
        assert reaper.reap_stale_runs() == 0
        reaper.heartbeat_flow_run(run.id, 100)
        clock.advance(299)
        assert reaper.reap_stale_runs() == 0
        clock.advance(2)
        assert reaper.reap_stale_runs() == 1
        crashed = service.read_flow_run(run.id).state
        assert crashed.type is StateType.CRASHED and "No heartbeat for 301 s" in crashed.message
        assert history(service, task) == ["Pending", "Running", "Crashed"]

    def test_a_run_beating_every_second_is_reaped_after_three(self, service, reaper, clock):
        started(service, interval=1)
        clock.advance(2.9)
        assert reaper.reap_stale_runs() == 0
        clock.advance(0.2)
        assert reaper.reap_stale_runs() == 1

    def test_a_server_back_from_downtime_gives_live_runs_a_fresh_term_not_a_reaping(self, service, reaper, clock):
        run, task = started(service, interval=1)
        done, _ = started(service, interval=1, name="done")
        service.set_flow_run_state(done.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        clock.advance(30)  # the server was down for 30 s; the run's process kept waiting for it
        assert reaper.resume_leases() == 1  # the finished run holds no lease to resume
        assert reaper.reap_stale_runs() == 0
        clock.advance(2.9)
        assert reaper.reap_stale_runs() == 0
        clock.advance(0.2)  # still silent three intervals after the restart: lost after all
        assert reaper.reap_stale_runs() == 1
        assert state_of(service, run) is StateType.CRASHED and state_of(service, task) is StateType.CRASHED

    def test_a_run_that_declares_nothing_and_never_beats_is_not_judged(self, service, reaper, clock):
        run, _ = started(service, interval=None)
        clock.advance(10_000)
        assert reaper.reap_stale_runs() == 0
        assert state_of(service, run) is StateType.RUNNING

    def test_an_executor_beating_without_an_interval_gets_the_old_90_s(self, service, reaper, clock):
        run, _ = started(service, interval=None)
        reaper.heartbeat_flow_run(run.id)  # an older SDK's beat
        clock.advance(89)
        assert reaper.reap_stale_runs() == 0
        clock.advance(2)
        assert reaper.reap_stale_runs() == 1

    def test_a_finished_run_is_never_reaped_and_a_late_beat_gives_it_no_lease(self, service, reaper, clock):
        run, _ = started(service, interval=1)
        service.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        reaper.heartbeat_flow_run(run.id, 1)
        assert service.store.read_leases([run.id]) == {}
        clock.advance(60)
        assert reaper.reap_stale_runs() == 0


class TestTheNextAcquirerTakesBackSilentSlots:
    def test_slots_of_a_silent_run_go_to_the_next_acquirer_and_the_silent_run_ends(self, service, clock):
        service.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=1))
        dead, dead_task = started(service, interval=1, tags=["gpu"], name="dead")
        waiter_run, _ = started(service, interval=1, name="waiter")
        waiting = service.create_task_run(TaskRunCreate(flow_run_id=waiter_run.id, task_key="w", tags=["gpu"]))
        running = SetStateRequest(state=State(type=StateType.RUNNING))

        clock.advance(2.5)
        assert service.set_task_run_state(waiting.id, running).status == WAIT  # the holder is still alive
        clock.advance(0.6)  # 3 intervals since the holder last beat (its start)
        answer = service.set_task_run_state(waiting.id, running)
        assert answer.status == ACCEPT and answer.state.type is StateType.RUNNING
        assert service.read_concurrency_limit("gpu").active_slots == 1
        assert state_of(service, dead) is StateType.CRASHED
        assert "found by a run waiting for its concurrency slots" in service.read_flow_run(dead.id).state.message
        assert history(service, dead_task) == ["Pending", "Running", "Crashed"]

    def test_a_slot_held_by_the_acquirers_own_flow_run_is_not_taken_back(self, service, clock):
        service.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=1))
        run, _ = started(service, interval=1, tags=["gpu"])
        second = service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="second", tags=["gpu"]))
        clock.advance(10)  # its own lease lapsed: it is asking, so it is alive; the slot stays held
        answer = service.set_task_run_state(second.id, SetStateRequest(state=State(type=StateType.RUNNING)))
        assert answer.status == WAIT
        assert state_of(service, run) is StateType.RUNNING


def test_a_schema_2_store_file_migrates_and_keeps_its_held_slots(tmp_path, clock):
    from mintaka_server.storage.sqlite import SCHEMA_VERSION, SQLiteStore

    path = tmp_path / "old.db"
    old = OrchestrationService(SQLiteStore(path), clock=clock)
    old.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=2))
    run, task = started(old, interval=None, tags=["gpu"])
    old.store.close()
    with sqlite3.connect(path) as conn:  # what a schema-2 file looks like: no lease tables
        conn.execute("DROP TABLE leases")
        conn.execute("DROP TABLE slot_holders")
        conn.execute("PRAGMA user_version = 2")

    store = SQLiteStore(path)
    assert store._read("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [(h.holder, h.lessee) for h in store.read_slot_holders("gpu")] == [(task.id, run.id)]
    service = OrchestrationService(store, clock=clock)
    service.set_task_run_state(task.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
    assert service.read_concurrency_limit("gpu").active_slots == 0
    store.close()


class TestARunReapedWhileAliveIsRevivedByItsExecutor:
    """A network outage with the server up looks like a dead process: the reaper ends the run.
    Its executor, back in touch, revives it by naming the reaped state; the attempt goes on."""

    def reaped(self, service, reaper, clock, **kwargs):
        run, task = started(service, interval=1, **kwargs)
        clock.advance(3.1)
        assert reaper.reap_stale_runs() == 1
        return run, task, service.read_flow_run(run.id).state

    @staticmethod
    def revival(reaped_state, **kwargs) -> SetStateRequest:
        details = StateDetails(revives=reaped_state.id)
        return SetStateRequest(state=State(type=StateType.RUNNING, state_details=details), **kwargs)

    def test_the_run_and_its_task_runs_in_flight_run_on_as_the_same_attempt(self, service, reaper, clock):
        run, task, reaped = self.reaped(service, reaper, clock)
        assert reaped.type is StateType.CRASHED and reaped.state_details.reaped
        assert service.read_task_run(task.id).state.state_details.reaped
        answer = service.set_flow_run_state(run.id, self.revival(reaped, heartbeat_interval=1))
        assert answer.status == ACCEPT and answer.state.type is StateType.RUNNING
        revived = service.read_flow_run(run.id)
        assert revived.run_count == 1 and revived.end_time is None and revived.start_time == run.start_time
        assert service.store.read_leases([run.id])[run.id] > clock.now  # leased again
        assert history(service, task) == ["Pending", "Running", "Crashed", "Running"]
        done = service.set_task_run_state(task.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        assert done.status == ACCEPT
        finished = service.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        assert finished.status == ACCEPT
        assert history(service, run) == ["Pending", "Running", "Crashed", "Running", "Completed"]

    def test_a_revival_naming_another_state_or_a_plain_crash_is_aborted(self, service, reaper, clock):
        run, _, _ = self.reaped(service, reaper, clock)
        wrong = SetStateRequest(state=State(type=StateType.RUNNING, state_details=StateDetails(revives=run.id)))
        assert service.set_flow_run_state(run.id, wrong).status == "ABORT"
        other, _ = started(service, interval=1, name="other")
        crash = SetStateRequest(state=State(type=StateType.CRASHED, message="killed"))
        service.set_flow_run_state(other.id, crash)
        crashed = service.read_flow_run(other.id).state
        assert service.set_flow_run_state(other.id, self.revival(crashed)).status == "ABORT"
        assert service.read_flow_run(other.id).state.type is StateType.CRASHED

    def test_a_run_moved_on_since_it_was_reaped_is_not_revived(self, service, reaper, clock):
        run, _, reaped = self.reaped(service, reaper, clock)
        forced = SetStateRequest(state=State(type=StateType.SCHEDULED, name="Rerun"), force=True)
        service.set_flow_run_state(run.id, forced)
        assert service.set_flow_run_state(run.id, self.revival(reaped)).status == "ABORT"
        assert service.read_flow_run(run.id).state.name == "Rerun"


class TestTasksCalledOutsideAnyFlow:
    """No flow run beats for them: they hold a lease of their own, from their start."""

    @staticmethod
    def started_alone(service, interval: float, tags=("gpu",)):
        task = service.create_task_run(TaskRunCreate(task_key="alone", tags=list(tags)))
        start = SetStateRequest(state=State(type=StateType.RUNNING), heartbeat_interval=interval)
        assert service.set_task_run_state(task.id, start).status == ACCEPT
        return task

    def test_the_reaper_ends_a_silent_one_and_its_slot_goes_back(self, service, reaper, clock):
        service.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=1))
        task = self.started_alone(service, interval=10)
        clock.advance(29)
        assert reaper.reap_stale_runs() == 0
        service.heartbeat_task_run(task.id, 10)  # alive: a fresh term of 3 intervals
        clock.advance(29)
        assert reaper.reap_stale_runs() == 0 and state_of(service, task) is StateType.RUNNING
        clock.advance(2)
        assert reaper.reap_stale_runs() == 1
        ended = service.read_task_run(task.id)
        assert ended.state.type is StateType.CRASHED and "No heartbeat for 31 s" in ended.state.message
        assert service.read_concurrency_limit("gpu").active_slots == 0

    def test_a_waiter_takes_back_the_slot_of_a_silent_one_and_ends_it(self, service, clock):
        service.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=1))
        silent = self.started_alone(service, interval=1)
        clock.advance(3.5)
        waiter = service.create_task_run(TaskRunCreate(task_key="next", tags=["gpu"]))
        answer = service.set_task_run_state(waiter.id, SetStateRequest(state=State(type=StateType.RUNNING)))
        assert answer.status == ACCEPT
        assert state_of(service, silent) is StateType.CRASHED

    def test_a_task_run_in_a_flow_gets_no_lease_of_its_own_from_a_beat(self, service, reaper, clock):
        _, task = started(service, interval=1)
        service.heartbeat_task_run(task.id, 1)  # nothing: its flow run's lease keeps it
        assert service.store.read_leases([task.id]) == {}
