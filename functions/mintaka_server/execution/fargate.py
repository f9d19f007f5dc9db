"""Launching a flow run as an ECS Fargate task: `RunTask` with the container's command
overridden to `mintaka flow-run execute RUN_ID` (the same executor as a worker's subprocess),
the claim token in its environment, and the run id as `startedBy` and a tag, so the task of a
run can be found (`list_tasks(startedBy=RUN_ID)`) and stopped.

The cluster, task definition, container, subnets and security groups come from settings.
ECS errors (`ECS_ERRORS`, a `mintaka._aws.ErrorMap`) and `RunTask` answering with `failures`
instead of a task become `LaunchFailed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mintaka._aws import ErrorMap
from mintaka_core.exceptions import MintakaError
from mintaka_core.schemas import FlowRun

CLAIM_ENV = "MINTAKA_FLOW_RUN_CLAIM"  # mintaka.engine.deployed reads it
RUN_ID_TAG = "mintaka:flow-run-id"


class LaunchFailed(MintakaError):
    """ECS did not start the task (capacity, limits, configuration); retrying later may work."""


ECS_ERRORS = ErrorMap(
    "ECS",
    default=(LaunchFailed, "ECS: {code}: {message}"),
    unreachable=(LaunchFailed, "ECS could not be reached: {message}"),
)


def execute_command(run_id: uuid.UUID) -> list[str]:
    return ["mintaka", "flow-run", "execute", str(run_id)]


class FargateLauncher:
    def __init__(
        self,
        client: Any,
        cluster: str,
        task_definition: str,
        subnets: Sequence[str],
        security_groups: Sequence[str],
        container_name: str = "mintaka",
        assign_public_ip: bool = False,
    ):
        if not subnets:
            raise MintakaError("Fargate runs need subnets: set MINTAKA_ECS_SUBNETS")
        self.client = client
        self.cluster = cluster
        self.task_definition = task_definition
        self.subnets = list(subnets)
        self.security_groups = list(security_groups)
        self.container_name = container_name
        self.assign_public_ip = assign_public_ip

    def launch(self, run: FlowRun, claim: str) -> str:
        """Start the task that executes `run`; returns its ARN. `claim` doubles as the idempotency
        token, so a retried request starts no second task."""
        response = ECS_ERRORS.call(
            self.client.run_task,
            cluster=self.cluster,
            taskDefinition=self.task_definition,
            launchType="FARGATE",
            count=1,
            startedBy=str(run.id),
            clientToken=claim,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": self.subnets,
                    "securityGroups": self.security_groups,
                    "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
                }
            },
            overrides={
                "containerOverrides": [
                    {
                        "name": self.container_name,
                        "command": execute_command(run.id),
                        "environment": [{"name": CLAIM_ENV, "value": claim}],
                    }
                ]
            },
            tags=[{"key": RUN_ID_TAG, "value": str(run.id)}],
        )
        tasks = response.get("tasks") or []
        if not tasks:
            reasons = "; ".join(
                f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response.get("failures", [])
            )
            raise LaunchFailed(f"ECS started no task for flow run {run.id}: {reasons or 'no reason given'}")
        return tasks[0]["taskArn"]

    def stop(self, task_arn: str, reason: str) -> None:
        ECS_ERRORS.call(self.client.stop_task, cluster=self.cluster, task=task_arn, reason=reason[:255])
