"""Real Prefect 2 code, written by others, run on Mintaka with only its imports changed.

Each test is one example from the Prefect 2.20.17 docs, Prefect's own `flows/` scripts at
2.20.17, or a public repository of Prefect 2 users (the source is cited above each test). The
example's code is kept as written: imports become `mintaka` imports, sleeps and loop sizes may
shrink, and network calls (`httpx.get`) are answered locally by monkeypatching `httpx.get`;
random failures are pinned by monkeypatching `random`. The assertions are what Prefect 2.20
documents (or its 2.20.17 source does) for that code. Every test runs on the embedded store and
over HTTP (the `client` fixture)."""

import asyncio
import datetime
import random
import time

import httpx
import pytest

from mintaka.clock import time_skipping
from mintaka.logging import flush_logs
from mintaka.schemas import FlowRunFilter
from mintaka.states import State, StateType

# -- helpers (test harness only, not part of any example)


class LocalHTTP:
    """Answers `httpx.get` locally: `routes` maps a URL to its answers, `(status, body)` pairs
    (a callable of the query params gives the body); answers are used in order and the last
    one repeats."""

    def __init__(self, routes):
        self.routes = {url: list(answers) for url, answers in routes.items()}
        self.calls = []

    def get(self, url, params=None, **kwargs):
        self.calls.append((url, params))
        answers = self.routes[url]
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(body):
            body = body(params)
        request = httpx.Request("GET", url, params=params)
        if isinstance(body, str):
            return httpx.Response(status, text=body, request=request)
        return httpx.Response(status, json=body, request=request)


def serve(monkeypatch, routes) -> LocalHTTP:
    local = LocalHTTP(routes)
    monkeypatch.setattr(httpx, "get", local.get)
    return local


def flow_runs(client, name):
    return client.list_flow_runs(FlowRunFilter(flow_name=name)).items


def only_run(client, name):
    [run] = flow_runs(client, name)
    return run


def task_runs(client, flow_run_id):
    return client.read_flow_run_detail(flow_run_id).task_runs


def log_messages(client, flow_run_id):
    flush_logs()
    return [log.message for log in client.read_logs(flow_run_id)]


def by_name(runs):
    return {run.name: run for run in runs}


GITHUB_REPO = {"stargazers_count": 12146, "forks_count": 1245, "open_issues_count": 250}


def issues_page(params):
    """A page of 250 open issues opened by 100 users (2.50 issues per user)."""
    first = (params["page"] - 1) * params["per_page"]
    numbers = range(first, min(first + params["per_page"], 250))
    return [{"number": n, "user": {"id": n % 100}} for n in numbers]


# ---------------------------------------------------------------------------------------------
# docs/tutorial/flows.md (2.20.17)


# Source: docs/tutorial/flows.md at 2.20.17, "Parameters" (repo_info.py), incl. the "bad" value
# `repo_name="missing-org/missing-repo"` the tutorial asks the reader to try.
def test_tutorial_flows_parameters(client, monkeypatch, capsys):
    local = serve(
        monkeypatch,
        {
            "https://api.github.com/repos/PrefectHQ/marvin": [(200, GITHUB_REPO)],
            "https://api.github.com/repos/missing-org/missing-repo": [(404, {"message": "Not Found"})],
        },
    )
    from mintaka import flow

    @flow
    def get_repo_info(repo_name: str = "PrefectHQ/prefect"):
        url = f"https://api.github.com/repos/{repo_name}"
        response = httpx.get(url)
        response.raise_for_status()
        repo = response.json()
        print(f"{repo_name} repository statistics 🤓:")
        print(f"Stars 🌠 : {repo['stargazers_count']}")
        print(f"Forks 🍴 : {repo['forks_count']}")

    assert get_repo_info(repo_name="PrefectHQ/marvin") is None
    out = capsys.readouterr().out
    assert "PrefectHQ/marvin repository statistics 🤓:\nStars 🌠 : 12146\nForks 🍴 : 1245\n" in out

    with pytest.raises(httpx.HTTPStatusError, match="Client error '404 Not Found'"):
        get_repo_info(repo_name="missing-org/missing-repo")
    runs = flow_runs(client, "get-repo-info")
    assert sorted(run.state.type for run in runs) == [StateType.COMPLETED, StateType.FAILED]
    assert sorted(run.parameters["repo_name"] for run in runs) == ["PrefectHQ/marvin", "missing-org/missing-repo"]
    assert len(local.calls) == 2


# Source: docs/tutorial/flows.md at 2.20.17, "Retries" (retries=3, retry_delay_seconds=5,
# log_prints=True); the GitHub API answers 503 once, as the tutorial's "temporarily unavailable".
def test_tutorial_flows_retries_and_log_prints(client, monkeypatch):
    url = "https://api.github.com/repos/PrefectHQ/prefect"
    local = serve(monkeypatch, {url: [(503, {}), (200, GITHUB_REPO)]})
    from mintaka import flow

    @flow(retries=3, retry_delay_seconds=5, log_prints=True)
    def get_repo_info(repo_name: str = "PrefectHQ/prefect"):
        url = f"https://api.github.com/repos/{repo_name}"
        response = httpx.get(url)
        response.raise_for_status()
        repo = response.json()
        print(f"{repo_name} repository statistics 🤓:")
        print(f"Stars 🌠 : {repo['stargazers_count']}")
        print(f"Forks 🍴 : {repo['forks_count']}")

    with time_skipping():
        assert get_repo_info() is None
    run = only_run(client, "get-repo-info")
    assert run.state.type is StateType.COMPLETED and run.run_count == 2
    assert len(local.calls) == 2
    logs = log_messages(client, run.id)
    for line in ("PrefectHQ/prefect repository statistics 🤓:", "Stars 🌠 : 12146", "Forks 🍴 : 1245"):
        assert line in logs


# ---------------------------------------------------------------------------------------------
# docs/tutorial/tasks.md (2.20.17)


