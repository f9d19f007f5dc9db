"""Dask and Ray task runners, on both transports: task runs execute in other processes (real
Dask worker processes, a real local Ray) and are orchestrated exactly like threads: states,
server-side retries, dependencies, logs and persisted results all reach the flow's API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cloudpickle
import pytest

from mintaka import flow, get_run_logger, task
from mintaka.distributed import DaskTaskRunner, RayTaskRunner
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType

pytestmark = pytest.mark.slow

# The workers import nothing from the tests: functions defined here travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@task
def where(n: int) -> tuple[int, int]:
    get_run_logger().info("square of %d computed in pid %d", n, os.getpid())
    return n * n, os.getpid()


@task(retries=2, retry_delay_seconds=0)
def flaky(marker: str) -> int:
    path = Path(marker)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls < 2:
        raise RuntimeError(f"call {calls} fails")
    return calls


@task
def add(a: int, b: int) -> int:
    return a + b


@task(persist_result=True)
def persisted(n: int) -> dict:
    return {"n": n}


def pipeline(marker: str) -> dict:
    squares = where.map(range(6))
    total = add.submit(squares[0].result()[0], squares[5].result()[0])
    return {
        "squares": [value for value, _ in squares.result()],
        "pids": {pid for _, pid in squares.result()},
        "flaky": flaky.submit(marker).result(),
        "total": add.submit(total, 1).result(),  # a future passed in: a recorded dependency
        "persisted": persisted.submit(7).result(),
    }


def check(client, result: dict, flow_name: str) -> None:
    assert result["squares"] == [0, 1, 4, 9, 16, 25]
    assert os.getpid() not in result["pids"]  # the bodies ran in worker processes
    assert result["flaky"] == 2  # failed once there, retried by the server's rules
    assert result["total"] == 26
    assert result["persisted"] == {"n": 7}

    [run] = client.list_flow_runs(FlowRunFilter(flow_name=flow_name)).items
    detail = client.read_flow_run_detail(run.id)
    assert detail.state.type is StateType.COMPLETED
    runs = {t.name: t for t in detail.task_runs}
    assert len(runs) == 10 and all(t.state.type is StateType.COMPLETED for t in runs.values())
    assert [s.name for s in client.read_task_run_states(runs["flaky-0"].id)][-3:] == [
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert [i.id for i in runs["add-1"].task_inputs["a"]] == [runs["add-0"].id]
    assert runs["persisted-0"].state.data is not None
    messages = [log.message for log in client.read_logs(run.id)]
    assert sum("computed in pid" in m for m in messages) == 6


def test_dask_runs_task_runs_in_worker_processes(client, tmp_path):
    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 2}))
    def on_dask(marker: str) -> dict:
        return pipeline(marker)

    check(client, on_dask(str(tmp_path / "calls")), "on-dask")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes seconds); runners find it running."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray pickles with its own copy
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_runs_task_runs_in_worker_processes(client, tmp_path, local_ray):
    @flow(task_runner=RayTaskRunner())
    def on_ray(marker: str) -> dict:
        return pipeline(marker)

    check(client, on_ray(str(tmp_path / "calls")), "on-ray")


def test_an_upstream_failure_is_recorded_without_shipping_the_run(client):
    @task
    def boom() -> int:
        raise ValueError("upstream broke")

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1}))
    def broken() -> None:
        downstream = add.submit(boom.submit(), 1)
        assert downstream.wait().name == "NotReady"

    state = broken(return_state=True)
    assert state.is_failed()
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="broken")).items
    names = {t.name: t.state.name for t in client.read_flow_run_detail(run.id).task_runs}
    assert names == {"boom-0": "Failed", "add-0": "NotReady"}
