"""Cancelling and resuming flow runs with `mintaka flow-run cancel | resume`, end to end: a run
executing in its own process (`flow-run execute`, as in a Fargate task) stops within a
heartbeat, task bodies stuck in blocking calls included; a run that has not started ends at
once and is never started; a finished run cannot be cancelled; an ad-hoc run (a plain
`python script.py`) stops at its next task; a paused script continues when resumed from the
CLI with the typed input it waits for (`--input`; input it refuses is an error naming the
field). Real processes throughout: the CLI, uvicorn serving the API on an SQLite file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from deploy_support import spawn, wait_for  # noqa: F401 - spawn is a fixture
from e2e.conftest import cli_env

from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType

pytestmark = pytest.mark.slow

SLOW_FLOWS = textwrap.dedent(
    """
    import time

    import sys

    from mintaka import flow, get_run_logger, pause_flow_run, task
    from mintaka.input import RunInput


    class Release(RunInput):
        version: str


    @task
    def crunch(seconds: float) -> float:
        time.sleep(seconds)  # blocking, in a task-runner thread
        return seconds


    @flow
    def slow(seconds: float = 120.0) -> float:
        get_run_logger().info("crunching for %s s", seconds)
        return crunch.submit(seconds).result()


    @flow
    def approval() -> str:
        release = pause_flow_run(wait_for_input=Release, timeout=60, poll_interval=0.1)
        return "shipped " + release.version


    @flow
    def steps(count: int = 600) -> int:
        for _ in range(count):
            crunch(0.1)
        return count


    if __name__ == "__main__":
        print(approval() if sys.argv[1:] == ["approval"] else steps())
    """
)


def ok(result):
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    return result


@pytest.fixture
def flows_file(tmp_path):
    path = tmp_path / "project" / "slow_flows.py"
    path.parent.mkdir()
    path.write_text(SLOW_FLOWS)
    return path


def state_names(client, run_id) -> list[str]:
    return [state.name for state in client.read_flow_run_states(run_id)]


def test_cancelling_a_run_executing_in_its_own_process_stops_it_within_a_heartbeat(
    live_server,
    run_cli,
    spawn,  # noqa: F811
    flows_file,
):
    url = live_server.url
    client = HttpTransport(url)
    ok(run_cli("deploy", f"{flows_file}:slow", "--name", "fargate-like", api_url=url))
    run = client.create_deployment_run("slow", "fargate-like", DeploymentRunCreate())
    executor = spawn("flow-run", "execute", str(run.id), api_url=url, env={"MINTAKA_HEARTBEAT_INTERVAL": "0.3"})

    def task_running():
        detail = client.read_flow_run_detail(run.id)
        return detail.task_runs and detail.task_runs[0].state.type is StateType.RUNNING

    wait_for(task_running, 60, what=executor.output)
    cancelled_at = time.monotonic()
    answer = ok(run_cli("flow-run", "cancel", str(run.id), "--message", "Wrong input file", api_url=url))
    assert "Cancelling" in answer.stdout

    exit_code = executor.process.wait(timeout=30)
    stopped_after = time.monotonic() - cancelled_at
    assert exit_code == 1, executor.output()
    assert stopped_after < 10, f"took {stopped_after:.1f} s; the task sleeps for 120 s"
    assert "was cancelled: Wrong input file" in executor.output()
    assert "Traceback" not in executor.output()

    final = client.read_flow_run_detail(run.id)
    assert (final.state.type, final.state.message) == (StateType.CANCELLED, "Wrong input file")
    assert state_names(client, run.id)[-3:] == ["Running", "Cancelling", "Cancelled"]
    [task_run] = final.task_runs
    assert task_run.state.type is StateType.CANCELLED
    assert final.end_time is not None

    # Cancelled is final: cancelling again is refused with a one-line error.
    again = run_cli("flow-run", "cancel", str(run.id), api_url=url)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "was not cancelled" in again.stderr and "terminal states are final" in again.stderr


def test_a_run_not_started_yet_is_cancelled_at_once_and_never_runs(live_server, run_cli, flows_file):
    url = live_server.url
    client = HttpTransport(url)
    ok(run_cli("deploy", f"{flows_file}:slow", "--name", "queued", api_url=url))
    run = client.create_deployment_run("slow", "queued", DeploymentRunCreate(parameters={"seconds": 0.1}))
    assert run.state.type is StateType.SCHEDULED

    answer = ok(run_cli("flow-run", "cancel", str(run.id), "--json", api_url=url))
    assert '"type": "CANCELLED"' in answer.stdout
    assert client.read_flow_run(run.id).state.type is StateType.CANCELLED
    assert run.id not in [r.id for r in client.get_work_queue_runs("default", limit=50)]

    executed = run_cli("flow-run", "execute", str(run.id), api_url=url)
    assert executed.returncode == 0 and "not claimed" in executed.stdout
    assert state_names(client, run.id) == ["Scheduled", "Cancelled"]


def test_a_finished_run_cannot_be_cancelled(run_cli, mintaka_home):
    from mintaka.client.embedded import EmbeddedTransport
    from mintaka.schemas import FlowRunCreate
    from mintaka.states import State

    store = EmbeddedTransport(mintaka_home / "mintaka.db")
    try:
        done = store.create_flow_run(FlowRunCreate(flow_name="adhoc", state=State(type=StateType.COMPLETED)))
    finally:
        store.close()
    refused = run_cli("flow-run", "cancel", str(done.id))
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("Error:") and "Traceback" not in refused.stderr
    missing = run_cli("flow-run", "cancel", "not-an-id")
    assert missing.returncode != 0 and "not a valid flow run id" in missing.stderr


def test_an_ad_hoc_run_stops_at_its_next_task(live_server, mintaka_home, run_cli, flows_file):
    """No deployment, no heartbeat: `python script.py` learns of the cancel when its next task
    asks to start, and the run ends CANCELLED."""
    url = live_server.url
    client = HttpTransport(url)
    script = subprocess.Popen(
        [sys.executable, str(flows_file)],
        env=cli_env(mintaka_home, api_url=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        runs = wait_for(lambda: client.list_flow_runs(FlowRunFilter(flow_name="steps")).items, 60, what="the run")
        wait_for(lambda: len(client.read_flow_run_detail(runs[0].id).task_runs) >= 3, 60, what="a few tasks")
        ok(run_cli("flow-run", "cancel", str(runs[0].id), api_url=url))
        output, _ = script.communicate(timeout=30)
    finally:
        script.kill()
    assert script.returncode != 0
    final = client.read_flow_run_detail(runs[0].id)
    assert final.state.type is StateType.CANCELLED, output
    assert len(final.task_runs) < 600
    assert all(task.state.is_final() for task in final.task_runs)


def test_a_paused_script_continues_when_resumed_from_the_cli(live_server, mintaka_home, run_cli, flows_file):
    url = live_server.url
    client = HttpTransport(url)
    script = subprocess.Popen(
        [sys.executable, str(flows_file), "approval"],
        env=cli_env(mintaka_home, api_url=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def paused_run():
            runs = client.list_flow_runs(FlowRunFilter(flow_name="approval")).items
            return runs and runs[0].state.type is StateType.PAUSED and runs[0]

        run = wait_for(paused_run, 60, what="the paused run")
        not_paused = run_cli("flow-run", "resume", str(uuid.uuid4()), api_url=url)
        assert not_paused.returncode == 1 and not_paused.stderr.startswith("Error:")
        for given, error in [
            ((), '"version" is a required property'),  # the pause waits for typed input
            (("--input", "1.2"), "--input must be a JSON object"),
            (("--input", "{version: 1.2}"), "--input is not JSON"),
            (("--input", '{"version": 1.2}'), 'version: 1.2 is not of type "string"'),
        ]:
            refused = run_cli("flow-run", "resume", str(run.id), *given, api_url=url)
            assert refused.returncode == 1 and error in refused.stderr, refused.stderr
        assert client.read_flow_run(run.id).state.type is StateType.PAUSED
        resumed = ok(run_cli("flow-run", "resume", str(run.id), "--input", '{"version": "1.2"}', api_url=url))
        assert f"Flow run {run.id} resumed" in resumed.stdout
        output, _ = script.communicate(timeout=30)
    finally:
        script.kill()
    assert script.returncode == 0 and "shipped 1.2" in output, output
    assert [s.name for s in client.read_flow_run_states(run.id)][-3:] == ["Paused", "Running", "Completed"]
    again = run_cli("flow-run", "resume", str(run.id), api_url=url)
    assert again.returncode == 1 and "is not paused (it is Completed)" in again.stderr
