"""A flow retry reuses what already completed in the same flow run: task runs and subflows
that completed in an earlier attempt return their results without running again (Prefect 2
reuses completed task runs on a flow retry). Counted by body executions."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from mintaka import flow, task
from mintaka.clock import time_skipping
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType


def test_a_flow_retry_does_not_run_completed_task_runs_again(client):
    runs = Counter()
    attempts = itertools.count(1)

    @task
    def extract(n):
        runs["extract"] += 1
        return list(range(n))

    @task
    def transform(x):
        runs["transform"] += 1
        return x * 10

    @task
    def load(rows):
        runs["load"] += 1
        if next(attempts) < 3:
            raise ConnectionError("warehouse is down")
        return sum(rows)

    @flow(retries=2, retry_delay_seconds=0)
    def etl():
        rows = extract(3)
        transformed = transform.map(rows)
        return load(transformed)

    assert etl() == 30
    assert runs == Counter(extract=1, transform=3, load=3)
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="etl")).items
    assert run.run_count == 3 and run.state.type is StateType.COMPLETED
    task_runs = client.read_flow_run_detail(run.id).task_runs
    assert Counter(t.task_key.rpartition(".")[2] for t in task_runs) == Counter(extract=1, transform=3, load=3)


def test_a_flow_retry_does_not_run_a_completed_subflow_again(client):
    runs = Counter()
    fail_once = iter([True, False])

    @flow
    def child(x):
        runs["child"] += 1
        return x + 1

    @flow(retries=1)
    def parent():
        value = child(1)
        runs["parent"] += 1
        if next(fail_once):
            raise RuntimeError("flaky")
        return value

    assert parent() == 2
    assert runs == Counter(parent=2, child=1)
    assert len(client.list_flow_runs(FlowRunFilter(flow_name="child")).items) == 1


def test_a_failed_task_run_runs_again_on_the_flow_retry(client):
    runs = Counter()
    fail_once = iter([True, False])

    @task
    def flaky():
        runs["flaky"] += 1
        if next(fail_once):
            raise RuntimeError("once")
        return "ok"

    @flow(retries=1)
    def f():
        return flaky()

    assert f() == "ok"
    assert runs["flaky"] == 2


def test_async_flow_retry_reuses_completed_tasks(client):
    runs = Counter()
    fail_once = iter([True, False])

    @task
    async def fetch(i):
        runs["fetch"] += 1
        return i

    @flow(retries=1)
    async def f():
        values = await asyncio.gather(*(fetch(i) for i in range(4)))
        if next(fail_once):
            raise RuntimeError("flaky")
        return sum(values)

    assert asyncio.run(f()) == 6
    assert runs["fetch"] == 4


def test_retry_delays_are_instant_under_time_skipping_and_recorded_as_waited(client, history):
    runs = Counter()

    @task(retries=2, retry_delay_seconds=3600)
    def slow_to_recover():
        runs["task"] += 1
        if runs["task"] < 3:
            raise RuntimeError("not yet")
        return "recovered"

    @flow(retries=1, retry_delay_seconds=7200)
    def f():
        return slow_to_recover()

    with time_skipping():
        import time

        started = time.monotonic()
        state = f(return_state=True)
        assert time.monotonic() - started < 10
    assert state.result() == "recovered"
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="f")).items
    [task_run] = client.read_flow_run_detail(run.id).task_runs
    states = client.read_task_run_states(task_run.id)
    waits = [s for s in states if s.name == "AwaitingRetry"]
    retrying = [s for s in states if s.name == "Retrying"]
    assert len(waits) == 2 and len(retrying) == 2
    for wait, retry in zip(waits, retrying, strict=True):
        assert (retry.timestamp - wait.timestamp).total_seconds() >= 3600
