"""A plain flow run heartbeats (the process's heartbeat thread, on every transport): it declares
its interval when it starts, its lease moves forward while it runs, one beat covers all its task
runs, and the thread stops beating for it when it ends."""

from __future__ import annotations

import time

import pytest

from mintaka import flow, task
from mintaka.engine.heartbeat import HEARTBEAT
from mintaka.schemas import FlowRunFilter

INTERVAL = 0.2


@pytest.fixture
def short_interval(monkeypatch):
    from mintaka.settings import reset_settings

    monkeypatch.setenv("MINTAKA_HEARTBEAT_INTERVAL", str(INTERVAL))
    reset_settings()
    yield
    reset_settings()


def lease_of(client, run_id):
    store = getattr(getattr(client, "service", None), "store", None)
    return None if store is None else store.read_leases([run_id]).get(run_id)


def test_a_running_flow_runs_lease_moves_forward_while_it_runs(client, short_interval):
    leases = []

    @task
    def work():
        time.sleep(0.1)

    @flow
    def steady():
        from mintaka.runtime import flow_run

        for _ in range(12):  # ~1.2 s: six intervals
            work()
            leases.append(lease_of(client, flow_run.id))
        return flow_run.id

    run_id = steady()
    run = client.read_flow_run(run_id)
    assert run.heartbeat_interval == INTERVAL
    if leases[0] is None:  # over HTTP this test cannot see the server's store: the run says enough
        return
    assert leases[-1] > leases[0], "the lease never moved: nothing beat for the run"
    assert run_id not in HEARTBEAT._runs  # it ended: no more beats for it


def test_a_flow_run_that_is_not_running_is_not_beaten_for(client, short_interval):
    @flow
    def quick():
        return 1

    assert quick() == 1
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="quick")).items
    time.sleep(3 * INTERVAL)
    assert run.id not in HEARTBEAT._runs