# Source: docs/tutorial/tasks.md at 2.20.17, the final program of "Caching", "Concurrency" and
# "Subflows": get_url cached on task_input_hash for an hour, pages fetched with .submit() in the
# get_open_issues subflow. Run twice: the second run's get_url calls are all cache hits.
def test_tutorial_tasks_caching_concurrency_subflows(client, monkeypatch):
    from datetime import timedelta
    from typing import Optional

    from mintaka import flow, task
    from mintaka.tasks import task_input_hash

    local = serve(
        monkeypatch,
        {
            "https://api.github.com/repos/PrefectHQ/prefect": [(200, GITHUB_REPO)],
            "https://api.github.com/repos/PrefectHQ/prefect/issues": [(200, issues_page)],
        },
    )

    @task(cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1))
    def get_url(url: str, params: Optional[dict[str, any]] = None):  # noqa: UP045 (as written)
        response = httpx.get(url, params=params)
        response.raise_for_status()
        return response.json()

    @flow
    def get_open_issues(repo_name: str, open_issues_count: int, per_page: int = 100):
        issues = []
        pages = range(1, -(open_issues_count // -per_page) + 1)
        for page in pages:
            issues.append(
                get_url.submit(
                    f"https://api.github.com/repos/{repo_name}/issues",
                    params={"page": page, "per_page": per_page, "state": "open"},
                )
            )
        return [i for p in issues for i in p.result()]

    @flow(retries=3, retry_delay_seconds=5, log_prints=True)
    def get_repo_info(repo_name: str = "PrefectHQ/prefect"):
        repo_stats = get_url(f"https://api.github.com/repos/{repo_name}")
        issues = get_open_issues(repo_name, repo_stats["open_issues_count"])
        issues_per_user = len(issues) / len(set([i["user"]["id"] for i in issues]))
        print(f"{repo_name} repository statistics 🤓:")
        print(f"Stars 🌠 : {repo_stats['stargazers_count']}")
        print(f"Forks 🍴 : {repo_stats['forks_count']}")
        print(f"Average open issues per user 💌 : {issues_per_user:.2f}")

    get_repo_info()
    assert len(local.calls) == 4  # the repository, then three pages of 100 issues
    get_repo_info()
    assert len(local.calls) == 4  # every get_url of the second run is a cache hit

    parents = sorted(flow_runs(client, "get-repo-info"), key=lambda r: r.created)
    children = sorted(flow_runs(client, "get-open-issues"), key=lambda r: r.created)
    assert len(parents) == 2 and len(children) == 2
    for parent, child in zip(parents, children, strict=True):
        assert parent.state.type is StateType.COMPLETED and child.state.type is StateType.COMPLETED
        assert child.parent_task_run_id in {t.id for t in task_runs(client, parent.id)}
        assert "Average open issues per user 💌 : 2.50" in log_messages(client, parent.id)
        assert sorted(t.name for t in task_runs(client, child.id)) == ["get_url-0", "get_url-1", "get_url-2"]
    second = [t for t in task_runs(client, parents[1].id) if t.name.startswith("get_url")]
    second += task_runs(client, children[1].id)
    assert len(second) == 4 and {t.state.name for t in second} == {"Cached"}


# ---------------------------------------------------------------------------------------------
# docs/concepts/flows.md (2.20.17)


# Source: docs/concepts/flows.md at 2.20.17, "Composing flows" (hello_world + my_subflow).
def test_concepts_flows_composing_flows(client, capsys):
    from mintaka import flow, task

    @task(name="Print Hello")
    def print_hello(name):
        msg = f"Hello {name}!"
        print(msg)
        return msg

    @flow(name="Subflow")
    def my_subflow(msg):
        print(f"Subflow says: {msg}")

    @flow(name="Hello Flow")
    def hello_world(name="world"):
        message = print_hello(name)
        my_subflow(message)

    hello_world("Marvin")
    assert capsys.readouterr().out == "Hello Marvin!\nSubflow says: Hello Marvin!\n"
    parent, child = only_run(client, "Hello Flow"), only_run(client, "Subflow")
    assert parent.parameters == {"name": "Marvin"} and child.parameters == {"msg": "Hello Marvin!"}
    assert parent.state.message == "All states completed."
    # "The relationship between a child and parent flow is tracked by creating a special task run
    # in the parent flow."
    parent_task_runs = task_runs(client, parent.id)
    assert child.parent_task_run_id in {t.id for t in parent_task_runs}
    assert "Print Hello-0" in {t.name for t in parent_task_runs}


# Source: docs/concepts/flows.md at 2.20.17, "Flow settings": flow_run_name as a template
# ("creates a flow run called 'marvin-on-Thursday'") and as a function.
def test_concepts_flows_flow_run_name(client):
    from mintaka import flow

    @flow(flow_run_name="{name}-on-{date:%A}")
    def my_flow(name: str, date: datetime.datetime):
        pass

    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (as written)
    my_flow(name="marvin", date=now)
    assert only_run(client, "my-flow").name == f"marvin-on-{now:%A}"

    def generate_flow_run_name():
        date = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (as written)
        return f"{date:%A}-is-a-nice-day"

    @flow(flow_run_name=generate_flow_run_name)
    def my_other_flow(name: str):
        pass

    my_other_flow(name="marvin")
    assert only_run(client, "my-other-flow").name == f"{now:%A}-is-a-nice-day"


# Source: docs/concepts/flows.md at 2.20.17, "Flow settings": a flow_run_name function reading
# `prefect.runtime` ("creates a flow run called 'my-flow-with-marvin-and-100'").
# Prefect 2.20.17: engine.py:begin_flow_run resolves the name with _resolve_custom_flow_run_name
# inside `with FlowRunContext(...)`, and runtime/flow_run.py:get_parameters/get_flow_name read
# that context.
def test_concepts_flows_flow_run_name_from_runtime(client):
    from mintaka import flow
    from mintaka.runtime import flow_run

    def generate_flow_run_name():
        flow_name = flow_run.flow_name
        parameters = flow_run.parameters
        name = parameters["name"]
        limit = parameters["limit"]
        return f"{flow_name}-with-{name}-and-{limit}"

    @flow(flow_run_name=generate_flow_run_name)
    def my_flow(name: str, limit: int = 100):
        pass

    # creates a flow run called 'my-flow-with-marvin-and-100'
    my_flow(name="marvin")
    assert only_run(client, "my-flow").name == "my-flow-with-marvin-and-100"


# Source: docs/concepts/flows.md at 2.20.17, "Parameters": a string coerced to a datetime.
def test_concepts_flows_parameter_type_coercion(client, capsys):
    from datetime import datetime

    from mintaka import flow

    @flow
    def what_day_is_it(date: datetime = None):  # noqa: RUF013 (as written)
        if date is None:
            date = datetime.now(timezone.utc)  # noqa: F821 (as written in the docs)
        print(f"It was {date.strftime('%A')} on {date.isoformat()}")

    what_day_is_it("2021-01-01T02:00:19.180906")
    assert capsys.readouterr().out == "It was Friday on 2021-01-01T02:00:19.180906\n"


# Source: docs/concepts/flows.md at 2.20.17, "Parameters": the pydantic `Model` snippet, called
# with a valid and an invalid value and `return_state=True` (concepts/states.md): "If a flow call
# receives invalid parameters, a flow run is created in a Failed state."
# Prefect 2.20.17: engine.py:create_then_begin_flow_run catches the validation error, makes the run
# with exception_to_failed_state(message="Validation of flow parameters failed with error:") and,
# for return_type="state", returns that state (the plain call raises it via state.result()).
def test_concepts_flows_invalid_parameters_give_a_failed_state(client, capsys):
    from pydantic import BaseModel

    from mintaka import flow

    class Model(BaseModel):
        a: int
        b: float
        c: str

    @flow
    def model_validator(model: Model):
        print(model)

    assert model_validator(model=dict(a=42, b=4.2, c="Marvin"), return_state=True).is_completed()
    assert capsys.readouterr().out == "a=42 b=4.2 c='Marvin'\n"
    state = model_validator(model={"a": "Not an int", "b": 4.2, "c": "Marvin"}, return_state=True)
    assert state.type is StateType.FAILED
    assert state.message.startswith("Validation of flow parameters failed with error: ParameterTypeError: ")
    with pytest.raises(Exception, match="valid integer"):
        state.result()
    runs = flow_runs(client, "model-validator")
    assert sorted(run.state.type for run in runs) == [StateType.COMPLETED, StateType.FAILED]


# Source: docs/concepts/flows.md at 2.20.17, "Final state determination" > "Raise an exception".
# Prefect 2.20.17: engine.py:orchestrate_flow_run -> states.py:exception_to_failed_state(
# message="Flow run encountered an exception.") appends " " + format_exception(exc).
def test_concepts_flows_raise_an_exception(client):
    from mintaka import flow

    @flow
    def always_fails_flow():
        raise ValueError("This flow immediately fails")

    with pytest.raises(ValueError, match="This flow immediately fails"):
        always_fails_flow()
    state = always_fails_flow(return_state=True)
    assert state.type is StateType.FAILED and state.name == "Failed"
    assert state.message == "Flow run encountered an exception. ValueError: This flow immediately fails"


# Source: docs/concepts/flows.md at 2.20.17, "Final state determination" > "Return none".
def test_concepts_flows_return_none(client, capsys):
    from mintaka import flow, task

    @task
    def always_fails_task():
        raise ValueError("I fail successfully")

    @task
    def always_succeeds_task():
        print("I'm fail safe!")
        return "success"

    @flow
    def always_fails_flow():
        always_fails_task.submit().result(raise_on_failure=False)
        always_succeeds_task()

    with pytest.raises(ValueError, match="I fail successfully"):
        always_fails_flow()
    assert capsys.readouterr().out == "I'm fail safe!\n"
    run = only_run(client, "always-fails-flow")
    assert run.state.type is StateType.FAILED and run.state.message == "1/2 states failed."


# Source: docs/concepts/flows.md at 2.20.17, "Final state determination" > "Return a future".
def test_concepts_flows_return_a_future(client):
    from mintaka import flow, task

    @task
    def always_fails_task():
        raise ValueError("I fail successfully")

    @task
    def always_succeeds_task():
        print("I'm fail safe!")
        return "success"

    @flow
    def always_succeeds_flow():
        x = always_fails_task.submit().result(raise_on_failure=False)
        y = always_succeeds_task.submit(wait_for=[x])
        return y

    # The returned future is resolved to its state; the caller gets that state (states.py:
    # return_value_to_state puts the state itself in the flow's result).
    returned = always_succeeds_flow()
    assert isinstance(returned, State) and returned.is_completed() and returned.result() == "success"
    run = only_run(client, "always-succeeds-flow")
    assert run.state.type is StateType.COMPLETED and run.state.message == "All states completed."
    assert {t.name: t.state.type for t in task_runs(client, run.id)} == {
        "always_fails_task-0": StateType.FAILED,
        "always_succeeds_task-0": StateType.COMPLETED,
    }


# Source: anna-geller/pacc-berlin flows/07_data_and_state_dependencies/subflow_returning_state.py
# (the docs' "Return multiple states or futures" written with futures and a subflow state):
# "Finished in state Failed('1/3 states failed.')".
def test_pacc_subflow_returning_state(client):
    from mintaka import flow, task

    @task
    def always_fails_task():
        raise ValueError("I am bad task")

    @task
    def always_succeeds_task():
        return "foo"

    @flow
    def always_succeeds_flow():
        return "bar"

    @flow
    def subflow_returning_state():
        x = always_fails_task.submit()
        y = always_succeeds_task.submit()
        z = always_succeeds_flow(return_state=True)
        return x, y, z  # Finished in state Failed('1/3 states failed.')

    state = subflow_returning_state(return_state=True)
    assert state.type is StateType.FAILED and state.message == "1/3 states failed."
    x, y, z = state.result(raise_on_failure=False)
    assert x.is_failed() and isinstance(x.result(raise_on_failure=False), ValueError)
    assert y.result() == "foo" and z.result() == "bar"
    with pytest.raises(ValueError, match="I am bad task"):
        subflow_returning_state()


# Source: docs/concepts/flows.md at 2.20.17, "Final state determination" > "Return a manual state".
def test_concepts_flows_return_a_manual_state(client):
    from mintaka import flow, task
    from mintaka.states import Completed, Failed

    @task
    def always_fails_task():
        raise ValueError("I fail successfully")

    @task
    def always_succeeds_task():
        print("I'm fail safe!")
        return "success"

    @flow
    def always_succeeds_flow():
        x = always_fails_task.submit()  # noqa: F841
        y = always_succeeds_task.submit()
        if y.result() == "success":
            return Completed(message="I am happy with this result")
        else:
            return Failed(message="How did this happen!?")

    state = always_succeeds_flow(return_state=True)
    assert state.type is StateType.COMPLETED and state.message == "I am happy with this result"
    run = only_run(client, "always-succeeds-flow")
    assert run.state.type is StateType.COMPLETED and run.state.message == "I am happy with this result"


# ---------------------------------------------------------------------------------------------
# docs/concepts/states.md (2.20.17): state change hooks


# Source: docs/concepts/states.md at 2.20.17, "Pass kwargs to your hooks" (first snippet).
def test_concepts_states_hook_with_default_argument(client):
    from mintaka import flow

    data = {}

    def my_hook(flow, flow_run, state, my_arg="custom_value"):
        data.update(my_arg=my_arg, state=state)

    @flow(on_completion=[my_hook])
    def lazy_flow():
        pass

    state = lazy_flow(return_state=True)

    assert data == {"my_arg": "custom_value", "state": state}


# Source: docs/concepts/states.md at 2.20.17, "Pass kwargs to your hooks" (partial + with_options).
def test_concepts_states_hook_with_partial_kwargs(client):
    from functools import partial

    from mintaka import flow, task

    data = {}

    def my_hook(task, task_run, state, **kwargs):
        data.update(state=state, **kwargs)

    @task
    def bad_task():
        raise ValueError("meh")

    @flow
    def ok_with_failure_flow(x: str = "foo", y: int = 42):
        bad_task_with_a_hook = bad_task.with_options(on_failure=[partial(my_hook, **dict(x=x, y=y))])
        # return a tuple of "bar" and the task run state
        # to avoid raising the task's exception
        return "bar", bad_task_with_a_hook(return_state=True)

    _, task_run_state = ok_with_failure_flow()

    assert data == {"x": "foo", "y": 42, "state": task_run_state}
    assert only_run(client, "ok-with-failure-flow").state.type is StateType.COMPLETED


# Source: docs/guides/state-change-hooks.md at 2.20.17, "Send a notification when a flow run
# fails" (the Slack block is replaced by a local list; the message is built as written, less the
# UI URL setting).
def test_guides_state_change_hooks_on_failure_after_retries(client):
    from mintaka import flow

    sent = []

    def notify_slack(flow, flow_run, state):
        sent.append(
            f"Your job {flow_run.name} entered {state.name} "
            f"with message:\n\n"
            f"Tags: {flow_run.tags}\n\n"
            f"Scheduled start: {flow_run.expected_start_time}"
        )

    @flow(on_failure=[notify_slack], retries=1)
    def failing_flow():
        raise ValueError("oops!")

    with pytest.raises(ValueError, match="oops!"):
        failing_flow()
    # "the on_failure hook will not run until all retries have completed"
    run = only_run(client, "failing-flow")
    assert run.run_count == 2
    assert len(sent) == 1 and sent[0].startswith(f"Your job {run.name} entered Failed with message:")


# ---------------------------------------------------------------------------------------------
# docs/concepts/results.md (2.20.17)


# Source: docs/concepts/results.md at 2.20.17, "Handling failures": `state.result(
# raise_on_failure=False)` and "Future.result() works the same as State.result()".
def test_concepts_results_handling_failures(client, capsys):
    from mintaka import flow, task

    @task
    def my_task():
        raise ValueError()

    @flow
    def my_flow():
        state = my_task(return_state=True)
        maybe_result = state.result(raise_on_failure=False)
        if isinstance(maybe_result, ValueError):
            print("Oh no! The task failed. Falling back to '1'.")
            result = 1
        else:
            result = maybe_result
        return result + 1

    result = my_flow()
    assert result == 2

    @flow
    def my_future_flow():
        future = my_task.submit()
        try:
            future.result()
        except ValueError:
            print("Ah! Futures will raise the failure as well.")
        # You can ask it not to raise the exception too
        maybe_result = future.result(raise_on_failure=False)
        print(f"Got {type(maybe_result)}")
        return True

    assert my_future_flow() is True
    assert capsys.readouterr().out == (
        "Oh no! The task failed. Falling back to '1'.\n"
        "Ah! Futures will raise the failure as well.\n"
        "Got <class 'ValueError'>\n"
    )
    # returning a value: Completed, whatever its tasks did
    assert only_run(client, "my-future-flow").state.type is StateType.COMPLETED


# Source: docs/concepts/results.md at 2.20.17, "Working with async results" (the State.result
# snippet: `await state.result(fetch=True)`, and the Future.result snippet).
def test_concepts_results_async(client):
    from mintaka import flow, task

    @task
    async def my_task():
        return 1

    @flow
    async def my_flow():
        state = await my_task(return_state=True)
        result = await state.result(fetch=True)
        return result + 1

    async def main():
        state = await my_flow(return_state=True)
        assert await state.result(fetch=True) == 2

    asyncio.run(main())

    @flow
    async def my_submit_flow():
        future = await my_task.submit()
        result = await future.result()
        return result + 1

    result = asyncio.run(my_submit_flow())
    assert result == 2


# Source: docs/concepts/results.md at 2.20.17, "Caching of results in memory": with
# cache_result_in_memory=False the result is persisted and "pulled from storage when needed".
def test_concepts_results_cache_result_in_memory_false(client):
    from mintaka import flow, task

    @flow
    def foo():
        result = bar()  # noqa: F841
        state = bar(return_state=True)
        # The result will be retrieved from storage here
        state.result()
        future = bar.submit()
        # The result will be retrieved from storage here
        future.result()

    @task(cache_result_in_memory=False)
    def bar():
        # This result will persisted
        return "pretend this is biiiig data"

    assert foo() is None
    run = only_run(client, "foo")
    assert run.state.type is StateType.COMPLETED
    assert [t.state.type for t in task_runs(client, run.id)] == [StateType.COMPLETED] * 3


# Source: anna-geller/pacc-berlin flows/03_results/compressed_serializer.py (a CompressedSerializer
# instance on the task, the "compressed/pickle" type name on the flow; results.md at 2.20.17,
# "Compressing results", documents both forms).
# Prefect 2.20.17: serializers.py:CompressedSerializer(serializer=, compressionlib=) and the
# CompressedPickleSerializer type "compressed/pickle".
def test_pacc_compressed_result_serializer(client):
    from mintaka import flow, task
    from mintaka.serializers import CompressedSerializer

    @task(
        persist_result=True,
        # more complicated but allows specific compression library
        result_serializer=CompressedSerializer(compressionlib="zlib", serializer="pickle"),
    )
    def get_some_large_result():
        return 42

    @flow(result_serializer="compressed/pickle")
    def flow_with_compressed_serializer():
        get_some_large_result()
        return "Hi from Results with task with compressed pickle serializer! 👋"

    state = flow_with_compressed_serializer(return_state=True)
    assert state.result() == "Hi from Results with task with compressed pickle serializer! 👋"
    run = only_run(client, "flow-with-compressed-serializer")
    [task_run] = task_runs(client, run.id)
    assert client.read_flow_run(run.id).state.result() == state.result()
    assert client.read_task_run(task_run.id).state.result() == 42


# Source: PrefectHQ/prefect flows/flow_results.py at 2.20.17 (persisted flow result read back
# through `get_client().read_flow_run`).
def test_prefect_flows_flow_results(client):
    import anyio

    from mintaka import flow, get_client

    @flow
    def hello():
        return "Hello!"

    hello = hello.with_options(persist_result=True)

    async def get_state_from_api(flow_run_id):
        async with get_client() as client:
            flow_run = await client.read_flow_run(flow_run_id)
            return flow_run.state

    state = hello(return_state=True)
    assert state.result() == "Hello!", f"Got state {state}"

    api_state = anyio.run(get_state_from_api, state.state_details.flow_run_id)
    result = api_state.result()
    assert result == "Hello!", f"Got {result!r}"


# Source: PrefectHQ/prefect flows/task_results.py at 2.20.17 (persisted task result read back
# through `get_client().read_task_run`).
def test_prefect_flows_task_results(client):
    import anyio

    from mintaka import flow, get_client, task

    @task
    def hello():
        return "Hello!"

    @flow
    def wrapper_flow():
        return hello(return_state=True)

    hello = hello.with_options(persist_result=True)

    async def get_state_from_api(task_run_id):
        async with get_client() as client:
            task_run = await client.read_task_run(task_run_id)
            return task_run.state

    task_state = wrapper_flow()
    assert task_state.result() == "Hello!"

    api_state = anyio.run(get_state_from_api, task_state.state_details.task_run_id)
    result = api_state.result()
    assert result == "Hello!", f"Got {result!r}"


# ---------------------------------------------------------------------------------------------
# docs/concepts/tasks.md (2.20.17)


# Source: docs/concepts/tasks.md at 2.20.17, "Custom retry behavior": retry_condition_fn
# (httpbin.org/status/503 retried once; a 404 is not retried).
def test_concepts_tasks_retry_condition_fn(client, monkeypatch):
    from mintaka import flow, task

    local = serve(
        monkeypatch,
        {"https://httpbin.org/status/503": [(503, "")], "https://httpbin.org/status/404": [(404, "")]},
    )

    def retry_handler(task, task_run, state) -> bool:
        """This is a custom retry handler to handle when we want to retry a task"""
        try:
            # Attempt to get the result of the task
            state.result()
        except httpx.HTTPStatusError as exc:
            # Retry on any HTTP status code that is not 401 or 404
            do_not_retry_on_these_codes = [401, 404]
            return exc.response.status_code not in do_not_retry_on_these_codes
        except httpx.ConnectError:
            # Do not retry
            return False
        except:  # noqa: E722 (as written)
            # For any other exception, retry
            return True

    @task(retries=1, retry_condition_fn=retry_handler)
    def my_api_call_task(url):
        response = httpx.get(url)
        response.raise_for_status()
        return response.json()

    @flow
    def get_data_flow(url):
        my_api_call_task(url=url)

    with pytest.raises(httpx.HTTPStatusError, match="503"):
        get_data_flow(url="https://httpbin.org/status/503")
    assert [url for url, _ in local.calls] == ["https://httpbin.org/status/503"] * 2
    with pytest.raises(httpx.HTTPStatusError, match="404"):
        get_data_flow(url="https://httpbin.org/status/404")
    assert [url for url, _ in local.calls][2:] == ["https://httpbin.org/status/404"]


# Source: docs/concepts/tasks.md at 2.20.17, "Caching": static_cache_key, "cached_task() only
# runs once" across three calls in each of three flow runs.
def test_concepts_tasks_static_cache_key(client, capsys):
    from mintaka import flow, task

    def static_cache_key(context, parameters):
        # return a constant
        return "static cache key"

    @task(cache_key_fn=static_cache_key)
    def cached_task():
        print("running an expensive operation")
        return 42

    @flow
    def test_caching():
        cached_task()
        cached_task()
        cached_task()

    test_caching()
    test_caching()
    test_caching()
    assert capsys.readouterr().out == "running an expensive operation\n"
    runs = flow_runs(client, "test-caching")
    states = [t.state for run in runs for t in task_runs(client, run.id)]
    assert len(states) == 9 and all(s.type is StateType.COMPLETED for s in states)
    assert sorted(s.name for s in states) == ["Cached"] * 8 + ["Completed"]


# Source: docs/concepts/tasks.md at 2.20.17, "Refreshing the cache": with refresh_cache=True the
# task "will always update the cache key instead of using the cache"; a task with
# refresh_cache=False then reads the key (the latest value: Prefect 2.20.17
# server/orchestration/core_policy.py:CacheRetrieval takes the newest entry for the key).
def test_concepts_tasks_refresh_cache(client):
    from mintaka import flow, task

    def static_cache_key(context, parameters):
        # return a constant
        return "static cache key"

    @task(cache_key_fn=static_cache_key, refresh_cache=True)
    def caching_task():
        return random.random()

    @flow
    def refresh():
        return caching_task(), caching_task()

    first, second = refresh()
    assert first != second  # refreshed: ran both times
    states = [t.state for t in task_runs(client, only_run(client, "refresh").id)]
    assert [s.name for s in states] == ["Completed", "Completed"]

    @task(cache_key_fn=static_cache_key, refresh_cache=False)
    def caching_task():  # noqa: F811 (the docs' second snippet)
        return random.random()

    @flow
    def read():
        return caching_task(return_state=True)

    state = read()
    assert state.name == "Cached" and state.result() == second


# Source: docs/concepts/tasks.md at 2.20.17, "Timeouts" (time.sleep(5) shrunk to 2).
# Prefect 2.20.17: engine.py:orchestrate_task_run builds the state with exception_to_failed_state(
# TimeoutError(), message=f"Task run exceeded timeout of {task.timeout_seconds} seconds",
# name="TimedOut") and Task.__init__ stores float(timeout_seconds).
def test_concepts_tasks_timeouts(client):
    from mintaka import flow, task

    @task(timeout_seconds=1, log_prints=True)
    def show_timeouts():
        print("I will execute")
        time.sleep(2)
        print("I will not execute")

    @flow
    def timeouts():
        show_timeouts()

    with pytest.raises(TimeoutError):
        timeouts()
    run = only_run(client, "timeouts")
    assert run.state.type is StateType.FAILED
    [task_run] = task_runs(client, run.id)
    state = task_run.state
    assert state.type is StateType.FAILED and state.name == "TimedOut"
    assert state.message == "Task run exceeded timeout of 1.0 seconds TimeoutError: "
    logs = log_messages(client, run.id)
    assert "I will execute" in logs and "I will not execute" not in logs


# Source: docs/concepts/tasks.md at 2.20.17, "Map": map_flow, sum_it with a static value, and
# sum_it with `unmapped`. A flow returning futures returns their states to its caller.
def test_concepts_tasks_map(client, capsys):
    from mintaka import flow, task, unmapped

    @task
    def print_nums(nums):
        for n in nums:
            print(n)

    @task
    def square_num(num):
        return num**2

    @flow
    def map_flow(nums):
        print_nums(nums)
        squared_nums = square_num.map(nums)
        print_nums(squared_nums)

    map_flow([1, 2, 3, 5, 8, 13])
    assert capsys.readouterr().out.split() == ["1", "2", "3", "5", "8", "13", "1", "4", "9", "25", "64", "169"]
    assert len(task_runs(client, only_run(client, "map-flow").id)) == 8

    @task
    def add_together(x, y):
        return x + y

    @flow
    def sum_it(numbers, static_value):
        futures = add_together.map(numbers, static_value)
        return futures

    states = sum_it([1, 2, 3], 5)
    assert [s.result() for s in states] == [6, 7, 8]

    @task
    def sum_plus(x, static_iterable):
        return x + sum(static_iterable)

    @flow
    def sum_it_unmapped(numbers, static_iterable):
        futures = sum_plus.map(numbers, static_iterable)
        return futures

    states = sum_it_unmapped([4, 5, 6], unmapped([1, 2, 3]))
    assert [s.result() for s in states] == [10, 11, 12]


# Source: docs/concepts/tasks.md at 2.20.17, "Async tasks" (asyncio.sleep(1) shrunk to 0.01).
def test_concepts_tasks_async_gather(client, capsys):
    from mintaka import flow, task

    @task
    async def print_values(values):
        for value in values:
            await asyncio.sleep(0.01)  # yield
            print(value, end=" ")

    @flow
    async def async_flow():
        await print_values([1, 2])  # runs immediately
        coros = [print_values("abcd"), print_values("6789")]
        # asynchronously gather the tasks
        await asyncio.gather(*coros)

    asyncio.run(async_flow())
    out = capsys.readouterr().out.split()
    assert out[:2] == ["1", "2"]
    assert [c for c in out if c.isalpha()] == list("abcd") and [c for c in out[2:] if c.isdigit()] == list("6789")
    run = only_run(client, "async-flow")
    assert run.state.type is StateType.COMPLETED and len(task_runs(client, run.id)) == 3


# Source: docs/concepts/tasks.md at 2.20.17, "Tags": on the decorator and with `tags(...)`.
def test_concepts_tasks_tags(client):
    from mintaka import flow, tags, task

    @task(name="hello-task", tags=["test"])
    def my_decorated_task():
        print("Hello, I'm a task")

    @task
    def my_task():
        print("Hello, I'm a task")

    @flow
    def my_flow():
        my_decorated_task()
        with tags("test"):
            my_task()

    my_flow()
    runs = by_name(task_runs(client, only_run(client, "my-flow").id))
    assert runs["hello-task-0"].tags == ["test"] and runs["my_task-0"].tags == ["test"]


# Source: docs/concepts/tasks.md at 2.20.17, "Task arguments": task_run_name as a template
# ("creates a run with a name like 'hello-marvin-on-Thursday'") and as a function.
def test_concepts_tasks_task_run_name(client):
    from mintaka import flow, task

    @task(
        name="My Example Task", description="An example task for a tutorial.", task_run_name="hello-{name}-on-{date:%A}"
    )
    def my_task(name, date):
        pass

    @flow
    def my_flow():
        # creates a run with a name like "hello-marvin-on-Thursday"
        my_task(name="marvin", date=datetime.datetime.now(datetime.timezone.utc))  # noqa: UP017 (as written)

    def generate_task_name():
        date = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (as written)
        return f"{date:%A}-is-a-lovely-day"

    @task(name="My Example Task", description="An example task for a tutorial.", task_run_name=generate_task_name)
    def my_other_task(name):
        pass

    @flow
    def my_other_flow():
        # creates a run with a name like "Thursday-is-a-lovely-day"
        my_other_task(name="marvin")

    my_flow()
    my_other_flow()
    today = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
    [named] = task_runs(client, only_run(client, "my-flow").id)
    assert named.name == f"hello-marvin-on-{today:%A}"
    [named] = task_runs(client, only_run(client, "my-other-flow").id)
    assert named.name == f"{today:%A}-is-a-lovely-day"


# Source: docs/concepts/tasks.md at 2.20.17, "Task arguments": a task_run_name function reading
# `prefect.runtime` ("creates a run with a name like 'my-flow-my-example-task-with-marvin-and-100'").
# Prefect 2.20.17: engine.py:orchestrate_task_run resolves the name with
# _resolve_custom_task_run_name inside `with task_run_context.copy(...)`, and
# runtime/task_run.py:get_parameters/get_task_name read that TaskRunContext.
def test_concepts_tasks_task_run_name_from_runtime(client):
    from mintaka import flow, task
    from mintaka.runtime import flow_run, task_run

    def generate_task_name():
        flow_name = flow_run.flow_name
        task_name = task_run.task_name
        parameters = task_run.parameters
        name = parameters["name"]
        limit = parameters["limit"]
        return f"{flow_name}-{task_name}-with-{name}-and-{limit}"

    @task(name="my-example-task", description="An example task for a tutorial.", task_run_name=generate_task_name)
    def my_task(name: str, limit: int = 100):
        pass

    @flow
    def my_flow(name: str):
        # creates a run with a name like "my-flow-my-example-task-with-marvin-and-100"
        my_task(name="marvin")

    my_flow("marvin")
    [named] = task_runs(client, only_run(client, "my-flow").id)
    assert named.name == "my-flow-my-example-task-with-marvin-and-100"


# Source: docs/concepts/tasks.md at 2.20.17, "Calling a task from another task" (2.18+), run
# from a flow. Prefect 2.20.17: the nested call is a task run of the same flow run
# (engine.py:create_task_run_future); print is logged only where log_prints applies
# (logging/loggers.py:print_as_log reads the *current* run context, and my_task's own context
# has log_prints from tasks.py/engine.py:should_log_prints -> the flow's, False here).
def test_concepts_tasks_task_called_from_a_task(client, capsys):
    from mintaka import flow, task

    @task
    def my_task():
        print("Hello, I'm a task")

    @task(log_prints=True)
    def my_parent_task():
        my_task()
        print("Hello, I'm the parent task")

    @flow
    def my_flow():
        my_parent_task()

    my_flow()
    run = only_run(client, "my-flow")
    assert sorted(t.name for t in task_runs(client, run.id)) == ["my_parent_task-0", "my_task-0"]
    assert run.state.type is StateType.COMPLETED
    logs = log_messages(client, run.id)
    assert "Hello, I'm the parent task" in logs and "Hello, I'm a task" not in logs
    assert capsys.readouterr().out == "Hello, I'm a task\n"


# Source: anna-geller/pacc-berlin flows/01_data_state_futures/tag_based_concurrency_control.py
# (9 "db" task runs, time.sleep(10) shrunk to 0.3). The script's setup step `prefect
# concurrency-limit create db 3` is done with Mintaka's API; tasks.md at 2.20.17, "Task run
# concurrency limits": no more than 3 task runs tagged "db" are Running at once.
def test_pacc_tag_based_concurrency_control(client):
    from mintaka import flow, task
    from mintaka.schemas import ConcurrencyLimitCreate

    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=3))  # the CLI setup step
    running, peak = [], []

    @task(log_prints=True, tags=["db"])
    def db_task():
        running.append(1)
        peak.append(len(running))
        print("using DB connection, need to mitigate DB pressure")
        time.sleep(0.3)
        running.pop()

    @flow
    def db_flow():
        for i in range(1, 10):
            db_task.with_options(name=f"db_{i}").submit()

    with time_skipping():  # slot waits (30 s in Prefect) pass at once
        db_flow()
    run = only_run(client, "db-flow")
    assert run.state.message == "All states completed."
    assert len(task_runs(client, run.id)) == 9 and max(peak) <= 3


