"""Suspending a deployment's run: it goes PAUSED "Suspended" and its execution ends, holding
nothing; a resume sends it to its work queue (SCHEDULED "Resuming"), and the next execution
replays it past the suspension. Not resumed in time, the server ends it FAILED. Each task body
appends a line to a file: the file tells what ran."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from mintaka import flow, suspend_flow_run
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.deployments import DeploySpec, apply
from mintaka.engine.deployed import execute_flow_run
from mintaka.exceptions import MintakaError
from mintaka.pausing import resume_flow_run
from mintaka.states import StateType
from mintaka.testing import harness

FLOWS = textwrap.dedent(
    """
    from mintaka import flow, pause_flow_run, suspend_flow_run, task


    @task
    def step(name: str, log: str) -> str:
        with open(log, "a") as f:
            f.write(name + "\\n")
        return name


    @flow
    def approval(log: str = "", timeout: float = 60) -> str:
        built = step("build", log)
        suspend_flow_run(timeout=timeout)
        tested = step("test", log)
        pause_flow_run(timeout=timeout, reschedule=True, key="ship it")  # Prefect's spelling
        return "+".join([built, tested, step("ship", log)])


    @flow
    async def approval_async(log: str = "") -> str:
        built = step("build", log)
        await suspend_flow_run(timeout=60)
        return built + "+" + step("ship", log)
    """
)


@pytest.fixture
def deployed(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "approval_flows.py").write_text(FLOWS)
    log = tmp_path / "side-effects"

    def run(client, flow_name: str = "approval", **parameters):
        entrypoint = str(project / f"approval_flows.py:{flow_name}")
        apply(DeploySpec(entrypoint=entrypoint, name="prod", parameters={"log": str(log)}))
        body = DeploymentRunCreate(parameters=parameters)
        return client.create_deployment_run(flow_name.replace("_", "-"), "prod", body)

    run.log = log
    return run


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_a_suspended_run_ends_its_execution_and_a_resume_replays_it_past_the_suspension(deployed):
    with harness() as client:
        run = deployed(client)
        first = execute_flow_run(run.id, client)
        assert first.ok and (first.state.type, first.state.name) == (StateType.PAUSED, "Suspended")
        assert client.read_flow_run(run.id).state.name == "Suspended"
        assert lines(deployed.log) == ["build"]

        resumed = resume_flow_run(run.id, client=client)
        assert (resumed.type, resumed.name) == (StateType.SCHEDULED, "Resuming")
        second = execute_flow_run(run.id, client)
        assert second.state.name == "Suspended"  # the second suspension ("ship it")
        assert lines(deployed.log) == ["build", "test"]

        resume_flow_run(run.id, client=client)
        third = execute_flow_run(run.id, client)
        assert third.state.type is StateType.COMPLETED
        assert third.state.result() == "build+test+ship"
        assert lines(deployed.log) == ["build", "test", "ship"]  # each body once
        history = [s.name for s in client.read_flow_run_states(run.id)]
        assert history == [
            "Scheduled", "Pending", "Running", "Suspended", "Resuming",
            "Pending", "Running", "Suspended", "Resuming",
            "Pending", "Running", "Completed",
        ]  # fmt: skip


def test_an_async_flow_awaits_its_suspension(deployed):
    with harness() as client:
        run = deployed(client, "approval_async")
        assert execute_flow_run(run.id, client).state.name == "Suspended"
        resume_flow_run(run.id, client=client)
        assert execute_flow_run(run.id, client).state.result() == "build+ship"
        assert lines(deployed.log) == ["build", "ship"]


def test_a_suspension_not_resumed_in_time_ends_failed_and_cannot_be_resumed(deployed):
    from mintaka_server.services.deployments import DeploymentService

    with harness() as client:
        run = deployed(client, timeout=30)
        assert execute_flow_run(run.id, client).state.name == "Suspended"
        service = client.deployments
        assert service.fail_expired_suspensions() == 0  # not yet
        later = DeploymentService(
            service.orchestration, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)
        )
        assert later.reap_stale_runs() == 1
        failed = client.read_flow_run(run.id).state
        assert failed.type is StateType.FAILED and "not resumed before its suspension timed out" in failed.message
        with pytest.raises(MintakaError, match="is not paused"):
            resume_flow_run(run.id, client=client)


def test_only_a_deployments_run_can_be_suspended():
    @flow
    def plain():
        suspend_flow_run(timeout=10)

    with harness(), pytest.raises(MintakaError, match="only a deployment's flow run"):
        plain()
