"""Dask and Ray task runners, on both transports: task runs execute in other processes (real
Dask worker processes, a real local Ray) and are orchestrated exactly like threads: states,
server-side retries, dependencies, logs and persisted results all reach the flow's API."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
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
def ray_module():
    """Ray, pickling this module by value; whatever Ray is left running is stopped at the end."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray pickles with its own copy
    yield ray
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def local_ray(ray_module):
    """A local Ray the test started (starting one takes seconds: kept for the next tests);
    runners find it running."""
    if not ray_module.is_initialized():
        ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray_module


@pytest.fixture
def no_ray(ray_module):
    """No Ray running: the runner starts its own."""
    if ray_module.is_initialized():
        ray_module.shutdown()
    yield ray_module


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


# -- many task runs, one cluster per flow run


@pytest.fixture
def many(sdk_transport: str) -> int:
    """How many task runs to map: a thousand on the embedded store. Over HTTP to moto's
    DynamoDB the API, not the runner, sets the pace (every write is serialized and slows as the
    table grows: a thousand task runs take minutes even on threads), so a hundred there."""
    return 1000 if sdk_transport == "embedded" else 100


@task
def on_dask_worker(n: int) -> tuple[int, str, int]:
    from distributed import get_worker

    return n * n, get_worker().scheduler.address, os.getpid()


@task
def on_ray_worker(n: int) -> tuple[int, str, int]:
    import ray

    return n * n, ray.get_runtime_context().get_job_id(), os.getpid()


def check_many(client, results: list[tuple[int, str, int]], flow_name: str, many: int) -> set[str]:
    """Every value right and every task run recorded COMPLETED; returns the clusters seen."""
    assert [value for value, _, _ in results] == [n * n for n in range(many)]
    assert os.getpid() not in {pid for _, _, pid in results}
    [run] = client.list_flow_runs(FlowRunFilter(flow_name=flow_name)).items
    detail = client.read_flow_run_detail(run.id)
    assert detail.state.type is StateType.COMPLETED
    assert len(detail.task_runs) == many
    assert {t.state.type for t in detail.task_runs} == {StateType.COMPLETED}
    assert len({t.dynamic_key for t in detail.task_runs}) == many
    return {cluster for _, cluster, _ in results}


def refuses_connections(address: str) -> bool:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def test_dask_maps_a_thousand_task_runs_on_one_local_cluster(client, many):
    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1}))
    def many_on_dask() -> list:
        return on_dask_worker.map(range(many)).result()

    started = time.perf_counter()
    results = many_on_dask()
    print(f"{many} task runs on Dask in {time.perf_counter() - started:.1f}s")
    [scheduler] = check_many(client, results, "many-on-dask", many)  # one cluster for the flow run
    assert len({pid for _, _, pid in results}) <= 2  # its two worker processes
    assert refuses_connections(scheduler)  # closed when the flow run ended


def test_ray_maps_a_thousand_task_runs_on_the_ray_it_starts_once(client, many, no_ray, monkeypatch):
    inits = []
    real_init = no_ray.init
    monkeypatch.setattr(no_ray, "init", lambda *a, **kw: inits.append(kw) or real_init(*a, **kw))

    @flow(task_runner=RayTaskRunner(init_kwargs={"num_cpus": 2}))
    def many_on_ray() -> list:
        return on_ray_worker.map(range(many)).result()

    started = time.perf_counter()
    results = many_on_ray()
    print(f"{many} task runs on Ray in {time.perf_counter() - started:.1f}s")
    assert len(check_many(client, results, "many-on-ray", many)) == 1  # one Ray job: the driver's
    assert len(inits) == 1
    assert not no_ray.is_initialized()  # the runner started it, so the runner stopped it


def test_concurrent_first_submits_start_one_cluster_and_each_flow_run_its_own(client):
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 2})

    @flow(task_runner=runner)
    def from_threads() -> set[str]:
        import contextvars

        barrier = threading.Barrier(8)
        futures = []

        def submit(n: int) -> None:
            barrier.wait()
            futures.append(on_dask_worker.submit(n))

        threads = [threading.Thread(target=contextvars.copy_context().run, args=(submit, n)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {future.result()[1] for future in futures}

    outcomes: list[set[str]] = []
    runs = [threading.Thread(target=lambda: outcomes.append(from_threads())) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [len(schedulers) for schedulers in outcomes] == [1, 1]  # one cluster per flow run
    assert outcomes[0] != outcomes[1]  # not shared between the two
    assert runner.client is None  # the flow's own runner is a template: duplicated, never started
    clone = cloudpickle.loads(cloudpickle.dumps(runner))
    assert (clone.address, clone.cluster_kwargs) == (None, runner.cluster_kwargs)


class Interrupted(BaseException):
    """Stands for a KeyboardInterrupt or a cancellation reaching the flow's body."""


@task
def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.parametrize("kind", ["dask", "ray"])
def test_an_interrupted_flow_run_shuts_down_without_waiting(client, kind, request):
    if kind == "ray":
        ray = request.getfixturevalue("local_ray")
        runner = RayTaskRunner()
    else:
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 1})

    @flow(task_runner=runner)
    def interrupted() -> None:
        first = sleeps.submit(60)
        sleeps.submit(60)  # queued behind the first
        sleeps.submit(first)  # waits for the first
        time.sleep(1)
        raise Interrupted

    started = time.perf_counter()
    with pytest.raises(Interrupted):
        interrupted()
    assert time.perf_counter() - started < 30  # nothing waited for the 60 s task bodies
    if kind == "ray":
        assert ray.is_initialized()  # a Ray the runner did not start is left running


def test_a_flow_retry_reuses_task_runs_completed_on_the_cluster(client, tmp_path):
    marker = tmp_path / "attempted"

    @flow(retries=1, retry_delay_seconds=0, task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1}))
    def retried() -> list:
        values = on_dask_worker.map(range(3)).result()
        if not marker.exists():
            marker.touch()
            raise RuntimeError("the first attempt fails after its task runs completed")
        return values

    results = retried()
    assert [value for value, _, _ in results] == [0, 1, 4]
    assert len({scheduler for _, scheduler, _ in results}) == 1  # the same cluster for both attempts
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="retried")).items
    task_runs = client.read_flow_run_detail(run.id).task_runs
    assert len(task_runs) == 3  # not run again by the retry


@task
def echo(value: object) -> object:
    return value


@task
def returns_a_lock() -> object:
    return threading.Lock()


def test_what_does_not_pickle_ends_its_task_run_not_the_flow_run(client):
    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1}))
    def unpicklable() -> dict:
        sent = echo.submit(threading.Lock()).wait()  # cannot be sent to a worker
        returned = returns_a_lock.submit().wait()  # ran, but its value cannot come back
        with pytest.raises(TypeError):
            returns_a_lock.submit().result()
        return {"sent": (sent.type, sent.message), "returned": (returned.type, returned.message)}

    outcome = unpicklable()
    assert outcome["sent"][0] is StateType.FAILED and "could not be sent to the dask cluster" in outcome["sent"][1]
    assert outcome["returned"][0] is StateType.CRASHED
    assert "could not be completed on the dask cluster" in outcome["returned"][1]
    [run] = client.list_flow_runs(FlowRunFilter(flow_name="unpicklable")).items
    recorded = {t.name: t.state.type for t in client.read_flow_run_detail(run.id).task_runs}
    assert recorded["echo-0"] is StateType.FAILED  # recorded, though it never reached a worker