# Source: docs/concepts/tasks.md at 2.20.17, "Task run concurrency limits" > "Python client":
# create_concurrency_limit, read_concurrency_limit_by_tag and delete_concurrency_limit_by_tag on
# `async with get_client() as client`.
# Prefect 2.20.17: client/orchestration.py:PrefectClient.create_concurrency_limit(tag,
# concurrency_limit) -> UUID, read_concurrency_limit_by_tag(tag) -> ConcurrencyLimit(tag,
# concurrency_limit, active_slots), delete_concurrency_limit_by_tag(tag).
def test_concepts_tasks_concurrency_limits_python_client(client):
    from mintaka import get_client

    async def main():
        async with get_client() as client:
            # set a concurrency limit of 10 on the 'small_instance' tag
            limit_id = await client.create_concurrency_limit(tag="small_instance", concurrency_limit=10)

        async with get_client() as client:
            # query the concurrency limit on the 'small_instance' tag
            limit = await client.read_concurrency_limit_by_tag(tag="small_instance")

        async with get_client() as client:
            # remove a concurrency limit on the 'small_instance' tag
            await client.delete_concurrency_limit_by_tag(tag="small_instance")
        return limit_id, limit

    limit_id, limit = asyncio.run(main())
    assert limit.tag == "small_instance" and limit.concurrency_limit == 10 and limit.id == limit_id
    assert client.list_concurrency_limits() == []


