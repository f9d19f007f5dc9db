"""The server's settings, read in one place: `MINTAKA_*` variables (plus the standard `AWS_*` ones).

The SDK's `mintaka.settings.Settings` covers what clients and the embedded store need
(`MINTAKA_HOME`, `MINTAKA_DATABASE`, ...); this class adds only what the server deployment
chooses: which store adapter, where its table lives, the results bucket, and for the cloud
path the Scheduler group, the SQS work queues and the Fargate task that runs flows. Read once
per process (`get_server_settings()` is cached; `reset_server_settings()` forgets it for tests).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TABLE_BASE_NAME = "mintaka"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINTAKA_", extra="ignore", populate_by_name=True)

    store: Literal["sqlite", "dynamodb"] = Field(
        "sqlite", description="Store adapter: the embedded SQLite file, or DynamoDB"
    )
    table_prefix: str = Field("", max_length=200, description="Prefix of the DynamoDB table name, e.g. `prod-`")
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MINTAKA_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        description="AWS endpoint override (moto, LocalStack); unset = the real AWS endpoints",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("MINTAKA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    results_bucket: str | None = Field(None, description="S3 bucket for flow results (set by the deployment)")

    # -- issue 4, the cloud path: EventBridge Scheduler, SQS work queues, ECS Fargate
    schedule_group: str | None = Field(
        None, description="EventBridge Scheduler group holding one schedule per deployment schedule; unset = no sync"
    )
    trigger_function_arn: str | None = Field(None, description="The trigger Lambda the schedules invoke")
    scheduler_role_arn: str | None = Field(None, description="The IAM role EventBridge Scheduler assumes to invoke it")
    work_queues: Literal["embedded", "sqs"] = Field(
        "embedded", description="Work-queue transport: the store's due runs, or one SQS queue per work queue"
    )
    queue_prefix: str = Field(
        "mintaka-", max_length=40, description="SQS queue name = prefix + work-queue name (its DLQ: + `-dlq`)"
    )
    queue_visibility_timeout: int = Field(
        5400, ge=0, le=43200, description="Seconds; at least 6x the worker function's timeout (AWS advice)"
    )
    queue_max_receive_count: int = Field(
        100, ge=1, le=1000, description="Deliveries before a message moves to the DLQ (paused queues redeliver)"
    )
    worker_function_arn: str | None = Field(
        None, description="`mintaka work-queue create` maps the SQS queue it provisions to this worker function"
    )
    ecs_cluster: str | None = Field(None, description="ECS cluster for `infrastructure=fargate` runs")
    ecs_task_definition: str | None = Field(None, description="Fargate task definition (family[:revision] or ARN)")
    ecs_container_name: str = Field("mintaka", description="The container whose command runs the flow")
    ecs_subnets: str = Field("", description="Comma-separated subnet ids (awsvpc)")
    ecs_security_groups: str = Field("", description="Comma-separated security group ids")
    ecs_assign_public_ip: bool = Field(False, description="Public IP for tasks in public subnets without NAT")

    # -- issue 8, browsers (mintaka_server.api.browser_guard)
    server_allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host names the API answers to, beside loopback names and the bind address"
        " (`*` = any). Unset: just those; on Lambda, any (API Gateway routes only its own domains)",
    )
    server_cors_origins: str = Field(
        "", description="Comma-separated origins (https://ops.example.com) whose web pages may call the API"
    )

    # -- issue 8, hostile input (mintaka_server.api.body_limit)
    server_max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024 * 1024,  # the SDK sends log batches of up to 1 MiB
        le=1024 * 1024 * 1024,
        description="Largest request body the API accepts, in bytes (larger: 413)",
    )

    @property
    def table_name(self) -> str:
        """The one DynamoDB table: `{table_prefix}mintaka` (the SAM template names it the same way)."""
        return f"{self.table_prefix}{TABLE_BASE_NAME}"

    @property
    def ecs_subnet_ids(self) -> list[str]:
        return _split(self.ecs_subnets)

    @property
    def ecs_security_group_ids(self) -> list[str]:
        return _split(self.ecs_security_groups)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@lru_cache(maxsize=1)
def get_server_settings() -> ServerSettings:
    return ServerSettings()


def reset_server_settings() -> None:
    """Forget the cached settings (after the environment changed, e.g. between tests)."""
    get_server_settings.cache_clear()
