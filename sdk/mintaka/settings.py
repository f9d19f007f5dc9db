"""Settings, read in one place: environment variables `MINTAKA_*`, then the profile
(`$MINTAKA_HOME/config.json`, written by `mintaka config set`), then defaults.

One class for clients and servers alike. The server's fields (which store, its table, the cloud
path's Scheduler group, SQS work queues and Fargate task, what the API accepts) are read from the
environment only, never from a profile (`SERVER_FIELDS`), as a deployment's template sets them;
`mintaka_server.composition.build(settings)` turns them into services."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

TABLE_BASE_NAME = "mintaka"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINTAKA_", extra="ignore", populate_by_name=True)

    home: Path = Field(Path("~/.mintaka"), description="Where the embedded store and results live")
    api_url: str | None = Field(None, description="Orchestration API; unset = embedded in-process API")
    api_key: str | None = None
    database: Path | None = Field(None, description="Embedded SQLite file; default $MINTAKA_HOME/mintaka.db")
    results_dir: Path | None = Field(None, description="Local result store; default $MINTAKA_HOME/results")
    logging_level: str = "INFO"
    log_batch_interval: float = Field(0.5, gt=0, description="Seconds between log shipments")
    api_timeout: float = Field(30.0, gt=0)
    api_outage_tolerance: float = Field(
        300.0,
        ge=0,
        le=7 * 24 * 3600,
        description="Seconds the SDK, workers and executors keep retrying an unreachable API before a run ends CRASHED",
    )
    log_spool_dir: Path | None = Field(
        None,
        description="Where log records the API could not take yet wait (default: the user's cache"
        " dir, ~/.cache/mintaka/log-spool); the next Mintaka process delivers them",
    )
    task_run_reports: bool = Field(
        True,
        description="Over HTTP, report plain task runs' starts and ends write-behind, in batches (journaled in"
        " the log spool dir until the API took them); false: two synchronous calls per task run",
    )
    heartbeat_interval: float = Field(
        10.0,
        gt=0,
        le=86_400,
        description="Seconds between a running flow run's heartbeats: silent for three of them, it is taken for"
        " lost (its slots go to others, the reaper ends it); also how soon a cancel takes effect",
    )
    api_auth: bool | None = Field(
        None,
        description="Servers: require API keys. Unset = off for `mintaka server start` on loopback"
        " and for the embedded API, on for Lambda and for a server on any other interface",
    )

    # -- the server's: environment only (SERVER_FIELDS)
    store: Literal["sqlite", "dynamodb"] = Field(
        "sqlite", description="Store adapter: the embedded SQLite file, or DynamoDB"
    )
    table_prefix: str = Field("", max_length=200, description="Prefix of the DynamoDB table name, e.g. `prod-`")
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MINTAKA_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL", "aws_endpoint_url"),
        description="AWS endpoint override (moto, LocalStack); unset = the real AWS endpoints",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("MINTAKA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "aws_region"),
    )
    results_bucket: str | None = Field(None, description="S3 bucket for flow results (set by the deployment)")
    schedule_group: str | None = Field(
        None, description="EventBridge Scheduler group holding one schedule per deployment schedule; unset = no sync"
    )
    trigger_function_arn: str | None = Field(None, description="The trigger Lambda the schedules invoke")
    scheduler_role_arn: str | None = Field(None, description="The IAM role EventBridge Scheduler assumes to invoke it")
    scheduler_dlq_arn: str | None = Field(
        None, description="SQS queue each schedule's target parks a tick in when the trigger cannot be invoked"
    )
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
    worker_deadline_margin: float = Field(
        60.0,
        ge=0,
        le=900,
        description="Seconds: the Lambda worker starts no task in its invocation's last N seconds; the run"
        " continues in the next invocation, by replay (N covers the longest task)",
    )
    worker_child_process: bool = Field(
        True,
        description="The Lambda worker (through MINTAKA_API_URL) runs each flow in a child process and"
        " heartbeats for it, so a task holding the GIL never makes a live run look lost",
    )
    api_key_secret_arn: str | None = Field(
        None,
        description="The Lambda worker reports through MINTAKA_API_URL with the API key this Secrets Manager"
        " secret holds (when MINTAKA_API_KEY is unset)",
    )
    ecs_cluster: str | None = Field(None, description="ECS cluster for `infrastructure=fargate` runs")
    ecs_task_definition: str | None = Field(None, description="Fargate task definition (family[:revision] or ARN)")
    ecs_container_name: str = Field("mintaka", description="The container whose command runs the flow")
    ecs_subnets: str = Field("", description="Comma-separated subnet ids (awsvpc)")
    ecs_security_groups: str = Field("", description="Comma-separated security group ids")
    ecs_assign_public_ip: bool = Field(False, description="Public IP for tasks in public subnets without NAT")
    server_allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host names the API answers to, beside loopback names and the bind address"
        " (`*` = any). Unset: just those; on Lambda, any (API Gateway routes only its own domains)",
    )
    server_cors_origins: str = Field(
        "", description="Comma-separated origins (https://ops.example.com) whose web pages may call the API"
    )
    server_max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024 * 1024,  # the SDK sends log batches of up to 1 MiB
        le=1024 * 1024 * 1024,
        description="Largest request body the API accepts, in bytes (larger: 413)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ProfileSource(settings_cls), dotenv_settings, file_secret_settings

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def database_path(self) -> Path:
        return (self.database or self.home_path / "mintaka.db").expanduser()

    @property
    def results_path(self) -> Path:
        return (self.results_dir or self.home_path / "results").expanduser()

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

    @property
    def log_spool_path(self) -> Path:
        if self.log_spool_dir is not None:
            return self.log_spool_dir.expanduser()

        cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
        return Path(cache).expanduser() / "mintaka" / "log-spool"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# The fields declared from `store` on: chosen by the deployment (its template, its environment),
# never by a user's profile.
_NAMES = list(Settings.model_fields)
SERVER_FIELDS = frozenset(_NAMES[_NAMES.index("store") :])


class ProfileSource(PydanticBaseSettingsSource):
    """The profile in the MINTAKA_HOME the sources before it chose (or the default home)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        from mintaka.profile import NOT_IN_PROFILE, profile_path, read_profile

        values = read_profile(profile_path(self.current_state.get("home")))
        return {k: v for k, v in values.items() if k in self.settings_cls.model_fields and k not in NOT_IN_PROFILE}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in the test harness)."""
    get_settings.cache_clear()