# ---------------------------------------------------------------------------------------------
# docs/concepts/task-runners.md (2.20.17)


# Source: docs/concepts/task-runners.md at 2.20.17, "Using a task runner": the elevator on a
# ConcurrentTaskRunner (time.sleep(floor) shrunk to floor / 10).
def test_concepts_task_runners_concurrent_elevator(client):
    from mintaka import flow, task
    from mintaka.task_runners import ConcurrentTaskRunner

    @task
    def stop_at_floor(floor):
        print(f"elevator moving to floor {floor}")
        time.sleep(floor / 10)
        print(f"elevator stops on floor {floor}")

    @flow(task_runner=ConcurrentTaskRunner())
    def elevator():
        for floor in range(10, 0, -1):
            stop_at_floor.submit(floor)

    started = time.monotonic()
    elevator()
    elapsed = time.monotonic() - started
    assert elapsed < 4.5  # the ten sleeps add up to 5.5 s; concurrently the longest is 1 s
    run = only_run(client, "elevator")
    assert run.state.message == "All states completed."
    assert len(task_runs(client, run.id)) == 10


# Source: docs/concepts/task-runners.md at 2.20.17, "Running tasks sequentially": glass_tower on
# a SequentialTaskRunner stops at floors 1 to 38 in order.
def test_concepts_task_runners_sequential_glass_tower(client, capsys):
    from mintaka import flow, task
    from mintaka.task_runners import SequentialTaskRunner

    @task
    def stop_at_floor(floor):
        situation = random.choice(["on fire", "clear"])
        print(f"elevator stops on {floor} which is {situation}")

    @flow(
        task_runner=SequentialTaskRunner(),
        name="towering-infernflow",
    )
    def glass_tower():
        for floor in range(1, 39):
            stop_at_floor.submit(floor)

    glass_tower()
    floors = [int(line.split()[3]) for line in capsys.readouterr().out.splitlines()]
    assert floors == list(range(1, 39))
    assert len(task_runs(client, only_run(client, "towering-infernflow").id)) == 38


