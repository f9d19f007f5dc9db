"""The reaper is never wrong about a live run, and finds a dead one: `mintaka flow-run execute`
(as on Fargate) runs the flow in a child process and heartbeats from the parent, which user code
cannot block. Real processes: the CLI executor over HTTP (uvicorn on an SQLite file), a reaper
ticking in this process on the same file, real signals. Heartbeat interval 1 s (lease: 3 s)."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest
from deploy_support import spawn, wait_for  # noqa: F401 - spawn is a fixture

from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.states import StateType

pytestmark = pytest.mark.slow

INTERVAL = 1.0
REAPER_TICK = 0.5

FLOWS = textwrap.dedent(
    """
    import os
    import re
    import threading
    import time
    from pathlib import Path

    from mintaka import flow, task


    @task
    def match(n: int) -> None:
        re.match(r"(a+)+$", "a" * n + "b")  # backtracks for seconds; re never releases the GIL


    @flow
    def gil(n: int = 28, report: str = "gil-held-seconds") -> str:
        ticks = [time.monotonic()]
        done = threading.Event()

        def tick():  # how long this process's threads were kept from running
            while not done.wait(0.05):
                ticks.append(time.monotonic())

        threading.Thread(target=tick, daemon=True).start()
        match(n)
        done.set()
        ticks.append(time.monotonic())
        Path(report).write_text(str(max(b - a for a, b in zip(ticks, ticks[1:]))))
        return "matched"


    @task
    def wait_forever() -> None:
        time.sleep(600)


    @flow
    def stuck(pid_file: str = "flow-pid") -> None:
        Path(pid_file).write_text(str(os.getpid()))
        wait_forever()
    """
)


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "project" / "executor_flows.py"
    path.parent.mkdir()
    path.write_text(FLOWS)
    return path


@pytest.fixture
def reaper(live_server):
    """Reaps the server's store every `REAPER_TICK` s, as `mintaka server start` does."""
    import threading

    from mintaka_server.services import OrchestrationService
    from mintaka_server.services.deployments import DeploymentService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(live_server.database)
    deployments = DeploymentService(OrchestrationService(store))
    stop = threading.Event()

    def loop():
        while not stop.wait(REAPER_TICK):
            deployments.reap_stale_runs()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
    store.close()


def names(client, run_id) -> list[str]:
    return [state.name for state in client.read_flow_run_states(run_id)]


def test_a_task_holding_the_gil_for_longer_than_the_lease_is_not_reaped(
    live_server,
    reaper,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    url, report = live_server.url, tmp_path / "gil-held-seconds"
    client = HttpTransport(url)
    deployed = run_cli("deploy", f"{project}:gil", "--name", "fargate-like", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = client.create_deployment_run(
        "gil", "fargate-like", DeploymentRunCreate(parameters={"n": 28, "report": str(report)})
    )
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env={"MINTAKA_HEARTBEAT_INTERVAL": str(INTERVAL)})
    assert executor.process.wait(timeout=240) == 0, executor.output()

    held = float(report.read_text())
    assert held > 3 * INTERVAL + 1, f"the match held the GIL for only {held:.1f} s: not a test of anything"
    assert client.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert "Crashed" not in names(client, run.id), names(client, run.id)
    print(f"the flow's process was frozen {held:.1f} s (lease {3 * INTERVAL:g} s); the run was never reaped")


def test_a_dead_executor_is_reaped_within_three_intervals_and_a_tick(
    live_server,
    reaper,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    url, pid_file = live_server.url, tmp_path / "flow-pid"
    client = HttpTransport(url)
    deployed = run_cli("deploy", f"{project}:stuck", "--name", "fargate-like", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = client.create_deployment_run(
        "stuck", "fargate-like", DeploymentRunCreate(parameters={"pid_file": str(pid_file)})
    )
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env={"MINTAKA_HEARTBEAT_INTERVAL": str(INTERVAL)})

    def task_running():
        detail = client.read_flow_run_detail(run.id)
        return pid_file.exists() and detail.task_runs and detail.task_runs[0].state.type is StateType.RUNNING

    wait_for(task_running, 60, what=executor.output)
    child = int(pid_file.read_text())
    assert child != executor.process.pid  # the flow runs in a child of the executor
    time.sleep(2 * INTERVAL)  # alive and beating: not reaped
    assert client.read_flow_run(run.id).state.type is StateType.RUNNING

    os.kill(executor.process.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: client.read_flow_run(run.id).state.type is StateType.CRASHED, 60, 0.05, "the run to be reaped")
    took = time.monotonic() - killed_at
    print(f"dead executor reaped {took:.1f} s after the kill (interval {INTERVAL:g} s, reaper tick {REAPER_TICK:g} s)")
    # At most 3 intervals after the last beat (which came up to one interval before the kill),
    # plus a tick; slack for a loaded machine.
    assert took < 3 * INTERVAL + REAPER_TICK + 5
    [task_run] = client.read_flow_run_detail(run.id).task_runs
    assert task_run.state.type is StateType.CRASHED


def test_a_flow_process_killed_under_a_live_executor_is_reported_crashed_at_once(
    live_server,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    url, pid_file = live_server.url, tmp_path / "flow-pid"
    client = HttpTransport(url)
    deployed = run_cli("deploy", f"{project}:stuck", "--name", "oom", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = client.create_deployment_run("stuck", "oom", DeploymentRunCreate(parameters={"pid_file": str(pid_file)}))
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env={"MINTAKA_HEARTBEAT_INTERVAL": "30"})
    wait_for(pid_file.exists, 60, what=executor.output)
    wait_for(lambda: client.read_flow_run(run.id).state.type is StateType.RUNNING, 30, what=executor.output)
    # The pid is written before the task starts: kill only once its run is RUNNING too.
    task_states = lambda: [t.state.type for t in client.read_flow_run_detail(run.id).task_runs]  # noqa: E731
    wait_for(lambda: task_states() == [StateType.RUNNING], 30, what=executor.output)

    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # as the OOM killer would
    assert executor.process.wait(timeout=30) == 128 + signal.SIGKILL, executor.output()
    crashed = client.read_flow_run(run.id).state  # no reaper here, and 30 s intervals: the parent said so
    assert crashed.type is StateType.CRASHED and "killed by signal 9" in crashed.message
    assert [t.state.type for t in client.read_flow_run_detail(run.id).task_runs] == [StateType.CRASHED]
