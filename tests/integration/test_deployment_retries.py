"""A deployment carries its flow's retry policy: a deployed run that fails is retried by the
server's rules, and the executor runs it again."""

from __future__ import annotations

import textwrap

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.deployments import DeploySpec, apply
from mintaka.engine.deployed import execute_flow_run
from mintaka.testing import harness

FLAKY = textwrap.dedent(
    """
    from pathlib import Path
    from mintaka import flow

    @flow(retries=2, retry_delay_seconds=0)
    def flaky(marker: str):
        path = Path(marker)
        attempts = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(attempts))
        if attempts < 3:
            raise RuntimeError(f"attempt {attempts} fails")
        return attempts
    """
)


def test_deployed_flow_retries_on_the_server_policy(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flaky.py").write_text(FLAKY)
    marker = tmp_path / "attempts"
    with harness() as client:
        deployment = apply(
            DeploySpec(entrypoint=str(project / "flaky.py:flaky"), name="prod", parameters={"marker": str(marker)})
        )
        assert (deployment.retries, deployment.retry_delay_seconds) == (2, [0.0])
        run = client.create_deployment_run("flaky", "prod", DeploymentRunCreate())
        assert run.empirical_policy.retries == 2
        execution = execute_flow_run(run.id, client)
        assert execution.state.is_completed()
        assert marker.read_text() == "3"
        history = [s.name for s in client.read_flow_run_states(run.id)]
        assert history == [
            "Scheduled",
            "Pending",
            "Running",
            "Failed",
            "AwaitingRetry",
            "Retrying",
            "Failed",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]


def test_reaper_crashes_runs_whose_executor_stopped_heartbeating(tmp_path):
    import datetime as dt

    from mintaka.schemas import SetStateRequest
    from mintaka.states import State, StateType
    from mintaka_server.services.deployments import DeploymentService

    project = tmp_path / "project"
    project.mkdir()
    (project / "steady.py").write_text("from mintaka import flow\n\n@flow\ndef steady():\n    return 1\n")
    with harness() as client:
        apply(DeploySpec(entrypoint=str(project / "steady.py:steady"), name="prod"))  # no retries
        lost, alive, silent = (client.create_deployment_run("steady", "prod", DeploymentRunCreate()) for _ in range(3))
        for run in (lost, alive, silent):
            for state in (StateType.PENDING, StateType.RUNNING):
                client.set_flow_run_state(run.id, SetStateRequest(state=State(type=state)))
        client.heartbeat_flow_run(lost.id)
        client.heartbeat_flow_run(alive.id)
        service = client.deployments
        later = DeploymentService(
            service.orchestration, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        )
        later.heartbeat_flow_run(alive.id)
        assert later.reap_stale_runs() == 1
        crashed = client.read_flow_run(lost.id).state
        assert crashed.type is StateType.CRASHED and "No heartbeat" in crashed.message
        assert client.read_flow_run(alive.id).state.type is StateType.RUNNING
        # A run whose executor never heartbeats (none started it yet) is not the reaper's to judge.
        assert client.read_flow_run(silent.id).state.type is StateType.RUNNING


def test_a_lost_run_with_retries_left_is_requeued_and_the_next_worker_runs_it(tmp_path):
    import datetime as dt

    from mintaka.schemas import SetStateRequest
    from mintaka.states import State, StateType
    from mintaka_server.services.deployments import DeploymentService

    project = tmp_path / "project"
    project.mkdir()
    (project / "flaky.py").write_text(FLAKY)
    marker = tmp_path / "attempts"
    marker.write_text("2")  # the next attempt succeeds
    with harness() as client:
        apply(DeploySpec(entrypoint=str(project / "flaky.py:flaky"), name="prod", parameters={"marker": str(marker)}))
        lost = client.create_deployment_run("flaky", "prod", DeploymentRunCreate())
        for state in (StateType.PENDING, StateType.RUNNING):
            client.set_flow_run_state(lost.id, SetStateRequest(state=State(type=state)))
        client.heartbeat_flow_run(lost.id)
        later = DeploymentService(
            client.deployments.orchestration, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        )
        assert later.reap_stale_runs() == 1

        requeued = client.read_flow_run(lost.id).state
        assert (requeued.type, requeued.name) == (StateType.SCHEDULED, "Requeued")
        assert [r.id for r in client.get_work_queue_runs("default", limit=10)] == [lost.id]

        execution = execute_flow_run(lost.id, client)  # the next worker to poll the queue
        assert execution.state.is_completed()
        history = [s.name for s in client.read_flow_run_states(lost.id)]
        assert history == ["Scheduled", "Pending", "Running", "Crashed", "Requeued", "Pending", "Running", "Completed"]
