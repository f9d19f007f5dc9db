"""Wire models shared by the SDK client and the orchestration API (validated at the edge)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from mintaka_core.bounds import MAX_RETRIES, DelaySeconds, JitterFactor, JsonObject, NoNul, Time
from mintaka_core.states import State, StateType, utcnow

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), NoNul]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True), NoNul]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=300), NoNul]
# Seconds between a run's heartbeats, as its executor declares them: the server keeps the run's
# concurrency slots (its lease) and calls it alive for a few intervals after each beat.
HeartbeatInterval = Annotated[float, Field(gt=0, le=86_400)]


class _Input(BaseModel):
    """Requests reject unknown fields so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class EmpiricalPolicy(_Input):
    """Retry settings the rules engine reads when a run fails."""

    retries: int = Field(0, ge=0, le=MAX_RETRIES)
    retry_delay_seconds: list[DelaySeconds] = Field(default_factory=list, max_length=MAX_RETRIES)
    retry_jitter_factor: JitterFactor | None = None


class FlowCreate(_Input):
    name: Name


class Flow(BaseModel):
    id: uuid.UUID
    name: str
    created: dt.datetime


class FlowRunCreate(_Input):
    flow_name: Name
    name: Name | None = None
    parameters: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list)
    parent_task_run_id: uuid.UUID | None = None
    idempotency_key: IdempotencyKey | None = None
    flow_version: str | None = None
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    state: State | None = Field(None, description="Initial state; PENDING when omitted")
    deployment_id: uuid.UUID | None = None
    deployment_name: str | None = Field(None, max_length=401, description="FLOW/DEPLOYMENT")
    work_queue_name: Name | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    heartbeat_interval: HeartbeatInterval | None = Field(None, description="Declared by a run created RUNNING")


class TaskInput(BaseModel):
    """An upstream run whose result fed a parameter (dependency tracking)."""

    input_type: Literal["task_run", "parameter", "constant"] = "task_run"
    id: uuid.UUID | None = None


class TaskRunCreate(_Input):
    id: uuid.UUID | None = Field(None, description="Client-chosen id (lets a future name its run early)")
    flow_run_id: uuid.UUID | None = None
    task_key: Name
    name: Name | None = None
    dynamic_key: str = Field("0", max_length=200)
    tags: list[Tag] = Field(default_factory=list)
    task_inputs: dict[str, list[TaskInput]] = Field(default_factory=dict)
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    state: State | None = Field(None, description="Initial state; PENDING when omitted")


class _Run(BaseModel):
    id: uuid.UUID
    name: str
    tags: list[str] = Field(default_factory=list)
    state: State | None = None
    state_version: int = 0
    run_count: int = 0
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    held_slots: list[str] = Field(default_factory=list, description="Tags whose concurrency slot it holds")
    created: dt.datetime = Field(default_factory=utcnow)
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    heartbeat_interval: float | None = Field(None, description="Seconds between beats its executor declared")

    @property
    def state_type(self) -> StateType | None:
        return self.state.type if self.state else None


class FlowRun(_Run):
    flow_id: uuid.UUID
    flow_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    parent_task_run_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    flow_version: str | None = None
    deployment_id: uuid.UUID | None = None
    deployment_name: str | None = None
    work_queue_name: str | None = None
    expected_start_time: dt.datetime | None = Field(None, description="When a SCHEDULED run is due")
    labels: dict[str, str] = Field(default_factory=dict, description="e.g. mintaka.git.commit")


class TaskRun(_Run):
    flow_run_id: uuid.UUID | None = None
    task_key: str
    dynamic_key: str = "0"
    task_inputs: dict[str, list[TaskInput]] = Field(default_factory=dict)


class FlowRunDetail(FlowRun):
    states: list[State] = Field(default_factory=list)
    task_runs: list[TaskRun] = Field(default_factory=list)


class FlowRunPage(BaseModel):
    items: list[FlowRun]
    next_cursor: str | None = None


def _as_list(value: Any) -> Any:
    """One value given where a list is allowed (`state_type=FAILED`) is a list of one."""
    return [value] if value is not None and not isinstance(value, list | tuple | set) else value


Contains = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]


class FlowRunFilter(_Input):
    flow_name: Name | None = None
    state_type: Annotated[list[StateType] | None, BeforeValidator(_as_list)] = Field(
        None, max_length=len(StateType), description="Any of these (repeat the parameter)"
    )
    tag: Annotated[list[Tag] | None, BeforeValidator(_as_list)] = Field(
        None, max_length=10, description="All of these (repeat the parameter)"
    )
    deployment_name: str | None = Field(None, max_length=401)
    name_contains: Contains | None = Field(None, description="Run names containing this, any case")
    flow_contains: Contains | None = Field(None, description="Flow names containing this, any case")
    since: Time | None = None
    until: Time | None = None
    sort: Literal["newest", "oldest"] | None = Field(None, description="newest (the default) or oldest first")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=500)

    @property
    def oldest_first(self) -> bool:
        return self.sort == "oldest"

    def matches_text(self, run: FlowRun) -> bool:
        """The substring filters (stores apply them after their indexes narrowed the runs)."""
        return (not self.name_contains or self.name_contains.casefold() in run.name.casefold()) and (
            not self.flow_contains or self.flow_contains.casefold() in run.flow_name.casefold()
        )


