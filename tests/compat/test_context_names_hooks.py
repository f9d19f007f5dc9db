"""Run context, run names, state hooks and log_prints, as Prefect 2.20 documents them."""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from mintaka import FlowRunContext, TaskRunContext, flow, get_run_context, task
from mintaka.context import FlowRunContext as FromContextModule
from mintaka.exceptions import MintakaError
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType


def _logs(client, run_id):
    from mintaka.logging import flush_logs

    flush_logs()
    return client.read_logs(run_id)


def _run(client, name):
    [run] = client.list_flow_runs(FlowRunFilter(flow_name=name)).items
    return run


# -- run context
def test_contexts_name_the_runs_and_count_attempts(client):
    seen = []

    @task(retries=2)
    def flaky():
        ctx = TaskRunContext.get()
        seen.append(("task", ctx.task_run.run_count, ctx.task_run.name, get_run_context() is ctx))
        if ctx.task_run.run_count < 3:
            raise RuntimeError("again")
        return ctx.task_run.flow_run_id

    @flow(retries=1)
    def f(x: int = 1):
        ctx = FlowRunContext.get()
        seen.append(("flow", ctx.flow_run.run_count, ctx.flow_run.parameters, TaskRunContext.get()))
        return ctx.flow_run.id, flaky()

    flow_run_id, task_flow_run_id = f()
    assert flow_run_id == task_flow_run_id
    assert seen[0] == ("flow", 1, {"x": 1}, None)
    assert [s[1] for s in seen[1:]] == [1, 2, 3]
    assert all(s[3] for s in seen[1:])
    assert FromContextModule is FlowRunContext
    assert FlowRunContext.get() is None and TaskRunContext.get() is None
    with pytest.raises(MintakaError, match="No run context"):
        get_run_context()


def test_flow_run_count_is_the_current_attempt(client):
    counts = []

    @flow(retries=2)
    def f():
        counts.append(FlowRunContext.get().flow_run.run_count)
        if len(counts) < 3:
            raise RuntimeError("again")

    f()
    assert counts == [1, 2, 3]


def test_cache_key_fn_gets_the_task_run_context(client):
    seen = []

    def key(context, parameters):
        seen.append((context is TaskRunContext.get(), context.task_run.name, context.task.name, parameters))
        return f"{context.task.name}-{parameters['x']}"

    @task(cache_key_fn=key)
    def cached(x):
        return x * 2

    @flow
    def f():
        return cached(2), cached(2)

    assert f() == (4, 4)
    assert seen[0] == (True, "cached-0", "cached", {"x": 2})


# -- names
def test_flow_and_task_run_names_from_templates(client):
    @task(task_run_name="load-{table}-on-{day:%A}")
    def load(table: str, day: dt.date):
        return table

    @flow(flow_run_name="nightly-{day:%Y-%m-%d}")
    def nightly(day: dt.date):
        return load("users", day)

    nightly(dt.date(2024, 3, 5))
    run = _run(client, "nightly")
    assert run.name == "nightly-2024-03-05"
    [task_run] = client.read_flow_run_detail(run.id).task_runs
    assert task_run.name == "load-users-on-Tuesday"


def test_run_names_from_callables(client):
    @task(task_run_name=lambda: "computed-task-name")
    def t():
        return 1

    @flow(flow_run_name=functools.partial(str, "computed-flow-name"))
    def named():
        return t()

    named()
    run = _run(client, "named")
    assert run.name == "computed-flow-name"
    assert client.read_flow_run_detail(run.id).task_runs[0].name == "computed-task-name"


def test_a_bad_name_template_is_a_clear_error():
    with pytest.raises(TypeError, match="task_run_name must be a string or a callable"):
        task(task_run_name=5)(lambda: 1)


def test_a_template_naming_a_missing_parameter_says_so(client):
    @flow(flow_run_name="run-{nope}")
    def f():
        return 1

    with pytest.raises(MintakaError, match="flow_run_name of flow 'f' could not be formed: KeyError"):
        f()


def test_default_flow_run_names_are_rarely_shared(client):
    @flow
    def many():
        return 1

    for _ in range(40):
        many()
    names = [r.name for r in client.list_flow_runs(FlowRunFilter(flow_name="many", limit=100)).items]
    assert len(set(names)) >= 39


# -- hooks
def test_flow_and_task_hooks_are_called_as_prefect_calls_them(client):
    calls = []

    def flow_hook(flow, flow_run, state):
        calls.append(("flow", flow.name, flow_run.name, state.type))

    def task_hook(task, task_run, state):
        calls.append(("task", task.name, task_run.name, state.type))

    async def async_hook(flow, flow_run, state):
        calls.append(("async", state.type))

    @task(on_completion=[task_hook], on_failure=[task_hook])
    def maybe(fail: bool):
        if fail:
            raise ValueError("asked to")
        return 1

    @flow(on_completion=[flow_hook, async_hook], on_failure=[flow_hook], on_running=[flow_hook])
    def f(fail: bool):
        maybe(False)
        return maybe(fail)

    f(False)
    assert [c[0] for c in calls] == ["flow", "task", "task", "flow", "async"]
    assert calls[0][3] is StateType.RUNNING and calls[-2][3] is StateType.COMPLETED
    calls.clear()
    with pytest.raises(ValueError):
        f(True)
    assert ("task", "maybe", "maybe-1", StateType.FAILED) in calls
    assert calls[-1][0] == "flow" and calls[-1][3] is StateType.FAILED


def test_task_on_failure_runs_only_once_retries_are_exhausted(client):
    failures = []

    @task(retries=2, on_failure=[lambda task, task_run, state: failures.append(task_run.run_count)])
    def flaky():
        raise RuntimeError("no")

    @flow
    def f():
        return flaky(return_state=True)

    f(return_state=True)
    assert failures == [3]


def test_a_hook_that_raises_is_logged_and_changes_nothing(client):
    def broken_hook(flow, flow_run, state):
        raise RuntimeError("hook broke")

    @flow(on_completion=[broken_hook])
    def f():
        return "fine"

    assert f() == "fine"
    run = _run(client, "f")
    assert run.state.type is StateType.COMPLETED
    messages = [log.message for log in _logs(client, run.id)]
    assert any("An error was encountered while running hook 'broken_hook'" in m and "hook broke" in m for m in messages)


def test_on_crashed_and_on_cancellation_hooks(client):
    crashed = []

    @flow(on_crashed=[lambda flow, flow_run, state: crashed.append(state.type)])
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert crashed == [StateType.CRASHED]


def test_hook_options_must_be_callables():
    with pytest.raises(TypeError, match="on_completion hooks must be callables"):
        flow(on_completion=["not callable"])(lambda: 1)


# -- log_prints
def test_log_prints_on_a_task_alone_and_overriding_its_flow(client, capsys):
    @task(log_prints=True)
    def chatty():
        print("from the chatty task")

    @task(log_prints=False)
    def quiet():
        print("from the quiet task")

    @task
    def inherits():
        print("from the inheriting task")

    @flow
    def plain():
        chatty()
        inherits()

    @flow(log_prints=True)
    def loud():
        quiet()
        inherits()

    plain()
    loud()
    plain_logs = [log.message for log in _logs(client, _run(client, "plain").id)]
    loud_logs = [log.message for log in _logs(client, _run(client, "loud").id)]
    assert "from the chatty task" in plain_logs
    assert "from the inheriting task" not in plain_logs
    assert "from the quiet task" not in loud_logs and "from the inheriting task" in loud_logs
    assert "from the quiet task" in capsys.readouterr().out
