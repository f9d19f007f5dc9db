"""Upstreams, `wait_for`, annotations, `return_state` on submit and map, and what `.map()`
iterates (Prefect 2.20: engine.resolve_inputs, begin_task_map, utilities.annotations)."""

from __future__ import annotations

import time

import pytest

from mintaka import allow_failure, flow, quote, task, unmapped
from mintaka.exceptions import UpstreamTaskError
from mintaka.schemas import FlowRunFilter
from mintaka.states import State, StateType
from mintaka.utilities import annotations


@task
def boom():
    raise ValueError("upstream broke")


@task
def ok(x=1):
    return x


def test_annotations_are_importable_where_prefect_2_code_imports_them():
    assert annotations.allow_failure is allow_failure and annotations.quote is quote
    assert annotations.unmapped is unmapped
    from mintaka.tasks import unmapped as from_tasks

    assert from_tasks is unmapped


def test_wait_for_a_failed_future_never_runs_the_downstream(client, history):
    ran = []

    @task
    def downstream():
        ran.append(1)
        return "ran"

    @flow
    def f():
        upstream = boom.submit()
        called = downstream(wait_for=[upstream], return_state=True)
        submitted = downstream.submit(wait_for=[upstream]).wait()
        return called, submitted

    called, submitted = f(return_state=True).result(raise_on_failure=False)
    assert ran == []
    for state in (called, submitted):
        assert state.type is StateType.PENDING and state.name == "NotReady"
        with pytest.raises(UpstreamTaskError, match="did not reach a 'COMPLETED' state"):
            state.result()
        assert history("task", state.state_details.task_run_id) == ["NotReady"]


def test_a_plain_call_with_a_failed_upstream_raises_upstream_task_error(client):
    @flow
    def f():
        try:
            ok(boom.submit())
        except UpstreamTaskError as exc:
            return str(exc)

    assert "did not reach a 'COMPLETED' state" in f()


def test_wait_for_on_map_holds_every_mapped_run(client):
    ran = []

    @task
    def each(x):
        ran.append(x)

    @flow
    def f():
        return each.map([1, 2, 3], wait_for=[boom.submit()], return_state=True)

    states = f(return_state=True).result(raise_on_failure=False)
    assert ran == []
    assert [s.name for s in states] == ["NotReady"] * 3


def test_allow_failure_lets_the_downstream_run_with_the_exception(client):
    @task
    def cleanup(previous):
        return f"cleaned after {type(previous).__name__}"

    @task
    def after():
        return "after"

    @flow
    def f():
        failed = boom.submit()
        return cleanup(allow_failure(failed)), after(wait_for=[allow_failure(failed)])

    assert f() == ("cleaned after ValueError", "after")


def test_allow_failure_does_not_let_a_not_ready_upstream_through(client):
    @flow
    def f():
        not_ready = ok.submit(boom.submit())
        return ok(allow_failure(not_ready), return_state=True)

    state = f(return_state=True).result(raise_on_failure=False)
    assert state.name == "NotReady"


def test_quote_passes_a_value_without_looking_inside(client):
    @task
    def size(rows):
        return len(rows)

    @flow
    def f():
        future = ok.submit(5)
        quoted = [future, future]  # not searched: the task gets the futures themselves
        return size(quote(quoted)), size(quote(list(range(1000))))

    assert f() == (2, 1000)


def test_return_state_on_submit_and_map_returns_states(client):
    @task
    def double(x, return_state_is_not_a_parameter=None):
        return x * 2

    @flow
    def f():
        one = double.submit(2, return_state=True)
        many = double.map([1, 2, 3], return_state=True)
        return one, many

    one, many = f()
    assert isinstance(one, State) and one.result() == 4
    assert [s.result() for s in many] == [2, 4, 6]


