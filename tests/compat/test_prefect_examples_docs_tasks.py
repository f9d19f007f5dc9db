"""Real Prefect 2 code, written by others, run on Mintaka with only its imports changed:
The Prefect 2.20.17 docs: tasks and task runners. How each example is adapted and
checked: tests/support/prefect_examples.py."""

import asyncio
import datetime
import random
import time

import httpx
import pytest
from support.prefect_examples import (
    by_name,
    flow_runs,
    log_messages,
    only_run,
    serve,
    task_runs,
)

from mintaka.clock import time_skipping
from mintaka.states import StateType

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
