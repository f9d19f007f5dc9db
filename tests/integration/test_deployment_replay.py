"""A deployed run that executes again replays: the flow function runs from the top, and what
completed in the run returns its recorded result. Here the first execution is interrupted
inside a task (as a killed process would be; the engine reports it CRASHED, and the rules
requeue it), and a new engine, which remembers nothing, executes the run again. Each task
body appends a line to a file: the file tells what ran. (`tests/e2e/test_durable_replay.py`
kills real processes.)"""

from __future__ import annotations

import textwrap

import pytest

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.deployments import DeploySpec, apply
from mintaka.engine.deployed import execute_flow_run
from mintaka.states import StateType
from mintaka.testing import harness

FLOWS = textwrap.dedent(
    """
    import threading
    from pathlib import Path

    from mintaka import flow, task


    def record(log, line):
        with open(log, "a") as f:
            f.write(line + "\\n")


    @task
    def step(i: int, log: str, gate: str) -> int:
        if i == 3 and not Path(gate).exists():
            raise KeyboardInterrupt  # the first execution stops here, as if its process died
        record(log, f"step {i}")
        return i * 10


    @task
    def flaky(log: str, gate: str) -> int:
        record(log, "flaky")
        if not Path(gate).exists():
            raise ValueError("not yet")
        return 5


    @task
    def lock(log: str) -> threading.Lock:
        record(log, "lock")
        return threading.Lock()  # cannot be persisted: kept in memory only


    @flow(retries=1)
    def durable(log: str = "", gate: str = "") -> int:
        record(log, "flow body")
        first = step(0, log, gate)
        mapped = sum(f.result() for f in step.map([1, 2], log=log, gate=gate))
        caught = flaky(log, gate, return_state=True)  # its failure is the flow's to handle
        extra = caught.result() if caught.is_completed() else 0
        held = lock(log)
        assert held.acquire()
        return first + mapped + extra + step(3, log, gate)
    """
)


@pytest.fixture
def deploy(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "durable_flows.py").write_text(FLOWS)

    def make(**options) -> None:
        apply(DeploySpec(entrypoint=str(project / "durable_flows.py:durable"), name="prod", **options))

    return make


def interrupted_then_again(client, tmp_path, between=None):
    """Execute a run, interrupted in step 3; then open the gate (and call `between(run_id)`)
    and execute it again."""
    log, gate = tmp_path / "side-effects", tmp_path / "gate"
    run = client.create_deployment_run(
        "durable", "prod", DeploymentRunCreate(parameters={"log": str(log), "gate": str(gate)})
    )
    with pytest.raises(KeyboardInterrupt):
        execute_flow_run(run.id, client)
    requeued = client.read_flow_run(run.id).state
    assert (requeued.type, requeued.name) == (StateType.SCHEDULED, "Requeued")
    first = log.read_text().splitlines()
    gate.touch()
    if between is not None:
        between(run.id)
    execution = execute_flow_run(run.id, client)
    return execution, first, log.read_text().splitlines()[len(first) :]


def test_the_next_execution_returns_what_completed_and_runs_the_rest(deploy, tmp_path):
    with harness() as client:
        deploy()
        execution, first, second = interrupted_then_again(client, tmp_path)

        assert first == ["flow body", "step 0", "step 1", "step 2", "flaky", "lock"]
        # Completed and persisted: returned. Failed (flaky) and not persisted (lock): run again.
        assert second == ["flow body", "flaky", "lock", "step 3"]
        assert execution.state.type is StateType.COMPLETED
        assert execution.state.result() == 0 + 10 + 20 + 5 + 30
        logs = [log.message for log in client.read_logs(execution.run_id)]
        assert any(m.startswith("Result not persisted (TypeError") for m in logs), logs
        assert "Replaying: 3 completed call(s) return their recorded results" in logs
        task_runs = client.read_flow_run_detail(execution.run_id).task_runs
        # The second attempt's runs are new ("<index>.2"); the first's keep the states they ended in.
        C, F, X = StateType.COMPLETED, StateType.FAILED, StateType.CRASHED
        assert {t.name: t.state.type for t in task_runs} == {
            **{"step-0": C, "step-1": C, "step-2": C, "flaky-0": F, "lock-0": C, "step-3": X},
            **{"flaky-0.2": C, "lock-0.2": C, "step-3.2": C},
        }


def test_a_deployment_that_opts_out_runs_everything_again(deploy, tmp_path):
    with harness() as client:
        deploy(persist_results=False)
        execution, _, second = interrupted_then_again(client, tmp_path)

        assert execution.state.type is StateType.COMPLETED
        assert second == ["flow body", "step 0", "step 1", "step 2", "flaky", "lock", "step 3"]


def test_a_recorded_result_that_cannot_be_read_runs_its_call_again(deploy, tmp_path):
    from mintaka.results import default_result_store

    def lose_step_0(run_id):  # as if it had been written on another machine's disk
        [step_0] = [t for t in client.read_flow_run_detail(run_id).task_runs if t.name == "step-0"]
        (default_result_store(client).directory / step_0.state.data.key).unlink()

    with harness() as client:
        deploy()
        execution, _, second = interrupted_then_again(client, tmp_path, between=lose_step_0)

        assert second == ["flow body", "step 0", "flaky", "lock", "step 3"]
        assert execution.state.result() == 0 + 10 + 20 + 5 + 30
        logs = [log.message for log in client.read_logs(execution.run_id)]
        assert any("the recorded result is unreadable" in m for m in logs), logs