# Source: docs/concepts/task-runners.md at 2.20.17, "Using results from submitted tasks": a
# future passed to a task arrives as its value; wait(timeout); wait_for chains.
def test_concepts_task_runners_futures(client, capsys):
    from mintaka import flow, task

    @task
    def say_hello(name):
        return f"Hello {name}!"

    @task
    def print_result(result):
        print(type(result))
        print(result)

    @flow(name="hello-flow")
    def hello_world():
        future = say_hello.submit("Marvin")
        print_result.submit(future)

    hello_world()
    assert capsys.readouterr().out == "<class 'str'>\nHello Marvin!\n"

    @task
    def my_task():
        return 42

    @flow
    def my_flow():
        future = my_task.submit()
        final_state = future.wait(1)  # Wait one second max
        if final_state:
            # Take action if the task is done
            result = final_state.result()
        else:
            ...  # Task action if the task is still running
        return result

    assert my_flow() == 42

    order = []

    @task
    def task_a():
        order.append("a")

    @task
    def task_b():
        order.append("b")

    @task
    def task_c():
        order.append("c")

    @task
    def task_d():
        order.append("d")

    @flow
    def my_wait_for_flow():
        a = task_a.submit()
        b = task_b.submit()
        # Wait for task_a and task_b to complete
        c = task_c.submit(wait_for=[a, b])
        # task_d will wait for task_c to complete
        # Note: If waiting for one task it must still be in a list.
        d = task_d(wait_for=[c])  # noqa: F841

    my_wait_for_flow()
    assert sorted(order[:2]) == ["a", "b"] and order[2:] == ["c", "d"]


# ---------------------------------------------------------------------------------------------
# docs/guides (2.20.17)


# Source: docs/guides/specifying-upstream-dependencies.md at 2.20.17, "Automatic" (results passed to
# submit, map and a direct call make the upstream links, recorded as task_inputs).
def test_guides_upstream_dependencies_automatic(client):
    from mintaka import flow, task

    @flow(log_prints=True)
    def flow_of_tasks():
        upstream_result = upstream.submit()
        downstream_1_result = downstream_1.submit(upstream_result)
        downstream_2_result = downstream_2.submit(upstream_result)
        mapped_task_results = mapped_task.map([downstream_1_result, downstream_2_result])
        final_task(mapped_task_results)

    @task
    def upstream():
        return "Hello from upstream!"

    @task
    def downstream_1(input):
        return input

    @task
    def downstream_2(input):
        return input

    @task
    def mapped_task(input):
        return input

    @task
    def final_task(input):
        print(input)

    flow_of_tasks()
    run = only_run(client, "flow-of-tasks")
    assert "['Hello from upstream!', 'Hello from upstream!']" in log_messages(client, run.id)
    runs = by_name(task_runs(client, run.id))

    def upstream_ids(name, key):
        return {i.id for i in runs[name].task_inputs[key]}

    assert upstream_ids("downstream_1-0", "input") == {runs["upstream-0"].id}
    assert upstream_ids("mapped_task-1", "input") == {runs["downstream_2-0"].id}
    assert upstream_ids("final_task-0", "input") == {runs["mapped_task-0"].id, runs["mapped_task-1"].id}


