"""submit/map on the concurrent task runner, futures as arguments, tag concurrency limits."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from mintaka import flow, tags, task, unmapped
from mintaka.exceptions import UpstreamTaskError
from mintaka.schemas import ConcurrencyLimitCreate, FlowRunFilter
from mintaka.states import StateType
from mintaka.task_runners import SequentialTaskRunner


@task
def slow_square(x, delay=0.3):
    time.sleep(delay)
    return x * x


def test_map_runs_concurrently(client):
    windows: list[tuple[float, float]] = []

    @task
    def timed_square(x):
        started = time.monotonic()
        time.sleep(0.3)
        windows.append((started, time.monotonic()))
        return x * x

    @flow
    def f():
        return timed_square.map([1, 2, 3, 4, 5]).result()

    assert f() == [1, 4, 9, 16, 25]
    # Every body started before any finished: all five ran at once (whatever the transport's cost).
    assert max(start for start, _ in windows) < min(end for _, end in windows)


def test_map_with_unmapped_and_futures_as_arguments(client):
    @task
    def add(x, y):
        return x + y

    @task
    def total(values):
        return sum(values)

    @flow
    def f():
        base = add.submit(1, 1)
        sums = add.map([1, 2, 3], unmapped(base))
        return total(sums), base

    value, base_state = f()  # a returned future comes back as its final state (Prefect 2)
    assert value == (1 + 2) + (2 + 2) + (3 + 2)
    run = client.list_flow_runs(FlowRunFilter()).items[0]
    task_runs = {t.name: t for t in client.read_flow_run_detail(run.id).task_runs}
    base_id = task_runs["add-0"].id
    assert base_state.is_completed() and base_state.state_details.task_run_id == base_id
    # Dependency tracking: each mapped run records the future it received.
    for name in ("add-1", "add-2", "add-3"):
        assert [i.id for i in task_runs[name].task_inputs["y"]] == [base_id]
    assert {i.id for i in task_runs["total-0"].task_inputs["values"]} == {
        task_runs[n].id for n in ("add-1", "add-2", "add-3")
    }


def test_future_api(client):
    @flow
    def f():
        future = slow_square.submit(3, delay=0.05)
        assert future.state is None or future.state.is_completed()
        state = future.wait()
        assert state.is_completed() and future.state is state
        return future.result()

    assert f() == 9


def test_failed_upstream_future_fails_dependants_without_running(client):
    ran = []

    @task
    def boom():
        raise ValueError("upstream broke")

    @task
    def consume(x):
        ran.append(x)

    @flow
    def f():
        return (consume.submit(boom.submit()).wait(),)

    flow_state = f(return_state=True)
    assert flow_state.is_failed() and flow_state.message == "1/1 states are not final."
    [state] = flow_state.result(raise_on_failure=False)
    assert ran == []
    assert state.is_pending() and state.name == "NotReady"  # Prefect 2's NotReady: it never started
    assert "did not reach a 'COMPLETED' state" in state.message
    with pytest.raises(UpstreamTaskError):
        state.result()


def test_unreturned_failed_futures_fail_the_flow(client):
    @task
    def boom():
        raise ValueError("x")

    @flow
    def f():
        boom.submit()
        slow_square.submit(2, delay=0)

    state = f(return_state=True)
    assert state.is_failed() and state.message == "1/2 states failed."


def test_sequential_task_runner_runs_in_order(client):
    order = []

    @task
    def record(i):
        time.sleep(0.01 * (5 - i))
        order.append(i)

    @flow(task_runner=SequentialTaskRunner())
    def f():
        record.map(range(5)).wait()

    f()
    assert order == [0, 1, 2, 3, 4]


def test_tag_concurrency_limit_is_enforced_and_released(client):
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=2))
    lock = threading.Lock()
    running = peak = 0

    @task(tags=["db"])
    def use_db(i):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        if i == 0:
            raise RuntimeError("a failing run must release its slot too")
        return i

    @flow
    def f():
        return [fut.wait() for fut in use_db.map(range(6))]

    states = f(return_state=True).result(raise_on_failure=False)  # one failed: so did the flow
    assert peak == 2
    assert [s.type for s in states].count(StateType.COMPLETED) == 5
    assert client.read_concurrency_limit("db").active_slots == 0


def test_tag_limit_applies_through_tags_context(client):
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="serial", limit=1))
    spans = []

    @task
    def work(i):
        start = time.monotonic()
        time.sleep(0.05)
        spans.append((start, time.monotonic()))

    @flow
    def f():
        with tags("serial"):
            work.map(range(4)).wait()

    f()
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_zero_limit_aborts(client):
    from mintaka.exceptions import Abort

    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="off", limit=0))

    @task(tags=["off"])
    def never():
        raise AssertionError("must not run")

    @flow
    def f():
        never()

    with pytest.raises(Abort, match="limit"):
        f()
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="f")).items
    [aborted] = client.read_flow_run_detail(run.id).task_runs
    assert aborted.state.type is StateType.CANCELLED
    assert "Concurrency limit for tag 'off' is 0" in aborted.state.message