def test_return_state_is_never_passed_to_the_function(client):
    seen = {}

    @task
    def takes_kwargs(x, **kwargs):
        seen.update(kwargs)
        return x

    @flow
    def f():
        takes_kwargs.submit(1, return_state=True)
        takes_kwargs.map([1], return_state=True)
        return takes_kwargs(1, return_state=True).result()

    assert f() == 1 and seen == {}


def test_map_over_a_future_maps_over_its_value(client, history):
    @task
    def rows():
        return [1, 2, 3]

    @task
    def square(x):
        return x * x

    @flow
    def f():
        upstream = rows.submit()
        return square.map(upstream).result(), upstream

    squares, upstream_state = f()
    assert squares == [1, 4, 9]
    detail = client.read_flow_run_detail(_latest(client).id)
    mapped = [t for t in detail.task_runs if t.task_key.endswith("square")]
    assert len(mapped) == 3
    for run in mapped:  # each mapped run records the future it came from
        assert [i.id for i in run.task_inputs["x"]] == [upstream_state.state_details.task_run_id]


def _latest(client):
    from mintaka.schemas import FlowRunFilter

    return client.list_flow_runs(FlowRunFilter()).items[0]


def test_map_over_generators_ranges_and_tuples(client):
    @task
    def add(x, y):
        return x + y

    @flow
    def f():
        return (
            add.map((i for i in range(3)), unmapped(10)).result(),
            add.map(range(3), (5, 6, 7)).result(),
        )

    assert f() == ([10, 11, 12], [5, 7, 9])


def test_map_with_no_iterable_or_unequal_lengths_is_a_clear_error(client):
    @flow
    def none_iterable():
        ok.map(5)

    @task
    def pair(x, y):
        return x

    @flow
    def unequal():
        return pair.map([1, 2], [1])

    with pytest.raises(TypeError, match="needs at least one iterable"):
        none_iterable()
    with pytest.raises(ValueError, match="different lengths"):
        unequal()


def test_a_timed_out_task_with_return_state_returns_timed_out_instead_of_raising(client):
    @task(timeout_seconds=0.2)
    def slow():
        time.sleep(5)  # the flow's own thread: a signal interrupts even a blocking sleep

    @task(timeout_seconds=0.2)
    def busy():
        deadline = time.monotonic() + 5  # a worker thread: interrupted between bytecodes
        while time.monotonic() < deadline:
            pass

    @flow
    def f():
        state = slow(return_state=True)
        submitted = busy.submit(return_state=True)
        return state, submitted

    started = time.monotonic()
    state, submitted = f(return_state=True).result(raise_on_failure=False)
    assert time.monotonic() - started < 4
    for timed_out in (state, submitted):
        assert timed_out.type is StateType.FAILED and timed_out.name == "TimedOut"
        assert timed_out.message == "Task run exceeded timeout of 0.2 seconds TimeoutError: "


def test_a_subflow_gets_its_futures_values_and_waits_for_wait_for(client):
    order = []

    @task
    def produce(x):
        time.sleep(0.05)
        order.append("produce")
        return x

    @flow
    def child(value):
        order.append("child")
        return value * 2

    @flow
    def parent():
        gate = produce.submit(0)
        return child(produce.submit(21), wait_for=[gate])

    assert parent() == 42
    assert order[-1] == "child" and order.count("produce") == 2
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="parent")).items
    [link] = [t for t in client.read_flow_run_detail(run.id).task_runs if t.task_key == "subflow.child"]
    assert set(link.task_inputs) == {"value", "wait_for"}


def test_a_subflow_whose_upstream_failed_does_not_run(client):
    ran = []

    @flow
    def child(value=None):
        ran.append(value)

    @flow
    def parent():
        failed = boom.submit()
        with pytest.raises(UpstreamTaskError):
            child(failed)
        with pytest.raises(UpstreamTaskError):
            child(wait_for=[failed])
        return "survived"

    assert parent(return_state=True).result(raise_on_failure=False) == "survived"
    assert ran == []
