"""Cancelling a deployed run that executes inside this process, as in the Lambda worker: the
executor runs in a thread that is not the main thread, learns of the cancel from its heartbeat,
and stops the flow and its task bodies. The reaper ends a cancelling run whose executor went
silent."""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
import time

import pytest

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.deployments import DeploySpec, apply
from mintaka.engine.deployed import Execution, execute_flow_run
from mintaka.schemas import SetStateRequest
from mintaka.settings import reset_settings
from mintaka.states import State, StateType
from mintaka.testing import harness

BUSY = textwrap.dedent(
    """
    import time
    from mintaka import flow, task

    @task
    def spin(seconds: float) -> int:
        end, laps = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            time.sleep(0.01)
            laps += 1
        return laps

    @flow
    def busy(seconds: float = 60.0) -> int:
        futures = [spin.submit(seconds) for _ in range(2)]
        return sum(f.result() for f in futures)
    """
)


@pytest.fixture
def fast_heartbeats(monkeypatch):
    monkeypatch.setenv("MINTAKA_HEARTBEAT_INTERVAL", "0.2")
    reset_settings()
    yield
    reset_settings()


def test_a_run_executing_in_a_worker_thread_is_cancelled_with_its_tasks(tmp_path, fast_heartbeats):
    project = tmp_path / "project"
    project.mkdir()
    (project / "busy.py").write_text(BUSY)
    with harness() as client:
        apply(DeploySpec(entrypoint=str(project / "busy.py:busy"), name="lambda-like"))
        run = client.create_deployment_run("busy", "lambda-like", DeploymentRunCreate())
        outcome: list[Execution] = []
        executor = threading.Thread(target=lambda: outcome.append(execute_flow_run(run.id, client)), daemon=True)
        executor.start()

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            tasks = client.read_flow_run_detail(run.id).task_runs
            if len(tasks) == 2 and all(t.state.type is StateType.RUNNING for t in tasks):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the task runs never started")

        request = SetStateRequest(state=State(type=StateType.CANCELLING, message="Superseded"))
        assert client.set_flow_run_state(run.id, request).state.type is StateType.CANCELLING
        executor.join(timeout=10)
        assert not executor.is_alive(), "the executor did not stop within 10 s of the cancel (tasks spin 60 s)"

        [execution] = outcome
        assert execution.cancelled and not execution.ok
        detail = client.read_flow_run_detail(run.id)
        assert (detail.state.type, detail.state.message) == (StateType.CANCELLED, "Superseded")
        assert [t.state.type for t in detail.task_runs] == [StateType.CANCELLED] * 2


def test_the_reaper_ends_a_cancelling_run_whose_executor_went_silent(tmp_path):
    from mintaka_server.services.deployments import DeploymentService

    project = tmp_path / "project"
    project.mkdir()
    (project / "busy.py").write_text(BUSY)
    with harness() as client:
        apply(DeploySpec(entrypoint=str(project / "busy.py:busy"), name="prod"))
        silent, alive = (client.create_deployment_run("busy", "prod", DeploymentRunCreate()) for _ in range(2))
        for run in (silent, alive):
            for state in (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING):
                client.set_flow_run_state(run.id, SetStateRequest(state=State(type=state, message="Stop")))
            client.heartbeat_flow_run(run.id)
        service = client.deployments
        later = DeploymentService(
            service.orchestration, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        )
        # Still beating five minutes on (the later clock), just slow to stop.
        later.heartbeat_flow_run(alive.id)
        assert later.reap_stale_runs() == 1
        assert client.read_flow_run(silent.id).state.type is StateType.CANCELLED
        assert client.read_flow_run(silent.id).state.message == "Stop"
        assert client.read_flow_run(alive.id).state.type is StateType.CANCELLING
