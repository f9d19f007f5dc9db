"""Contract for suspended runs' timeouts: the store lists only the suspensions whose timeout has
passed (PAUSED with `pause_reschedule`), earliest first, however many others wait; a resumed run
leaves the list, a run suspended again waits for its new timeout. The scheduler's tick fails an
expired suspension behind many unexpired ones without reading them. Runs against every store."""

from __future__ import annotations

import datetime as dt

from mintaka.schemas import FlowRun
from mintaka.states import State, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.storage import TransitionWrite

UNEXPIRED = 40


def suspend(store, run: FlowRun, at_time: dt.datetime, timeout: dt.datetime, reschedule: bool = True) -> FlowRun:
    details = {"flow_run_id": run.id, "pause_timeout": timeout, "pause_reschedule": reschedule}
    paused = State(type=StateType.PAUSED, name="Suspended", timestamp=at_time, state_details=details)
    store.commit_transition(TransitionWrite(kind="flow_run", run=run, state=paused))
    return store.read_flow_run(run.id)


def running(new_flow_run, at) -> FlowRun:
    return new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)), deployment_name="etl/prod")


def test_only_expired_suspensions_are_listed_earliest_first(store, new_flow_run, at):
    later = suspend(store, running(new_flow_run, at), at(1), timeout=at(30))
    earlier = suspend(store, running(new_flow_run, at), at(1), timeout=at(20))
    for _ in range(3):
        suspend(store, running(new_flow_run, at), at(1), timeout=at(1000))
    suspend(store, running(new_flow_run, at), at(1), timeout=at(5), reschedule=False)  # its executor waits
    assert store.list_expired_suspensions(at(19)) == []
    assert store.list_expired_suspensions(at(20)) == [earlier.id]
    assert store.list_expired_suspensions(at(100)) == [earlier.id, later.id]
    assert store.list_expired_suspensions(at(100), limit=1) == [earlier.id]


def test_a_resumed_run_leaves_the_list_and_a_new_suspension_waits_for_its_own_timeout(store, new_flow_run, at):
    run = suspend(store, running(new_flow_run, at), at(1), timeout=at(10))
    resuming = State(type=StateType.SCHEDULED, name="Resuming", timestamp=at(2), state_details={"flow_run_id": run.id})
    store.commit_transition(TransitionWrite(kind="flow_run", run=run, state=resuming))
    assert store.list_expired_suspensions(at(50)) == []
    run = store.read_flow_run(run.id)
    store.commit_transition(
        TransitionWrite(kind="flow_run", run=run, state=State(type=StateType.RUNNING, timestamp=at(3)))
    )
    suspend(store, store.read_flow_run(run.id), at(4), timeout=at(60))
    assert store.list_expired_suspensions(at(50)) == []
    assert store.list_expired_suspensions(at(60)) == [run.id]


def test_a_tick_fails_an_expired_suspension_behind_many_unexpired_ones(store, new_flow_run, at):
    expired = suspend(store, running(new_flow_run, at), at(1), timeout=at(30))
    waiting = [suspend(store, running(new_flow_run, at), at(1), timeout=at(3600)) for _ in range(UNEXPIRED)]
    read: list = []
    read_flow_run, list_flow_runs = store.read_flow_run, store.list_flow_runs
    store.read_flow_run = lambda run_id: read.append(run_id) or read_flow_run(run_id)
    store.list_flow_runs = lambda flt: read.append(flt) or list_flow_runs(flt)
    deployments = DeploymentService(OrchestrationService(store), clock=lambda: at(60))
    try:
        assert deployments.fail_expired_suspensions() == 1
    finally:
        del store.read_flow_run, store.list_flow_runs
    assert set(read) == {expired.id}  # no listing of PAUSED runs, no unexpired run read
    failed = store.read_flow_run(expired.id).state
    assert failed.type is StateType.FAILED and "not resumed before its suspension timed out" in failed.message
    assert {store.read_flow_run(run.id).state.type for run in waiting} == {StateType.PAUSED}
    assert store.list_expired_suspensions(at(60)) == []
