"""A deployed run executed again continues where it was: its process killed (`kill -9`) after
two tasks and a subflow completed, the run is reaped and requeued, and the next execution (a
`mintaka worker`) runs the flow from the top, where every task run and subflow that completed
returns its recorded result without running. Each body appends a line to a file: the file
shows how many times each ran. A suspended run's process exits, and `mintaka flow-run resume`
sends it to a worker again, which replays it past the suspension. Real processes: the CLI
executor and worker as subprocesses, a reaper ticking in this process on the same SQLite file;
the API over HTTP (uvicorn on that file) or the embedded store in every process."""

from __future__ import annotations

import os
import signal
import textwrap
import threading

import pytest
from deploy_support import spawn, wait_for  # noqa: F401 - spawn is a fixture

from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType

pytestmark = pytest.mark.slow

INTERVAL = 1.0
REAPER_TICK = 0.3

FLOWS = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from mintaka import flow, suspend_flow_run, task


    def record(log: str, line: str) -> None:
        with open(log, "a") as f:
            f.write(line + "\\n")


    @task
    def step(i: int, log: str, gate: str) -> int:
        if i == 2:  # the first execution is killed here; the gate is open for the next one
            Path(gate + ".waiting").write_text(str(os.getpid()))
            while not Path(gate).exists():
                time.sleep(0.05)
        record(log, f"step {i}")
        return i * 10


    @flow
    def child(log: str, gate: str) -> int:
        record(log, "child")
        return step(100, log, gate) + 1


    @task
    def note(name: str, log: str) -> str:
        record(log, name)
        return name


    @flow
    def gated(log: str = "", pid_file: str = "") -> str:
        Path(pid_file).write_text(str(os.getpid()))
        before = note("before", log)
        suspend_flow_run(timeout=120)
        return before + "+" + note("after", log)


    @task
    def hold(i: int, log: str, gate: str) -> int:
        Path(gate + ".waiting").write_text(str(os.getpid()))  # the first execution is killed here
        while not Path(gate).exists():
            time.sleep(0.05)
        record(log, f"hold {i}")
        return i


    @task
    def tally(i: int, log: str) -> int:
        record(log, f"task {i}")
        return i


    @flow
    def grandchild(log: str, gate: str) -> int:
        record(log, "grandchild body")
        return tally(30, log) + hold(40, log, gate)


    @flow
    def middle(log: str, gate: str) -> int:
        record(log, "middle body")
        total = tally(10, log) + grandchild(log, gate)
        return total + tally(20, log)


    @flow(retries=1)
    def cut(log: str = "", gate: str = "") -> int:
        record(log, "flow body")
        return tally(1, log) + middle(log, gate) + tally(2, log)


    @flow(retries=1)
    def durable(log: str = "", gate: str = "") -> int:
        record(log, "flow body")  # code between tasks runs again on every execution
        total = step(0, log, gate) + step(1, log, gate)
        total += child(log, gate)
        total += step(2, log, gate) + step(3, log, gate)
        record(log, f"total {total}")
        return total
    """
)


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "project" / "durable_flows.py"
    path.parent.mkdir()
    path.write_text(FLOWS)
    return path


@pytest.fixture(params=["http", "embedded"])
def api(request, mintaka_home):
    """`(url, client)`: the API over HTTP (uvicorn on the SQLite file), or the embedded store
    itself, which every process opens (url None); task starts are then deferred (one write per
    short task)."""
    if request.param == "http":
        url = request.getfixturevalue("live_server").url
        return url, HttpTransport(url)
    from mintaka.client.embedded import EmbeddedTransport

    return None, EmbeddedTransport(mintaka_home / "mintaka.db")


@pytest.fixture
def reaper(api, mintaka_home):
    """Reaps the store every `REAPER_TICK` s, as `mintaka server start` does."""
    from mintaka_server.services import OrchestrationService
    from mintaka_server.services.deployments import DeploymentService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(mintaka_home / "mintaka.db")
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


def test_a_requeued_run_returns_what_completed_and_runs_only_the_rest(
    api,
    reaper,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    (url, client), log, gate = api, tmp_path / "side-effects", tmp_path / "gate"
    deployed = run_cli("deploy", f"{project}:durable", "--name", "durable", "--queue", "durable", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    parameters = {"log": str(log), "gate": str(gate)}
    run = client.create_deployment_run("durable", "durable", DeploymentRunCreate(parameters=parameters))
    heartbeat = {"MINTAKA_HEARTBEAT_INTERVAL": str(INTERVAL)}
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env=heartbeat)

    waiting = tmp_path / "gate.waiting"
    wait_for(waiting.exists, 120, what=executor.output)
    wait_for(lambda: waiting.read_text(), 10, what="the task's pid")
    assert log.read_text().splitlines() == ["flow body", "step 0", "step 1", "child", "step 100"]
    os.kill(executor.process.pid, signal.SIGKILL)
    os.kill(int(waiting.read_text()), signal.SIGKILL)  # the flow's own process, under the executor

    requeued = wait_for(
        lambda: (s := client.read_flow_run(run.id).state).name == "Requeued" and s, 60, 0.1, "the run to be requeued"
    )
    assert requeued.type is StateType.SCHEDULED
    gate.touch()
    worker = spawn("worker", "start", "--queue", "durable", "--poll-interval", "0.3", api_url=url, env=heartbeat)
    final = wait_for(
        lambda: (s := client.read_flow_run(run.id).state).is_final() and s,
        120,
        what=lambda: f"the run to finish: {worker.output()[-3000:]}",
    )

    assert final.type is StateType.COMPLETED, (final, worker.output()[-3000:])
    lines = log.read_text().splitlines()
    # 0 + 10 + (1000 + 1) + 20 + 30: the replayed calls returned their recorded results.
    again = ["flow body", "step 2", "step 3", "total 1061"]
    assert lines == ["flow body", "step 0", "step 1", "child", "step 100", *again], lines
    assert client.read_flow_run(run.id).run_count == 2


def test_subflows_cut_off_halfway_are_reentered_and_replay_what_completed_in_them(
    api,
    reaper,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    """Killed inside a subflow of a subflow: the replay re-enters both subflow runs (the same
    runs, CRASHED then RUNNING again), and each task that completed in them returns its result."""
    (url, client), log, gate = api, tmp_path / "side-effects", tmp_path / "gate"
    deployed = run_cli("deploy", f"{project}:cut", "--name", "cut", "--queue", "cut", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    parameters = {"log": str(log), "gate": str(gate)}
    run = client.create_deployment_run("cut", "cut", DeploymentRunCreate(parameters=parameters))
    heartbeat = {"MINTAKA_HEARTBEAT_INTERVAL": str(INTERVAL)}
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env=heartbeat)

    waiting = tmp_path / "gate.waiting"
    wait_for(waiting.exists, 120, what=executor.output)
    wait_for(lambda: waiting.read_text(), 10, what="the task's pid")
    first = ["flow body", "task 1", "middle body", "task 10", "grandchild body", "task 30"]
    assert log.read_text().splitlines() == first
    os.kill(executor.process.pid, signal.SIGKILL)
    os.kill(int(waiting.read_text()), signal.SIGKILL)

    wait_for(lambda: client.read_flow_run(run.id).state.name == "Requeued", 60, 0.1, "the run to be requeued")
    gate.touch()
    worker = spawn("worker", "start", "--queue", "cut", "--poll-interval", "0.3", api_url=url, env=heartbeat)
    final = wait_for(
        lambda: (s := client.read_flow_run(run.id).state).is_final() and s,
        120,
        what=lambda: f"the run to finish: {worker.output()[-3000:]}",
    )

    assert final.type is StateType.COMPLETED, (final, worker.output()[-3000:])
    # 1 + (10 + (30 + 40) + 20) + 2: every body runs again, no completed task does.
    again = ["flow body", "middle body", "grandchild body", "hold 40", "task 20", "task 2"]
    assert log.read_text().splitlines() == [*first, *again]
    assert final.result() == 103
    for name in ("middle", "grandchild"):
        [subflow] = client.list_flow_runs(FlowRunFilter(flow_name=name)).items  # re-entered, not made again
        assert (subflow.state.type, subflow.run_count) == (StateType.COMPLETED, 2)
        history = [state.name for state in client.read_flow_run_states(subflow.id)]
        assert history[-3:] == ["Crashed", "Running", "Completed"], history
    stand_ins = [t for t in client.read_flow_run_detail(run.id).task_runs if t.task_key == "subflow.middle"]
    assert [t.state.type for t in stand_ins] == [StateType.COMPLETED]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent to collect it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_suspended_run_frees_its_process_and_a_resume_sends_it_to_a_worker_again(
    api,
    run_cli,
    spawn,  # noqa: F811
    project,
    tmp_path,
):
    (url, client), log, pid_file = api, tmp_path / "side-effects", tmp_path / "flow-pid"
    deployed = run_cli("deploy", f"{project}:gated", "--name", "gated", "--queue", "gated", api_url=url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    parameters = {"log": str(log), "pid_file": str(pid_file)}
    run = client.create_deployment_run("gated", "gated", DeploymentRunCreate(parameters=parameters))
    worker = spawn("worker", "start", "--queue", "gated", "--poll-interval", "0.3", api_url=url)

    suspended = wait_for(
        lambda: (s := client.read_flow_run(run.id).state).name == "Suspended" and s,
        120,
        what=lambda: f"the run to be suspended: {worker.output()[-3000:]}",
    )
    assert suspended.type is StateType.PAUSED
    first = int(pid_file.read_text())
    wait_for(lambda: not alive(first), 30, what="the suspended run's process to exit")
    assert log.read_text().splitlines() == ["before"]

    resumed = run_cli("flow-run", "resume", str(run.id), api_url=url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = wait_for(
        lambda: (s := client.read_flow_run(run.id).state).is_final() and s,
        120,
        what=lambda: f"the resumed run to finish: {worker.output()[-3000:]}",
    )
    assert final.type is StateType.COMPLETED, worker.output()[-3000:]
    assert int(pid_file.read_text()) != first  # a new process replayed it
    assert log.read_text().splitlines() == ["before", "after"]
    history = [state.name for state in client.read_flow_run_states(run.id)]
    assert history[-6:] == ["Running", "Suspended", "Resuming", "Pending", "Running", "Completed"], history
