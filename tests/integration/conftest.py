"""Fixtures for the cloud path's integration tests (tests/integration/test_cloud_*.py).

`cloud_bench`: AWS resources on the session's endpoint (moto's server on a free loopback port,
or `AWS_ENDPOINT_URL`), the store (DynamoDB on that endpoint; SQLite under tmp_path when
`MINTAKA_TEST_CLOUD_STORE=sqlite`), the `Cloud` the trigger/worker/events handlers use, and a
local-storage project holding the flow `flows.py:greet`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.aws_cloud import SCHEDULER_ROLE_ARN, TRIGGER_ARN, EcsNetwork, aws, create_ecs, write_project


@dataclass
class CloudBench:
    endpoint: str
    settings: Any  # ServerSettings
    cloud: Any  # mintaka_server.composition.Services
    project: Path
    ecs: EcsNetwork

    @property
    def deployments(self):
        return self.cloud.deployments

    @property
    def orchestration(self):
        return self.cloud.orchestration

    def client(self, service: str) -> Any:
        return aws(service, self.endpoint)

    def queue_url(self, work_queue: str = "default") -> str:
        return self.cloud.queues.queue_url(work_queue)

    def create_work_queue(self, name: str, **fields: Any):
        """What `mintaka work-queue create NAME` does: its SQS queue first, then the work queue."""
        from mintaka.deployment_schemas import WorkQueueCreate
        from mintaka_server.queues.sqs_provisioning import provision_work_queue

        provision_work_queue(name, self.settings)
        return self.deployments.create_work_queue(WorkQueueCreate(name=name, **fields))

    def deploy(self, name: str = "prod", **fields: Any):
        from mintaka.deployment_schemas import CodeStorage, DeploymentCreate

        body = {
            "flow_name": "greet",
            "name": name,
            "entrypoint": "flows.py:greet",
            "storage": CodeStorage(type="local", url=str(self.project)),
            "parameters": {"name": "Ada", "times": 2},
            "infrastructure": "lambda",
            **fields,
        }
        return self.deployments.upsert_deployment(DeploymentCreate(**body))


@pytest.fixture
def cloud_bench(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CloudBench]:
    pytest.importorskip("boto3")
    from mintaka.settings import reset_settings
    from mintaka_server.composition import build, set_services
    from mintaka_server.queues.sqs_provisioning import provision_work_queue
    from mintaka_server.server_settings import ServerSettings

    endpoint = request.getfixturevalue("dynamodb_endpoint")
    suffix = uuid.uuid4().hex[:10]
    tables = None if _on_sqlite() else request.getfixturevalue("dynamodb_tables")
    table = tables.take() if tables else None  # an empty `{prefix}mintaka`, given back after
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path / "home"))
    reset_settings()
    settings = ServerSettings(
        store="dynamodb",
        table_prefix=table.prefix if table else f"t{suffix}-",
        aws_endpoint_url=endpoint,
        aws_region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        schedule_group=f"mintaka-{suffix}",
        trigger_function_arn=TRIGGER_ARN,
        scheduler_role_arn=SCHEDULER_ROLE_ARN,
        work_queues="sqs",
        queue_prefix=f"mk{suffix}-",
        queue_visibility_timeout=60,
    )
    ecs = create_ecs(endpoint, suffix)
    settings = settings.model_copy(
        update={
            "ecs_cluster": ecs.cluster,
            "ecs_task_definition": ecs.task_definition,
            "ecs_subnets": ecs.subnet,
            "ecs_security_groups": ecs.security_group,
        }
    )
    store = _store(settings, tmp_path)
    cloud = build(settings, store)
    cloud.deployments.schedule_sync.ensure_group()
    provision_work_queue("default", settings)  # as the template does
    previous = set_services(cloud)
    try:
        yield CloudBench(endpoint, settings, cloud, write_project(tmp_path / "project"), ecs)
    finally:
        set_services(previous)
        _clean_up(endpoint, settings)
        store.close()
        if table:
            tables.give_back(table)
        reset_settings()


def _on_sqlite() -> bool:
    return os.environ.get("MINTAKA_TEST_CLOUD_STORE") == "sqlite"


def _store(settings: Any, tmp_path: Path):
    if _on_sqlite():
        from mintaka_server.storage.sqlite import SQLiteStore

        return SQLiteStore(tmp_path / "mintaka.db")
    from mintaka_server.storage.dynamodb import DynamoDBStore

    return DynamoDBStore(settings.table_name, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)


def _clean_up(endpoint: str, settings: Any) -> None:
    scheduler, sqs = aws("scheduler", endpoint), aws("sqs", endpoint)
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=settings.schedule_group):
        for schedule in page["Schedules"]:
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=settings.schedule_group)
    scheduler.delete_schedule_group(Name=settings.schedule_group)
    for url in sqs.list_queues(QueueNamePrefix=settings.queue_prefix).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)
