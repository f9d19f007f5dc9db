"""Async flows as Prefect 2 writes them: awaitable submit, map, results and waits; an async
client; and an engine that never blocks the event loop on its API I/O."""

from __future__ import annotations

import asyncio
import time

from mintaka import flow, get_client, task
from mintaka.futures import MintakaFuture
from mintaka.schemas import FlowRunFilter
from mintaka.states import State, StateType


@task
async def double(x):
    await asyncio.sleep(0.01)
    return x * 2


@task
def sync_double(x):
    return x * 2


def test_awaitable_submit_map_result_and_wait(client):
    @flow
    async def f():
        future = await double.submit(1)
        assert isinstance(future, MintakaFuture)
        value = await future.result()
        state = await future.wait()
        futures = await double.map([1, 2, 3])
        values = [await fut.result() for fut in futures]
        sync_future = await sync_double.submit(5)
        states = await double.map([4, 5], return_state=True)
        one_state = await double.submit(6, return_state=True)
        return value, state, values, await sync_future.result(), states, one_state

    value, state, values, sync_value, states, one_state = asyncio.run(f())
    assert value == 2 and isinstance(state, State) and state.is_completed()
    assert values == [2, 4, 6] and sync_value == 10
    assert [s.result() for s in states] == [8, 10] and one_state.result() == 12


def test_futures_passed_between_async_tasks_resolve_without_blocking_the_loop(client):
    @flow
    async def g():
        rows = await listing.submit()
        return await (await double.map(rows)).result()

    @task
    async def listing():
        await asyncio.sleep(0.05)
        return [1, 2, 3]

    assert asyncio.run(g()) == [2, 4, 6]


def test_async_with_get_client(client):
    @flow
    async def f():
        return 1

    asyncio.run(f())

    async def inspect():
        async with get_client() as api:
            page = await api.list_flow_runs(FlowRunFilter())
            run = await api.read_flow_run(page.items[0].id)
            return run

    run = asyncio.run(inspect())
    assert run.flow_name == "f" and run.state.type is StateType.COMPLETED
    with get_client() as sync_api:
        assert sync_api.read_flow_run(run.id).id == run.id


def test_gathered_async_tasks_sleep_concurrently_and_the_loop_stays_free(client, sdk_transport):
    # 500 on the embedded API; over HTTP the test's own server (moto's DynamoDB, same process)
    # costs far more per call than the SDK, so fewer runs show the same thing.
    n = 500 if sdk_transport == "embedded" else 30

    @task
    async def nap(i):
        await asyncio.sleep(1)
        return i

    @flow
    async def many():
        return sum(await asyncio.gather(*(nap(i) for i in range(n))))

    async def main():
        gaps = []
        done = asyncio.Event()

        async def ticker():  # how long the loop was held between two 10 ms ticks
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last - 0.01)
                last = now

        watcher = asyncio.create_task(ticker())
        total = await many()
        done.set()
        await watcher
        return total, max(gaps)

    started = time.perf_counter()
    total, longest_hold = asyncio.run(main())
    elapsed = time.perf_counter() - started
    assert total == sum(range(n))
    if sdk_transport == "embedded":
        assert elapsed < 6, elapsed  # one second of sleeping plus orchestration; serial: 500 s
    else:
        # Serial would be 30 s of sleep alone; the in-process test server's CPU is the rest.
        assert elapsed < 15, elapsed
        assert longest_hold < 1.0, longest_hold  # HTTP calls never hold the event loop
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="many")).items
    detail = client.read_flow_run_detail(run.id)
    assert len(detail.task_runs) == n
    assert {t.state.type for t in detail.task_runs} == {StateType.COMPLETED}


def test_a_sync_flow_calling_an_async_task_gets_its_value(client):
    @flow
    def f():
        return double(21)

    assert f() == 42