# Source: docs/guides/specifying-upstream-dependencies.md at 2.20.17, "Manual" (wait_for on
# submit, map and a direct call).
def test_guides_upstream_dependencies_manual(client):
    from mintaka import flow, task

    @flow(log_prints=True)
    def flow_of_tasks():
        upstream_result = upstream.submit()
        downstream_1_result = downstream_1.submit(wait_for=[upstream_result])
        downstream_2_result = downstream_2.submit(wait_for=[upstream_result])
        mapped_task_results = mapped_task.map([1, 2], wait_for=[downstream_1_result, downstream_2_result])
        final_task(wait_for=mapped_task_results)

    @task
    def upstream():
        pass

    @task
    def downstream_1():
        pass

    @task
    def downstream_2():
        pass

    @task
    def mapped_task(input):
        pass

    @task
    def final_task():
        pass

    flow_of_tasks()
    run = only_run(client, "flow-of-tasks")
    assert run.state.message == "All states completed."
    runs = by_name(task_runs(client, run.id))

    def upstream_ids(name):
        return {i.id for i in runs[name].task_inputs["wait_for"]}

    assert upstream_ids("downstream_1-0") == {runs["upstream-0"].id} == upstream_ids("downstream_2-0")
    both = {runs["downstream_1-0"].id, runs["downstream_2-0"].id}
    assert upstream_ids("mapped_task-0") == both == upstream_ids("mapped_task-1")
    assert upstream_ids("final_task-0") == {runs["mapped_task-0"].id, runs["mapped_task-1"].id}


# Source: docs/guides/runtime-context.md at 2.20.17 (also discdiver/pacc-2024 105/runtime-context.py):
# "When run without a deployment ... you should see 'I belong to deployment None' logged."
def test_guides_runtime_context(client):
    from mintaka import flow, runtime, task

    @flow(log_prints=True)
    def my_flow(x):
        print("My name is", runtime.flow_run.name)
        print("I belong to deployment", runtime.deployment.name)
        my_task(2)

    @task
    def my_task(y):
        print("My name is", runtime.task_run.name)
        print("Flow run parameters:", runtime.flow_run.parameters)

    my_flow(1)
    run = only_run(client, "my-flow")
    logs = log_messages(client, run.id)
    assert f"My name is {run.name}" in logs
    assert "I belong to deployment None" in logs
    assert "My name is my_task-0" in logs
    assert "Flow run parameters: {'x': 1}" in logs


# Source: docs/guides/logs.md at 2.20.17, "Logging in flows", "Logging in tasks" and "Logging print
# statements" (tasks inherit log_prints from their flow).
def test_guides_logs(client):
    import logging

    from mintaka import flow, get_run_logger, task

    @task(name="log-example-task")
    def logger_task():
        logger = get_run_logger()
        logger.info("INFO level log message from a task.")

    @flow(name="log-example-flow")
    def logger_flow():
        logger = get_run_logger()
        logger.info("INFO level log message.")
        logger_task()

    logger_flow()
    run = only_run(client, "log-example-flow")
    flush_logs()
    logs = {log.message: log for log in client.read_logs(run.id)}
    [task_run] = task_runs(client, run.id)
    assert logs["INFO level log message."].level == logging.INFO
    assert logs["INFO level log message."].task_run_id is None
    assert logs["INFO level log message from a task."].task_run_id == task_run.id
    assert logs["INFO level log message from a task."].flow_run_id == run.id

    @task
    def my_task():
        print("we're logging print statements from a task")

    @flow(log_prints=True)
    def my_flow():
        print("we're logging print statements from a flow")
        my_task()

    my_flow()
    logs = log_messages(client, only_run(client, "my-flow").id)
    assert "we're logging print statements from a flow" in logs
    assert "we're logging print statements from a task" in logs


# Source: docs/guides/testing.md at 2.20.17, "Unit testing tasks": the original function via `.fn`.
def test_guides_testing_task_fn(client):
    from mintaka import flow, task

    @task
    def my_favorite_task():
        return 42

    @flow
    def my_favorite_flow():
        val = my_favorite_task()
        return val

    def test_my_favorite_task():
        assert my_favorite_task.fn() == 42

    test_my_favorite_task()
    assert my_favorite_flow() == 42
    assert flow_runs(client, "my-favorite-flow")[0].state.type is StateType.COMPLETED


# Source: docs/guides/testing.md at 2.20.17, "Unit testing tasks", tip "Disable logger" ("If your
# task makes uses a logger, you can disable the logger in order to avoid the RuntimeError raised
# from a missing flow context"); the task here logs, as the tip supposes.
def test_guides_testing_disable_run_logger(client):
    from mintaka import get_run_logger, task
    from mintaka.logging import disable_run_logger

    @task
    def my_favorite_task():
        get_run_logger().info("a task that logs")
        return 42

    def test_my_favorite_task():
        with disable_run_logger():
            assert my_favorite_task.fn() == 42

    test_my_favorite_task()


def test_guides_using_the_client_last_n_completed_flow_runs(client):
    from typing import Optional

    from mintaka import flow, get_client
    from mintaka.client.schemas.filters import FlowRunFilter
    from mintaka.client.schemas.objects import FlowRun
    from mintaka.client.schemas.sorting import FlowRunSort

    @flow
    def job(i: int):
        return i

    for i in range(5):
        job(i)

    async def get_most_recent_flow_runs(n: int = 3, states: Optional[list[str]] = None) -> list[FlowRun]:  # noqa: UP045
        if not states:
            states = ["COMPLETED"]

        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state={"type": {"any_": states}}),
                sort=FlowRunSort.END_TIME_DESC,
                limit=n,
            )

    last_3_flow_runs: list[FlowRun] = asyncio.run(get_most_recent_flow_runs())
    assert all(run.state.is_completed() for run in last_3_flow_runs)
    assert (end_times := [run.end_time for run in last_3_flow_runs]) == sorted(end_times, reverse=True)
    assert [run.parameters["i"] for run in last_3_flow_runs] == [4, 3, 2]


# ---------------------------------------------------------------------------------------------
# PrefectHQ/prefect flows/ at 2.20.17 (the release's own integration scripts, with their asserts)


# Source: PrefectHQ/prefect flows/flow_retries.py at 2.20.17
def test_prefect_flows_flow_retries(client):
    from mintaka import flow, task

    counts = {"flow_run_count": 0, "task_run_count": 0}

    @task
    def happy_task():
        counts["task_run_count"] += 1
        return 1

    @flow(retries=10)
    def hello():
        counts["flow_run_count"] += 1

        first = happy_task()
        if counts["flow_run_count"] < 3:
            raise ValueError("Retry me please!")

        return first + 1

    result = hello()
    assert result == 2, f"Got {result}"
    assert counts["flow_run_count"] == 3, f"Got {counts['flow_run_count']}"
    assert counts["task_run_count"] == 1, f"Got {counts['task_run_count']}"


# Source: PrefectHQ/prefect flows/flow_retries_with_subflows.py at 2.20.17
def test_prefect_flows_flow_retries_with_subflows(client):
    from mintaka import flow

    counts = {"child_flow_run_count": 0, "flow_run_count": 0}

    @flow
    def child_flow():
        counts["child_flow_run_count"] += 1

        # Fail on the first flow run but not the retry
        if counts["flow_run_count"] < 2:
            raise ValueError()

        return "hello"

    @flow(retries=10)
    def parent_flow():
        counts["flow_run_count"] += 1

        result = child_flow()

        # It is important that the flow run fails after the child flow run is created
        if counts["flow_run_count"] < 3:
            raise ValueError()

        return result

    result = parent_flow()
    assert result == "hello", f"Got {result}"
    assert counts["flow_run_count"] == 3, f"Got {counts['flow_run_count']}"
    assert counts["child_flow_run_count"] == 2, f"Got {counts['child_flow_run_count']}"


# Source: PrefectHQ/prefect flows/task_retries.py at 2.20.17
def test_prefect_flows_task_retries(client):
    from mintaka import flow, task

    counts = {"run_count": 0}

    @task(retries=10)
    def sad_task():
        counts["run_count"] += 1
        if counts["run_count"] < 3:
            raise ValueError()
        return 1

    @flow
    def hello():
        return sad_task()

    result = hello()
    assert result == 1, f"Got {result}"
    assert counts["run_count"] == 3, f"Got {counts['run_count']}"
    [task_run] = task_runs(client, only_run(client, "hello").id)
    assert task_run.run_count == 3 and task_run.state.type is StateType.COMPLETED


# Source: PrefectHQ/prefect flows/hello_tasks.py at 2.20.17 (map over a generator).
def test_prefect_flows_hello_tasks(client):
    from mintaka import flow, get_run_logger, task

    @task
    def say_hello(name: str):
        get_run_logger().info(f"Hello {name}!")

    @flow
    def hello(name: str = "world", count: int = 1):
        say_hello.map(f"{name}-{i}" for i in range(count))

    hello(count=3)
    run = only_run(client, "hello")
    assert run.state.message == "All states completed."
    assert sorted(t.name for t in task_runs(client, run.id)) == ["say_hello-0", "say_hello-1", "say_hello-2"]
    logs = log_messages(client, run.id)
    assert {"Hello world-0!", "Hello world-1!", "Hello world-2!"} <= set(logs)


