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
