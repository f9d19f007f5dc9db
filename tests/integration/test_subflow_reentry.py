"""A subflow cut off by its execution's deadline (the Lambda worker's 15 minutes, shortened) ends
CRASHED and its parent goes back to SCHEDULED "Continuing"; each next execution replays the
parent, re-enters the same subflow run, and only what had not completed in it runs. Each task
body appends a line to a file: the file shows every body ran once. (`kill -9` mid-subflow, with
real processes: tests/e2e/test_durable_replay.py.)"""

from __future__ import annotations

import textwrap

from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.deployments import DeploySpec, apply
from mintaka.engine.deadline import execution_deadline
from mintaka.engine.deployed import execute_flow_run
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType
from mintaka.testing import harness

TASK_SECONDS = 0.2
FLOWS = textwrap.dedent(
    f"""
    import time

    from mintaka import flow, task


    @task
    def step(i: int, log: str) -> int:
        with open(log, "a") as f:
            f.write(f"step {{i}}\\n")
        time.sleep({TASK_SECONDS})
        return i


    @flow
    def inner(log: str) -> int:
        return sum(step(i, log) for i in range(1, 9))


    @flow
    def outer(log: str = "") -> int:
        return step(0, log) + inner(log) + step(9, log)
    """
)


def test_a_subflow_cut_off_by_the_deadline_is_reentered_until_it_completes(tmp_path):
    (tmp_path / "deadline_flows.py").write_text(FLOWS)
    log = tmp_path / "side-effects"
    with harness() as client:
        apply(DeploySpec(entrypoint=f"{tmp_path / 'deadline_flows.py'}:outer", name="prod"), client=client)
        run = client.create_deployment_run("outer", "prod", DeploymentRunCreate(parameters={"log": str(log)}))
        executions = []
        for _ in range(10):
            with execution_deadline(4 * TASK_SECONDS):  # room for about four tasks per execution
                state = execute_flow_run(run.id, client).state
            executions.append(state.name)
            if state.is_final():
                break

        assert state.type is StateType.COMPLETED, executions
        assert state.result() == sum(range(10))
        assert len(executions) > 2 and set(executions[:-1]) == {"Continuing"}, executions
        assert sorted(log.read_text().splitlines(), key=lambda line: int(line.split()[1])) == [
            f"step {i}" for i in range(10)
        ]  # each body once
        [inner] = client.list_flow_runs(FlowRunFilter(flow_name="inner")).items  # the same subflow run throughout
        assert inner.state.type is StateType.COMPLETED and inner.run_count > 1
        history = [s.name for s in client.read_flow_run_states(inner.id)]
        assert history.count("Crashed") == inner.run_count - 1, history
