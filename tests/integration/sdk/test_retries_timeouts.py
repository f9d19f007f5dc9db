"""Retries are decided by the server and recorded; timeouts fail runs with a clear message."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from mintaka import flow, task
from mintaka.exceptions import MintakaTimeoutError
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType
from mintaka.tasks import exponential_backoff


def test_task_retries_history(client, history):
    calls = []

    @task(retries=2, retry_delay_seconds=0.05)
    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return "ok"

    @flow
    def f():
        return (flaky(return_state=True),)

    [state] = f(return_state=True).result(raise_on_failure=False)  # the flow failed with it
    assert state.result() == "ok"
    assert len(calls) == 3
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(calls))
    assert history("task", state.state_details.task_run_id) == [
        "Pending",
        "Running",
        "Failed",
        "AwaitingRetry",
        "Retrying",
        "Failed",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    task_run = client.read_task_run(state.state_details.task_run_id)
    assert task_run.run_count == 3
    failed = [s for s in client.read_task_run_states(task_run.id) if s.name == "Failed"]
    assert "attempt 1" in failed[0].message


def test_retries_exhausted_fail_with_last_error(client, history):
    @task(retries=1)
    def always_fails():
        raise RuntimeError("still broken")

    @flow
    def f():
        return (always_fails(return_state=True),)

    [state] = f(return_state=True).result(raise_on_failure=False)  # the flow failed with it
    assert state.is_failed()
    with pytest.raises(RuntimeError, match="still broken"):
        state.result()
    assert history("task", state.state_details.task_run_id) == [
        "Pending",
        "Running",
        "Failed",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]


def test_retry_delay_per_attempt_and_backoff():
    @task(retries=3, retry_delay_seconds=[1, 5, 30])
    def listed():
        pass

    @task(retries=4, retry_delay_seconds=exponential_backoff(backoff_factor=2))
    def backed_off():
        pass

    assert listed.retry_delay_list() == [1, 5, 30]
    assert backed_off.retry_delay_list() == [2, 4, 8, 16]


def test_jittered_delay_is_recorded_within_bounds(client):
    attempts = []

    @task(retries=1, retry_delay_seconds=0.1, retry_jitter_factor=1.0)
    def jittery():
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ValueError("once")

    @flow
    def f():
        return (jittery(return_state=True),)

    [state] = f(return_state=True).result(raise_on_failure=False)  # the flow failed with it
    states = client.read_task_run_states(state.state_details.task_run_id)
    awaiting = next(s for s in states if s.name == "AwaitingRetry")
    delay = (awaiting.state_details.scheduled_time - awaiting.timestamp).total_seconds()
    assert 0.1 <= delay <= 0.2 + 1e-3
    assert attempts[1] - attempts[0] >= 0.1 - 1e-3


def test_flow_retries_rerun_the_body(client, history):
    attempts = []

    @flow(retries=1, retry_delay_seconds=0)
    def flaky_flow():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return len(attempts)

    assert flaky_flow() == 2
    [run] = client.list_flow_runs(FlowRunFilter()).items
    assert history("flow", run.id) == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]


def test_sync_task_timeout(client):
    @task(timeout_seconds=0.2)
    def slow():
        time.sleep(5)

    @flow
    def f():
        return (slow(return_state=True),)

    started = time.monotonic()
    [state] = f(return_state=True).result(raise_on_failure=False)  # the flow failed with it
    assert time.monotonic() - started < 3
    assert state.is_failed()
    assert state.message == "Task run exceeded timeout of 0.2 seconds TimeoutError: "
    with pytest.raises(MintakaTimeoutError):
        state.result()


def test_timeout_in_a_worker_thread(client):
    @task(timeout_seconds=0.2)
    def busy():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pass

    @flow
    def f():
        return (busy.submit().wait(),)

    started = time.monotonic()
    [state] = f(return_state=True).result(raise_on_failure=False)  # the flow failed with it
    assert time.monotonic() - started < 3
    assert state.is_failed() and "timeout" in state.message


def test_flow_timeout(client):
    @flow(timeout_seconds=0.2)
    def slow_flow():
        time.sleep(5)

    with pytest.raises(MintakaTimeoutError):
        slow_flow()
    [run] = client.list_flow_runs(FlowRunFilter()).items
    assert run.state.type is StateType.FAILED
    assert run.state.message == "Flow run exceeded timeout of 0.2 seconds TimeoutError: "


def test_async_task_timeout(client):
    @task(timeout_seconds=0.2)
    async def slow():
        await asyncio.sleep(5)

    @flow
    async def f():
        return (await slow(return_state=True),)

    [state] = asyncio.run(f(return_state=True)).result(raise_on_failure=False)
    assert state.is_failed() and state.name == "TimedOut"
    assert state.message == "Task run exceeded timeout of 0.2 seconds TimeoutError: "
