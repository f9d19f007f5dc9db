"""`pause_flow_run()` / `resume_flow_run()`: a flow waits for a person, on both transports."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mintaka import flow, pause_flow_run, resume_flow_run, task
from mintaka.exceptions import FlowRunCancelled, MintakaError
from mintaka.pausing import PausedRunTimeout
from mintaka.schemas import ConcurrencyLimitCreate, FlowRunFilter, SetStateRequest
from mintaka.states import State, StateType


def only_run(client, flow_name: str):
    [run] = client.list_flow_runs(FlowRunFilter(flow_name=flow_name)).items
    return run


def when_paused(client, flow_name: str, then, timeout: float = 20.0) -> threading.Thread:
    """In the background: wait until the flow's run is PAUSED, then call `then(run)`."""

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = client.list_flow_runs(FlowRunFilter(flow_name=flow_name)).items
            if runs and runs[0].state.type is StateType.PAUSED:
                then(runs[0])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@task
def step(label: str) -> str:
    return label


def test_a_paused_flow_continues_when_resumed_and_spends_no_retry(client):
    @flow(retries=1)
    def approve() -> list[str]:
        done = [step("build")]
        pause_flow_run(timeout=30, poll_interval=0.05)
        done.append(step("ship"))
        return done

    watcher = when_paused(client, "approve", lambda run: resume_flow_run(run.id))
    assert approve() == ["build", "ship"]
    watcher.join(1)
    run = only_run(client, "approve")
    names = [s.name for s in client.read_flow_run_states(run.id)]
    assert names == ["Pending", "Running", "Paused", "Running", "Completed"]
    assert client.read_flow_run(run.id).run_count == 1
    paused = client.read_flow_run_states(run.id)[2]
    assert paused.state_details.pause_timeout is not None


def test_an_async_flow_awaits_its_pause(client):
    @flow
    async def approve_async() -> str:
        await pause_flow_run(timeout=30, poll_interval=0.05)
        return "approved"

    watcher = when_paused(client, "approve-async", lambda run: resume_flow_run(run.id))
    assert asyncio.run(approve_async()) == "approved"
    watcher.join(1)


def test_a_pause_nobody_resumes_times_out_and_fails_the_run(client):
    @flow
    def forgotten():
        pause_flow_run(timeout=0.3, poll_interval=0.05)

    with pytest.raises(PausedRunTimeout, match=r"not resumed within 0\.3 s"):
        forgotten()
    run = only_run(client, "forgotten")
    assert run.state.type is StateType.FAILED and "not resumed" in run.state.message
    with pytest.raises(MintakaError, match="is not paused"):
        resume_flow_run(run.id)


def test_a_flow_may_catch_the_timeout_and_go_on(client):
    @flow
    def fallback() -> str:
        try:
            pause_flow_run(timeout=0.2, poll_interval=0.05)
        except PausedRunTimeout:
            return "auto-approved"
        return "approved"

    assert fallback() == "auto-approved"
    assert only_run(client, "fallback").state.type is StateType.COMPLETED


def test_cancelling_a_paused_run_ends_it(client):
    @flow
    def waits():
        pause_flow_run(timeout=30, poll_interval=0.05)
        raise AssertionError("a cancelled run must not continue")

    def cancel(run):
        request = SetStateRequest(state=State(type=StateType.CANCELLING, message="Rejected by reviewer"))
        client.set_flow_run_state(run.id, request)

    watcher = when_paused(client, "waits", cancel)
    with pytest.raises(FlowRunCancelled, match="Rejected by reviewer"):
        waits()
    watcher.join(1)
    run = only_run(client, "waits")
    assert (run.state.type, run.state.message) == (StateType.CANCELLED, "Rejected by reviewer")


def test_pause_is_for_flow_code_only(client):
    @task
    def inside_a_task():
        pause_flow_run()

    @flow
    def misuse():
        inside_a_task()

    state = misuse(return_state=True)
    assert state.is_failed()
    with pytest.raises(MintakaError, match="from a flow run's own code"):
        pause_flow_run()


def test_a_resume_waits_for_a_free_slot_when_the_paused_run_held_one(client):
    """Tag limits bind task runs; a paused flow holds none, so other work proceeds meanwhile."""
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=1))

    @task(tags=["db"])
    def query(n: int) -> int:
        return n

    @flow
    def paused_holder() -> int:
        first = query(1)
        pause_flow_run(timeout=30, poll_interval=0.05)
        return first + query(2)

    @flow
    def other() -> int:
        return query(3)

    def meanwhile(run):
        assert other() == 3  # the limit-1 slot is free while the first flow is paused
        resume_flow_run(run.id)

    watcher = when_paused(client, "paused-holder", meanwhile)
    assert paused_holder() == 3
    watcher.join(5)
    assert only_run(client, "other").state.type is StateType.COMPLETED