# Source: PrefectHQ/prefect flows/concurrent_subflows.py at 2.20.17 (parent_flow(10, 10) shrunk
# to (4, 3); random sleeps of 0-2 s shrunk to 0-0.02 s).
def test_prefect_flows_concurrent_subflows(client):
    from mintaka import flow, task

    @task
    async def dummy_task(j: int):
        await asyncio.sleep(random.randint(0, 2) / 100)
        return j

    @flow
    async def child_flow(i: int, n_tasks: int):
        for j in range(n_tasks):
            await dummy_task.with_options(name=f"dummy-task-{i}-{j}").submit(j)

    @flow
    async def parent_flow(n_subflows: int, n_tasks_per_subflow: int):
        await asyncio.gather(
            *[child_flow.with_options(name=f"child_flow-{i}")(i, n_tasks_per_subflow) for i in range(n_subflows)]
        )

    asyncio.run(parent_flow(4, 3))
    parent = only_run(client, "parent-flow")
    assert parent.state.type is StateType.COMPLETED
    for i in range(4):
        child = only_run(client, f"child_flow-{i}")
        assert child.state.type is StateType.COMPLETED
        assert child.parent_task_run_id in {t.id for t in task_runs(client, parent.id)}
        names = sorted(t.name for t in task_runs(client, child.id))
        assert [name.rsplit("-", 1)[0] for name in names] == [f"dummy-task-{i}-{j}" for j in range(3)]


# ---------------------------------------------------------------------------------------------
# anna-geller/pacc-berlin (Prefect 2 workshop, PACC Berlin)


# Source: anna-geller/pacc-berlin flows/01_data_state_futures/
# allow_flaky_transformation_to_pass_to_cleanup_resources.py (random pinned to fail).
def test_pacc_allow_failure_cleanup_runs(client, monkeypatch):
    from mintaka import allow_failure, flow, get_run_logger, task

    monkeypatch.setattr(random, "random", lambda: 0.9)

    @task
    def extract_data():
        return 42

    @task
    def extract_data_2():
        return 2

    @task
    def transform_data(x: int, y: int = 2) -> int:
        if random.random() > 0.5:
            raise ValueError("Non-deterministic error has occured.")
        else:
            return (x + 42) * y

    @task
    def clean_up_task():
        logger = get_run_logger()
        logger.info("Cleaning up 🧹")

    @flow
    def allow_flaky_transformation_to_pass():
        data = extract_data.submit()
        data_2 = extract_data_2.submit()
        result = transform_data.submit(data, data_2)
        clean_up_task.submit(wait_for=[allow_failure(result)])

    with pytest.raises(ValueError, match="Non-deterministic error"):
        allow_flaky_transformation_to_pass()
    run = only_run(client, "allow-flaky-transformation-to-pass")
    assert run.state.type is StateType.FAILED and run.state.message == "1/4 states failed."
    assert "Cleaning up 🧹" in log_messages(client, run.id)
    assert by_name(task_runs(client, run.id))["clean_up_task-0"].state.type is StateType.COMPLETED


# Source: anna-geller/pacc-berlin flows/01_data_state_futures/state_dependencies.py (random
# pinned to fail: "Cleanup task may not get executed").
def test_pacc_state_dependencies_without_allow_failure(client, monkeypatch):
    from mintaka import flow, task

    monkeypatch.setattr(random, "random", lambda: 0.9)

    @task
    def task_1():
        print("task 1 succeeded")

    @task
    def task_2():
        print("task 2 succeeded")

    @task
    def task_3():
        print("task 3 succeeded")

    @task
    def task_4():
        print("This task often fails")
        if random.random() > 0.5:
            raise ValueError("Non-deterministic error has occured.")
        else:
            print("task 4 succeeded")

    @task
    def task_5():
        print("task 5 succeeded")

    @task
    def clean_up_task():
        print("Cleaning up 🧹")

    @flow(log_prints=True, name="Cleanup task may not get executed")
    def main():
        # 1, 2, 3 can run concurrently
        one = task_1.submit()
        two = task_2.submit()
        three = task_3.submit()
        four = task_4.submit(wait_for=[one, two, three])
        five = task_5.submit()
        clean_up_task.submit(wait_for=[four, five])

    state = main(return_state=True)
    assert state.type is StateType.FAILED and state.message == "1/6 states failed."
    run = only_run(client, "Cleanup task may not get executed")
    cleanup = by_name(task_runs(client, run.id))["clean_up_task-0"]
    assert cleanup.state.type is StateType.PENDING and cleanup.state.name == "NotReady"
    assert "Cleaning up 🧹" not in log_messages(client, run.id)


# Source: anna-geller/pacc-berlin flows/09_failure/07_map_with_failure.py ("runs only for a, b,
# and d. c is in NotReady state").
def test_pacc_map_with_failure(client):
    from mintaka import flow, task

    @task
    def upstream_task(item):
        if item == "c":
            raise Exception("this upstream task failed")
        return str(item) + "+1"

    @task
    def downstream_task(item):
        return str(item) + "+2"

    @flow
    def demo():
        items = ["a", "b", "c", "d"]
        first = upstream_task.map(items)
        downstream_task.map(first)  # runs only for a, b, and d. c is in NotReady state

    state = demo(return_state=True)
    assert state.type is StateType.FAILED and state.message == "1/8 states failed."
    runs = by_name(task_runs(client, only_run(client, "demo").id))
    assert {name: r.state.name for name, r in runs.items() if name.startswith("downstream")} == {
        "downstream_task-0": "Completed",
        "downstream_task-1": "Completed",
        "downstream_task-2": "NotReady",
        "downstream_task-3": "Completed",
    }


# Source: anna-geller/pacc-berlin flows/09_failure/08_map_with_cleanup_task.py (allow_failure
# around a whole mapped list whose second-level runs are failed or NotReady).
def test_pacc_map_with_cleanup_task(client):
    from mintaka import allow_failure, flow, get_run_logger, task

    @task
    def extract():
        return [1, 2, 3]

    @task
    def add_one(x):
        if x == 2:
            raise Exception("Something is not right")
        return x + 1

    @task
    def add_two(x):
        return x + 2

    @task
    def cleanup_task():
        get_run_logger().info("Cleaning up e.g. removing temp Ray cluster")

    @flow
    def map_with_cleanup_task():
        a = extract()
        b = add_one.map(a)
        c = add_two.map(b)
        cleanup_task.submit(wait_for=[allow_failure(c)])

    state = map_with_cleanup_task(return_state=True)
    assert state.type is StateType.FAILED and state.message == "1/8 states failed."
    run = only_run(client, "map-with-cleanup-task")
    runs = by_name(task_runs(client, run.id))
    assert runs["add_one-1"].state.type is StateType.FAILED
    assert runs["add_two-1"].state.name == "NotReady"
    # allow_failure admits *failed* upstreams only (Prefect 2.20.17 utilities/engine.py:
    # resolve_inputs: `isinstance(annotation, allow_failure) and state.is_failed()`); add_two-1 is
    # NotReady (Pending), so, unlike the example's hope, the cleanup does not run either.
    assert runs["cleanup_task-0"].state.name == "NotReady"
    assert "Cleaning up e.g. removing temp Ray cluster" not in log_messages(client, run.id)


# Source: anna-geller/pacc-berlin flows/07_data_and_state_dependencies/
# return_multiple_states_explicitly.py: the tuple returned mixes states with data (42), so it is
# not a state iterable and the flow is Completed; the comment shows the caller gets
# (Failed(...), NotReady(...), 42).
def test_pacc_return_states_mixed_with_data(client):
    from mintaka import flow, task

    @task
    def always_fails_task():
        raise ValueError("I fail successfully")

    @task
    def always_succeeds_task():
        print("I'm fail safe!")
        return "success"

    @flow
    def always_succeeds_flow():
        return 42

    @flow
    def always_fails_flow():
        x = always_fails_task.submit()  # .result(raise_on_failure=False)
        y = always_succeeds_task.submit(wait_for=[x])
        # y = always_succeeds_task.submit()  # wait_for=[x])
        z = always_succeeds_flow()
        return x, y, z

    state = always_fails_flow()
    x, y, z = state
    assert x.type is StateType.FAILED
    assert y.type is StateType.PENDING and y.name == "NotReady"
    assert z == 42
    assert only_run(client, "always-fails-flow").state.type is StateType.COMPLETED


# Source: anna-geller/pacc-berlin flows/07_data_and_state_dependencies/
# return_state_when_submitting_tasks_to_task_runners.py
def test_pacc_return_state_when_submitting(client):
    from mintaka import flow, get_run_logger, task
    from mintaka.task_runners import ConcurrentTaskRunner

    @task
    def add_one(x: int) -> int:
        return x + 1

    @flow(task_runner=ConcurrentTaskRunner())
    def basic_flow_with_task_runner():
        logger = get_run_logger()
        state = add_one.submit(41, return_state=True)  # returns Completed state
        data = state.result()  # gets data from State object: 42
        also_state = add_one.submit(41).wait()  # returns Completed state
        also_data = add_one.submit(41).result()  # returns data: 42
        logger.info("✅ State: %s. Also state: %s", state, also_state)
        logger.info("📊 Data: %s. Also data: %s", data, also_data)

    basic_flow_with_task_runner()
    run = only_run(client, "basic-flow-with-task-runner")
    logs = log_messages(client, run.id)
    assert "✅ State: Completed(). Also state: Completed()" in logs  # client/schemas/objects.py:State.__str__
    assert "📊 Data: 42. Also data: 42" in logs
    assert len(task_runs(client, run.id)) == 3


