"""Real Prefect 2 code, written by others, run on Mintaka with only its imports changed:
Prefect 2 workshop repositories (PACC Berlin, PACC 2024). How each example is adapted and
checked: tests/support/prefect_examples.py."""

import asyncio
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
