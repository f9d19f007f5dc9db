"""Real Prefect 2 code, written by others, run on Mintaka with only its imports changed:
The Prefect 2.20.17 docs: tutorial, flows, states (hooks), results. How each example is adapted and
checked: tests/support/prefect_examples.py."""

import asyncio
import datetime

import httpx
import pytest
from support.prefect_examples import (
    GITHUB_REPO,
    flow_runs,
    issues_page,
    log_messages,
    only_run,
    serve,
    task_runs,
)

from mintaka.clock import time_skipping
from mintaka.states import State, StateType

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
