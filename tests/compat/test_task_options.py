"""Prefect 2.20 task options beyond the basics: retry_condition_fn, refresh_cache,
cache_result_in_memory; State.result(fetch=...); disable_run_logger."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from mintaka import flow, get_run_logger, task
from mintaka.exceptions import MissingContextError
from mintaka.logging import disable_run_logger


def test_retry_condition_fn_decides_each_retry(client, history):
    runs = Counter()

    def only_connection_errors(task, task_run, state):
        try:
            state.result()
        except ConnectionError:
            return True
        except Exception:
            return False
        return True

    @task(retries=3, retry_condition_fn=only_connection_errors)
    def flaky(kind):
        runs[kind] += 1
        if kind == "network" and runs[kind] < 3:
            raise ConnectionError("reset")
        if kind == "bug":
            raise KeyError("never retried")
        return kind

    @flow
    def f():
        return flaky("network"), flaky("bug", return_state=True)

    network, bug = f()  # a value and a state: not all states, so the flow completed with both
    assert network == "network" and runs == Counter(network=3, bug=1)
    assert bug.is_failed()
    assert history("task", bug.state_details.task_run_id) == ["Pending", "Running", "Failed"]


def test_a_retry_condition_fn_that_raises_means_no_retry(client):
    runs = Counter()

    def broken(task, task_run, state):
        raise RuntimeError("condition broke")

    @task(retries=2, retry_condition_fn=broken)
    def fails():
        runs["fails"] += 1
        raise ValueError("no")

    @flow
    def f():
        return fails(return_state=True)

    f(return_state=True)
    assert runs["fails"] == 1


def test_refresh_cache_runs_the_task_and_replaces_the_entry(client):
    runs = Counter()

    @task(cache_key_fn=lambda ctx, params: "fixed")
    def cached():
        runs["cached"] += 1
        return runs["cached"]

    refreshing = cached.with_options(refresh_cache=True)

    @flow
    def f():
        return cached(), cached(), refreshing(), cached()

    assert f() == (1, 1, 2, 2)


def test_cache_result_in_memory_false_persists_and_reads_back(client):
    @task(cache_result_in_memory=False)
    def produce():
        return {"rows": [1, 2, 3]}

    @flow
    def f():
        state = produce(return_state=True)
        return state.data is not None, state._has_result, state.result()

    persisted, in_memory, value = f()
    assert persisted and not in_memory and value == {"rows": [1, 2, 3]}


def test_state_result_takes_fetch_and_is_awaitable_in_async_code(client):
    @task
    async def number():
        return 7

    @flow
    async def f():
        state = await number(return_state=True)
        return await state.result(fetch=True), state.result(fetch=False)

    assert asyncio.run(f()) == (7, 7)

    @task
    def sync_number():
        return 8

    @flow
    def g():
        return sync_number(return_state=True).result(fetch=True)

    assert g() == 8


def test_disable_run_logger_lets_a_task_function_run_outside_a_run():
    @task
    def logs():
        get_run_logger().info("hello")
        return "ok"

    with pytest.raises(MissingContextError):
        logs.fn()
    with disable_run_logger():
        assert logs.fn() == "ok"