class SetStateRequest(_Input):
    state: State
    force: bool = Field(False, description="Skip the rules (operators only)")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Merged into the run's labels with the transition (flow runs)"
    )
    heartbeat_interval: HeartbeatInterval | None = Field(
        None, description="A flow run going RUNNING: its executor heartbeats this often (its slots are leased)"
    )


class FlowRunResume(_Input):
    """Resume a paused flow run, with the input its pause waits for (`wait_for_input`)."""

    run_input: JsonObject | None = Field(
        None, description="Checked against the JSON schema in the PAUSED state's `run_input_schema`"
    )
    idempotency_key: IdempotencyKey | None = Field(
        None, description="The same request sent again (its answer was lost) is answered as the first"
    )


class SetStateStatus(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    WAIT = "WAIT"
    ABORT = "ABORT"


class OrchestrationDetails(BaseModel):
    reason: str | None = None
    delay_seconds: float | None = None


class OrchestrationResult(BaseModel):
    status: SetStateStatus
    state: State | None
    details: OrchestrationDetails = Field(default_factory=OrchestrationDetails)


class LogCreate(_Input):
    # Made by the client: a record sent twice (a retry after a lost answer) is stored once.
    id: uuid.UUID | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    name: str = Field("mintaka", max_length=200)
    level: int = Field(20, ge=0, le=100)
    message: str = Field(max_length=100_000)
    timestamp: Time = Field(default_factory=utcnow)


class Log(LogCreate):
    model_config = ConfigDict(extra="ignore")


class ConcurrencyLimitCreate(_Input):
    tag: Tag
    limit: int = Field(ge=0, le=1_000_000)


class ConcurrencyLimit(BaseModel):
    tag: str
    limit: int
    active_slots: int = 0
    created: dt.datetime = Field(default_factory=utcnow)

    @property
    def id(self) -> uuid.UUID:
        """A stable id for the limit (one limit per tag), as Prefect 2's client hands out."""
        return uuid.uuid5(_LIMIT_NAMESPACE, self.tag)

    @property
    def concurrency_limit(self) -> int:
        """Prefect 2's name for `limit`."""
        return self.limit


_LIMIT_NAMESPACE = uuid.UUID("6d696e74-616b-4100-8c69-6d6974730000")


class ApiKeyScope(StrEnum):
    """What a key may do, each scope including the ones before it: `read` (GET), `write` (what an
    SDK process and a worker report: runs, states, logs, heartbeats), `admin` (everything)."""

    read = "read"
    write = "write"
    admin = "admin"

    def allows(self, needed: ApiKeyScope) -> bool:
        order = list(ApiKeyScope)
        return order.index(self) >= order.index(needed)


class ApiKeyCreate(_Input):
    name: Name
    scope: ApiKeyScope = ApiKeyScope.write


class ApiKey(BaseModel):
    """An API key as listed: never the secret, only its id (the key's visible prefix)."""

    id: str
    name: str
    created: dt.datetime = Field(default_factory=utcnow)
    revoked: dt.datetime | None = None
    # Keys stored before scopes existed have none: they read as `write` (they keep running flows;
    # managing keys, deployments and settings, and forcing states, need a new `admin` key).
    scope: ApiKeyScope = ApiKeyScope.write


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The secret, shown once: send it as `Authorization: Bearer <key>`")


class ResultStorageSetting(_Input):
    """Where flows persist results by default, set by the operator (e.g. s3://bucket/prefix)."""

    url: str = Field(min_length=1, max_length=1000, pattern=r"^(s3://[^/]+(/.*)?|file://.+)$")


PolicyScope = Literal["flow", "deployment", "tag"]


class RetryPolicySet(_Input):
    """Retries set on the server for every run in a scope, read by the rules when a run fails:
    they replace what the flow's code (or its deployment) says, with no redeploy."""

    retries: int = Field(ge=0, le=MAX_RETRIES)
    retry_delay_seconds: list[DelaySeconds] = Field(default_factory=list, max_length=MAX_RETRIES)
    retry_jitter_factor: JitterFactor | None = None


class RetryPolicy(RetryPolicySet):
    scope: PolicyScope = Field(description="flow (its runs), deployment (FLOW/NAME: its runs), tag (any run tagged)")
    name: Name
    updated: dt.datetime