# Source: anna-geller/pacc-berlin flows/00_demo_live_flows/log_prints_example.py: the task opts
# out of log_prints ("print this only locally to the terminal"), the flow's own prints (also from a
# plain function it calls) are logged.
def test_pacc_log_prints_opt_out(client, capsys):
    from mintaka import flow, task

    def business_logic():
        print("custom sensitive data")

    @task(log_prints=False)
    def my_task():
        print("print this only locally to the terminal")
        business_logic()

    @flow(log_prints=True)
    def my_flow():
        print("hello 👋")
        my_task()
        business_logic()

    my_flow()
    run = only_run(client, "my-flow")
    logs = log_messages(client, run.id)
    assert "hello 👋" in logs and logs.count("custom sensitive data") == 1
    assert "print this only locally to the terminal" not in logs
    out = capsys.readouterr().out
    assert "print this only locally to the terminal\ncustom sensitive data\n" in out


# Source: anna-geller/pacc-berlin flows/04_async/simple_with_submit.py (asyncio.sleep(1) shrunk).
def test_pacc_async_submit(client):
    from mintaka import flow, task

    @task(log_prints=True)
    async def print_values(values):
        for value in values:
            await asyncio.sleep(0.01)  # yield
            print(value, end=" ")

    @flow(log_prints=True)
    async def async_flow():
        await print_values([1, 2])  # runs immediately
        await print_values.submit("abcd")
        await print_values.submit("6789")

    asyncio.run(async_flow())
    run = only_run(client, "async-flow")
    assert run.state.type is StateType.COMPLETED and run.state.message == "All states completed."
    assert len(task_runs(client, run.id)) == 3
    assert {"a", "b", "c", "d", "6", "9"} <= {m.strip() for m in log_messages(client, run.id)}


# Source: anna-geller/pacc-berlin flows/04_async/practical_task_runner_mapping.py (map over the
# future of a list).
def test_pacc_map_over_a_future(client):
    from mintaka import flow, task

    @task(log_prints=True)
    def extract() -> list:
        return list(range(1, 11))

    @task(log_prints=True)
    def transform(x: int) -> int:
        return x * 2

    @task(log_prints=True)
    def load(x: int) -> None:
        print(f"final result {x}")

    @flow(log_prints=True)
    def async_etl_map():
        nrs = extract.submit()
        final = transform.map(nrs)
        load.map(final)

    async_etl_map()
    run = only_run(client, "async-etl-map")
    assert run.state.message == "All states completed."
    assert len(task_runs(client, run.id)) == 21
    logs = log_messages(client, run.id)
    assert {f"final result {2 * n}" for n in range(1, 11)} <= set(logs)


# Source: anna-geller/pacc-berlin flows/02_retries_and_caching/cache_it_only_same_flow_run.py
# (range(5) calls; time.sleep(5) shrunk to 0.01). Cached within a flow run, recomputed in the next.
def test_pacc_cache_within_flow_run(client):
    from datetime import timedelta

    from mintaka import flow, task
    from mintaka.context import get_run_context
    from mintaka.tasks import task_input_hash

    def cache_within_flow_run(context, parameters):
        id_ = context.task_run.flow_run_id
        key = f"{id_}-{task_input_hash(context, parameters)}"
        print(f"🔑Cache key: {key}")
        return key

    @task(cache_key_fn=cache_within_flow_run, cache_expiration=timedelta(minutes=1), log_prints=True)
    def expensive_computation() -> int:
        print("running an expensive operation")
        time.sleep(0.01)
        return 42

    @flow(log_prints=True)
    def cache_it():
        print(get_run_context().flow_run.id)
        for _ in range(5):
            expensive_computation()

    cache_it()
    cache_it()
    for run in flow_runs(client, "cache-it"):
        logs = log_messages(client, run.id)
        assert str(run.id) in logs
        assert logs.count("running an expensive operation") == 1
        names = sorted(t.state.name for t in task_runs(client, run.id))
        assert names == ["Cached"] * 4 + ["Completed"]


# Source: anna-geller/pacc-berlin flows/00_demo_live_flows/04_hello_world_for_loop.py (16 users
# shrunk to 4, time.sleep(5) to 0.01). Prefect 2.20.17 numbers task runs per task key
# (utilities/engine.py:_dynamic_key_for_task_run), and with_options(name=...) keeps the key
# (tasks.py:_generate_task_key from the function), so the runs are '<user>-0' ... '<user>-3'.
def test_pacc_with_options_name_per_submission(client):
    from typing import List  # noqa: UP035 (as written)

    from mintaka import flow, task

    @task
    def hello_world(user: str) -> None:
        print(f"✨ Hello from the workshop, {user}! 👋 📚")
        time.sleep(0.01)

    @flow(log_prints=True)
    def hi(users: List[str] = ["Marvin", "Anna", "Toby", "Rebecca"]) -> None:  # noqa: B006, UP006
        print("Hi from Prefect, LiveEO! 🤗")
        for user in users:
            # hello_world(user)  # would run sequentially + would be slow
            hello_world.with_options(name=user).submit(user)

    hi()
    run = only_run(client, "hi")
    assert sorted(t.name for t in task_runs(client, run.id)) == ["Anna-1", "Marvin-0", "Rebecca-3", "Toby-2"]
    assert "✨ Hello from the workshop, Toby! 👋 📚" in log_messages(client, run.id)


# Source: anna-geller/pacc-berlin flows/06_parametrization/dbt_command_validator.py (a pydantic
# model with a validator as a flow parameter; "dbt clean" is rejected). Prefect 2.20.17:
# engine.py:create_then_begin_flow_run makes the run in a Failed state ("Validation of flow
# parameters failed with error: ...") and the call raises ParameterTypeError.
def test_pacc_parameter_validation(client):
    from pydantic import BaseModel, validator

    from mintaka import flow, get_run_logger

    with pytest.warns(DeprecationWarning):  # pydantic 2 deprecates `validator`; the example uses it

        class DbtCommand(BaseModel):
            dbt_command: str

            @validator("dbt_command")
            def must_be_in(cls, dbt_cmd):
                valid_cmds = ["dbt run", "dbt test", "dbt docs", "dbt debug"]
                if dbt_cmd not in valid_cmds:
                    raise ValueError("Invalid dbt command. Must be one of %s", valid_cmds)
                return dbt_cmd

    @flow
    def run_dbt_commands(dbt: DbtCommand):
        logger = get_run_logger()
        logger.info("Running dbt command: %s", dbt.dbt_command)

    run_dbt_commands(dict(dbt_command="dbt debug"))
    run_dbt_commands(dict(dbt_command="dbt run"))
    with pytest.raises(Exception, match="Invalid dbt command"):
        run_dbt_commands(dict(dbt_command="dbt clean"))

    runs = flow_runs(client, "run-dbt-commands")
    failed = [run for run in runs if run.state.type is StateType.FAILED]
    assert len(runs) == 3 and len(failed) == 1
    assert failed[0].run_count == 0  # never entered Running
    ok = [run for run in runs if run.state.type is StateType.COMPLETED]
    assert {m for run in ok for m in log_messages(client, run.id)} >= {
        "Running dbt command: dbt debug",
        "Running dbt command: dbt run",
    }


# Source: anna-geller/pacc-berlin flows/11_parent_child/parent_child.py (subflows passing data).
def test_pacc_parent_child(client):
    from datetime import date

    from mintaka import flow

    @flow(log_prints=True)
    def extract(start_date: date = date(2022, 12, 1), end_date: date = date.today()) -> int:
        print(f"Running ingestion from {start_date} to {end_date} ✅")
        return 42

    @flow(log_prints=True)
    def transform_load(x: int = 42) -> None:
        print(f"Got data: {x} 📊")

    @flow(log_prints=True)
    def cleanup() -> None:
        print("Cleanup process 🪣")

    # parametrized for backfills
    @flow(log_prints=True)
    def parent(start_date: date = date(2022, 12, 1), end_date: date = date.today()) -> None:
        df = extract(start_date, end_date)
        transform_load(df)
        cleanup()

    parent(start_date="2024-01-01", end_date="2024-01-31")
    root = only_run(client, "parent")
    assert root.state.message == "All states completed."
    assert root.parameters == {"start_date": "2024-01-01", "end_date": "2024-01-31"}
    assert "Running ingestion from 2024-01-01 to 2024-01-31 ✅" in log_messages(client, only_run(client, "extract").id)
    assert "Got data: 42 📊" in log_messages(client, only_run(client, "transform-load").id)
    children = [only_run(client, name) for name in ("extract", "transform-load", "cleanup")]
    assert {c.parent_task_run_id for c in children} <= {t.id for t in task_runs(client, root.id)}


# ---------------------------------------------------------------------------------------------
# discdiver/pacc-2024 (Prefect 2 workshop, PACC 2024)


# Source: discdiver/pacc-2024 102/retries-delay.py (httpstat.us/Random/200,500 answered locally:
# 500, 500, then 200).
def test_pacc_2024_task_retries_with_delay(client, monkeypatch, capsys):
    from mintaka import flow, task

    url = "https://httpstat.us/Random/200,500"
    local = serve(
        monkeypatch, {url: [(500, "500 Internal Server Error"), (500, "500 Internal Server Error"), (200, "200 OK")]}
    )

    @task(retries=4, retry_delay_seconds=0.5)  # or [0.1, 0.5, 1, 2])
    def fetch_random_code():
        random_code = httpx.get("https://httpstat.us/Random/200,500", verify=False)
        if random_code.status_code >= 400:
            raise Exception()
        print(random_code.text)

    @flow
    def fetch():
        fetch_random_code()

    with time_skipping():
        fetch()
    assert len(local.calls) == 3 and capsys.readouterr().out == "200 OK\n"
    [task_run] = task_runs(client, only_run(client, "fetch").id)
    assert task_run.run_count == 3 and task_run.state.type is StateType.COMPLETED
