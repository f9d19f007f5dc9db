"""Retry policies set on the server win over the code's retries, on both transports: per flow,
per tag (task runs too), per deployment, read when a run fails; deleting one restores the
code's policy."""

from __future__ import annotations

import pytest

from mintaka import flow, task
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.exceptions import InvalidRequest, ObjectNotFound
from mintaka.schemas import FlowRunFilter, RetryPolicySet
from mintaka.states import StateType


class FailsUntil:
    """Fails the first `failures` calls, then returns how many calls it took."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"failure {self.calls}")
        return self.calls


def history(client, run) -> list[str]:
    return [s.name for s in client.read_flow_run_states(run.id)]


def test_a_flow_policy_set_on_the_server_retries_a_flow_whose_code_says_no_retries(client):
    attempts = FailsUntil(2)

    @flow  # no retries in the code
    def fragile() -> int:
        return attempts()

    with pytest.raises(RuntimeError, match="failure 1"):
        fragile()
    client.set_retry_policy("flow", "fragile", RetryPolicySet(retries=2, retry_delay_seconds=[0.01]))
    attempts.calls = 0
    assert fragile() == 3
    latest = client.list_flow_runs(FlowRunFilter(flow_name="fragile")).items[0]
    assert history(client, latest) == [
        "Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Failed", "AwaitingRetry", "Retrying", "Completed",
    ]  # fmt: skip

    client.delete_retry_policy("flow", "fragile")
    attempts.calls = 0
    with pytest.raises(RuntimeError):
        fragile()  # the code's policy again
    with pytest.raises(ObjectNotFound):
        client.read_retry_policy("flow", "fragile")


def test_a_tag_policy_retries_task_runs_and_can_also_cut_the_codes_retries(client):
    flaky_api = FailsUntil(1)

    @task(tags=["flaky-api"])
    def call_api() -> int:
        return flaky_api()

    @task(retries=5, retry_delay_seconds=0, tags=["expensive"])
    def expensive() -> None:
        raise RuntimeError("costs money every time")

    @flow
    def pipeline() -> int:
        state = expensive(return_state=True)
        assert state.is_failed()
        return call_api()

    client.set_retry_policy("tag", "flaky-api", RetryPolicySet(retries=1))
    client.set_retry_policy("tag", "expensive", RetryPolicySet(retries=0))
    assert pipeline() == 2
    run = client.list_flow_runs(FlowRunFilter(flow_name="pipeline")).items[0]
    tasks = {t.task_key.split(".")[-1]: t for t in client.read_flow_run_detail(run.id).task_runs}
    assert [s.name for s in client.read_task_run_states(tasks["call_api"].id)][-3:] == [
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert client.read_task_run(tasks["expensive"].id).run_count == 1  # the server's 0 retries won


def test_a_deployment_policy_wins_over_its_flows(client, tmp_path):
    from mintaka.deployments import DeploySpec, apply
    from mintaka.engine.deployed import execute_flow_run

    marker = tmp_path / "calls"
    (tmp_path / "job.py").write_text(
        "from pathlib import Path\n"
        "from mintaka import flow\n\n"
        "@flow\n"
        "def job(marker: str) -> int:\n"
        "    path = Path(marker)\n"
        "    calls = int(path.read_text()) + 1 if path.exists() else 1\n"
        "    path.write_text(str(calls))\n"
        "    if calls < 3:\n"
        "        raise RuntimeError(f'call {calls} fails')\n"
        "    return calls\n"
    )
    apply(DeploySpec(entrypoint=f"{tmp_path / 'job.py'}:job", name="prod", parameters={"marker": str(marker)}))
    client.set_retry_policy("flow", "job", RetryPolicySet(retries=0))
    client.set_retry_policy("deployment", "job/prod", RetryPolicySet(retries=2, retry_delay_seconds=[0]))
    run = client.create_deployment_run("job", "prod", DeploymentRunCreate())
    execution = execute_flow_run(run.id, client)
    assert execution.state.is_completed(), execution.message
    assert client.read_flow_run(run.id).run_count == 3
    assert {p.name for p in client.list_retry_policies()} == {"job", "job/prod"}


@pytest.mark.parametrize(
    ("scope", "name", "fragment"),
    [("deployment", "etl", "FLOW/DEPLOYMENT"), ("flow", " etl", "surrounding spaces"), ("tag", "x" * 201, "200")],
)
def test_bad_names_are_refused_and_nothing_is_stored(client, scope, name, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        client.set_retry_policy(scope, name, RetryPolicySet(retries=1))
    assert client.list_retry_policies() == []


def test_a_policy_applies_at_decision_time_to_runs_already_running(client):
    """Set while the run is RUNNING: its next failure reads it."""
    attempts = FailsUntil(1)

    @flow
    def long_job() -> int:
        if attempts.calls == 0:
            client.set_retry_policy("flow", "long-job", RetryPolicySet(retries=1))
        return attempts()

    assert long_job() == 2
    run = client.list_flow_runs(FlowRunFilter(flow_name="long-job")).items[0]
    assert run.state.type is StateType.COMPLETED and run.run_count == 2
