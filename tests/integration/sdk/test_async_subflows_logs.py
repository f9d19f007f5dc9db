"""Async and sync mixed freely; subflows linked to parents; run logs reach the API."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from mintaka import flow, get_run_logger, task
from mintaka.exceptions import MintakaError
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType


@task
async def async_double(x):
    await asyncio.sleep(0.01)
    return x * 2


@task
def sync_inc(x):
    return x + 1


def test_async_flow_with_async_and_sync_tasks(client):
    @flow
    async def pipeline(x: int):
        doubled = await async_double(x)
        incremented = sync_inc(doubled)
        gathered = await asyncio.gather(async_double(1), async_double(2))
        return incremented, gathered

    assert asyncio.run(pipeline(3)) == (7, [2, 4])
    [run] = client.list_flow_runs(FlowRunFilter()).items
    assert run.state.type is StateType.COMPLETED
    assert len(client.read_flow_run_detail(run.id).task_runs) == 4


def test_async_tasks_run_concurrently_with_gather(client):
    @task
    async def nap():
        await asyncio.sleep(0.3)

    @flow
    async def f():
        await asyncio.gather(*(nap() for _ in range(5)))

    started = time.monotonic()
    asyncio.run(f())
    assert time.monotonic() - started < 1.2


def test_async_task_in_sync_flow_and_submitted(client):
    @flow
    def sync_flow():
        direct = async_double(5)
        submitted = async_double.submit(6).result()
        return direct, submitted

    assert sync_flow() == (10, 12)


def test_async_subflow_in_sync_flow_and_sync_subflow_in_async_flow(client):
    @flow
    async def async_child(x: int):
        return await async_double(x)

    @flow
    def sync_child(x: int):
        return sync_inc(x)

    @flow
    def sync_parent():
        return async_child(2)

    @flow
    async def async_parent():
        return sync_child(2)

    assert sync_parent() == 4
    assert asyncio.run(async_parent()) == 3


def test_subflow_is_linked_to_its_parent(client):
    @flow
    def child(x: int):
        return sync_inc(x)

    @flow
    def parent():
        return child(1) + child(10)

    assert parent() == 13
    runs = client.list_flow_runs(FlowRunFilter()).items
    parent_run = next(r for r in runs if r.flow_name == "parent")
    children = [r for r in runs if r.flow_name == "child"]
    assert len(children) == 2 and parent_run.parent_task_run_id is None
    parent_task_runs = client.read_flow_run_detail(parent_run.id).task_runs
    wrapper_ids = {t.id for t in parent_task_runs if t.task_key == "subflow.child"}
    assert {c.parent_task_run_id for c in children} == wrapper_ids
    for wrapper in parent_task_runs:
        assert wrapper.state.type is StateType.COMPLETED


def test_failing_subflow_raises_in_parent_and_marks_wrapper(client):
    @flow
    def bad_child():
        raise ValueError("child failed")

    @flow
    def parent():
        try:
            bad_child()
        except ValueError:
            return "handled"

    assert parent() == "handled"
    runs = client.list_flow_runs(FlowRunFilter()).items
    child = next(r for r in runs if r.flow_name == "bad-child")
    assert child.state.type is StateType.FAILED
    wrapper = client.read_task_run(child.parent_task_run_id)
    assert wrapper.state.type is StateType.FAILED


def test_run_logger_records_reach_the_api_in_order(client):
    @task
    def noisy(i):
        get_run_logger().warning("task says %d", i)

    @flow
    def chatty():
        logger = get_run_logger()
        for i in range(3):
            logger.info("step %d", i)
        noisy(7)
        logger.debug("hidden at INFO level")

    chatty()
    [run] = client.list_flow_runs(FlowRunFilter()).items
    logs = client.read_logs(run.id)
    messages = [log.message for log in logs]
    user = [m for m in messages if m.startswith(("step", "task says"))]
    assert user == ["step 0", "step 1", "step 2", "task says 7"]
    assert "hidden at INFO level" not in messages
    task_log = next(log for log in logs if log.message == "task says 7")
    assert task_log.task_run_id is not None and task_log.level == logging.WARNING
    assert [log.timestamp for log in logs] == sorted(log.timestamp for log in logs)


def test_log_prints(client, capsys):
    @task
    def shout():
        print("from a task")

    @flow(log_prints=True)
    def printing():
        print("hello", "world")
        shout()

    @flow
    def quiet():
        print("not captured")

    printing()
    quiet()
    runs = {r.flow_name: r for r in client.list_flow_runs(FlowRunFilter()).items}
    messages = [log.message for log in client.read_logs(runs["printing"].id)]
    assert "hello world" in messages and "from a task" in messages
    assert "not captured" not in [log.message for log in client.read_logs(runs["quiet"].id)]
    assert "not captured" in capsys.readouterr().out


def test_get_run_logger_outside_a_run_is_a_clear_error():
    with pytest.raises(MintakaError, match="inside a flow or task run"):
        get_run_logger()
