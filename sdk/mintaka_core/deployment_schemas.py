"""Wire models for deployments, work queues and events (validated at the edge)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from mintaka_core.bounds import MAX_RETRIES, DelaySeconds, JsonObject, NoNul, Time, check_json_schema
from mintaka_core.schedules import Schedule
from mintaka_core.schemas import IdempotencyKey, Name, Tag, _Input
from mintaka_core.states import utcnow
from mintaka_core.vocabulary import DEFAULT_QUEUE

Infrastructure = Literal["process", "lambda", "fargate"]


class CodeStorage(_Input):
    """Where a deployment's code lives: a local directory, an S3 archive, or a git branch."""

    type: Literal["local", "s3", "git"] = "local"
    url: str = Field(min_length=1, max_length=2000, description="Directory, s3://bucket/key.zip, or git URL")
    branch: str | None = Field(None, max_length=200, description="git only: its HEAD is run")

    @field_validator("branch")
    @classmethod
    def _branch_only_for_git(cls, value, info):
        if value is not None and info.data.get("type") != "git":
            raise ValueError("branch applies to git storage only")
        return value


class EventTrigger(_Input):
    """Create a run for each matching event; the event is passed as parameter `parameter`."""

    type: Literal["eventbridge", "sqs", "api"] = "api"
    match: JsonObject = Field(
        default_factory=dict, description="EventBridge-style pattern on the event's fields, e.g. {'source': ['s3']}"
    )
    queue_url: str | None = Field(None, description="sqs only: the queue whose messages trigger runs")
    parameter: str = Field("event", min_length=1, max_length=100)


class DeploymentCreate(_Input):
    flow_name: Name
    name: Name
    entrypoint: str = Field(
        min_length=3, max_length=500, pattern=r"^.+:[A-Za-z_][A-Za-z0-9_]*$", examples=["flows/etl.py:etl"]
    )
    storage: CodeStorage
    parameters: JsonObject = Field(default_factory=dict)
    parameter_schema: JsonObject | None = Field(None, description="JSON schema of the flow's parameters")
    tags: list[Tag] = Field(default_factory=list)
    work_queue_name: Name = DEFAULT_QUEUE
    infrastructure: Infrastructure = "process"
    schedules: list[Schedule] = Field(default_factory=list)
    schedule_paused: bool = False
    triggers: list[EventTrigger] = Field(default_factory=list)
    description: str | None = Field(None, max_length=5000)
    version: str | None = Field(None, max_length=200)
    retries: int = Field(0, ge=0, le=MAX_RETRIES, description="Flow-run retries; the server applies them")
    retry_delay_seconds: list[DelaySeconds] = Field(default_factory=list, max_length=MAX_RETRIES)
    persist_results: bool = Field(
        True,
        description="Persist task and subflow results by default, so that a run executing again (requeued, "
        "resumed, retried) returns what already completed instead of running it again",
    )
    dependencies: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^s3://[^/]+/.+\.zip$",
        description="The requirements built for the Lambda runtime (s3://bucket/key.zip), put on the path of "
        "each run the Lambda worker executes",
    )

    @model_serializer(mode="wrap")
    def _without_default_persistence(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Servers older than `persist_results` refuse unknown fields: a request sends it only when off
        # (and `dependencies` only when there are some).
        data = handler(self)
        if type(self) is DeploymentCreate and data.get("persist_results") is True:
            data.pop("persist_results")
        if type(self) is DeploymentCreate and data.get("dependencies") is None:
            data.pop("dependencies", None)
        return data

    @field_validator("parameter_schema")
    @classmethod
    def _valid_json_schema(cls, value):
        """The schema the server checks parameters with must itself be a JSON schema (2020-12)."""
        return check_json_schema(value)


class Deployment(DeploymentCreate):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: dt.datetime = Field(default_factory=utcnow)
    updated: dt.datetime = Field(default_factory=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


class DeploymentRunCreate(_Input):
    parameters: JsonObject = Field(default_factory=dict, description="Override the deployment's parameters")
    idempotency_key: IdempotencyKey | None = None
    scheduled_time: Time | None = Field(None, description="Default: now")
    tags: list[Tag] = Field(default_factory=list)
    name: Name | None = Field(None, description="The run's name (default: a generated one)")

    @model_serializer(mode="wrap")
    def _without_unset_name(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Servers older than `name` refuse unknown fields: send it only when it is set.
        data = handler(self)
        if data.get("name") is None:
            data.pop("name", None)
        return data


class WorkQueueCreate(_Input):
    name: Name
    concurrency_limit: int | None = Field(None, ge=0, le=100_000)
    priority: int = Field(1, ge=1, le=1000, description="Lower runs first when a worker serves several queues")
    paused: bool = False
    deployments: list[str] = Field(default_factory=list, description="Only these FLOW/DEPLOYMENT names")
    tags: list[Tag] = Field(default_factory=list, description="Only runs with all of these tags")


class WorkQueueUpdate(_Input):
    """Fields left out stay as they are; `concurrency_limit: null` removes the limit."""

    concurrency_limit: int | None = Field(None, ge=0, le=100_000)
    priority: int | None = Field(None, ge=1, le=1000)
    paused: bool | None = None

    @field_validator("priority", "paused")
    @classmethod
    def _not_null(cls, value):
        if value is None:  # runs only for values given: an explicit null would corrupt the queue
            raise ValueError("may be left out, but not null")
        return value


class WorkQueue(WorkQueueCreate):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: dt.datetime = Field(default_factory=utcnow)


class EventCreate(_Input):
    """An event from any source; `id` makes delivery idempotent (one run per event per deployment)."""

    id: Annotated[str, NoNul] = Field(min_length=1, max_length=200)
    source: Annotated[str, NoNul] = Field(min_length=1, max_length=200)
    detail_type: str | None = Field(None, max_length=200)
    detail: JsonObject = Field(default_factory=dict)
    time: Time = Field(default_factory=utcnow)


class EventResult(BaseModel):
    flow_run_ids: list[uuid.UUID]
