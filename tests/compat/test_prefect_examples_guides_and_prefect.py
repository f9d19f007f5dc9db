"""Real Prefect 2 code, written by others, run on Mintaka with only its imports changed:
The Prefect 2.20.17 guides and Prefect's own flows/ scripts. How each example is adapted and
checked: tests/support/prefect_examples.py."""

import asyncio
import random

from support.prefect_examples import (
    by_name,
    flow_runs,
    log_messages,
    only_run,
    task_runs,
)

from mintaka.logging import flush_logs
from mintaka.states import StateType

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
