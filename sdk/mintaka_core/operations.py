"""The API's operations, declared once: each client method's HTTP method, path, request and
response types, whether repeating it is safe, and the API key scope it needs.

The HTTP transport builds its requests from this table; `tests/unit/test_api_parity.py` holds
the server's routes (OpenAPI and scopes), the HTTP transport and the embedded transport to it.
This module names no server code: it is part of the client protocol.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mintaka_core.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka_core.deployment_schemas import (
    Deployment,
    DeploymentCreate,
    DeploymentRunCreate,
    EventCreate,
    EventResult,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from mintaka_core.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyScope,
    ConcurrencyLimit,
    ConcurrencyLimitCreate,
    Flow,
    FlowCreate,
    FlowRun,
    FlowRunCreate,
    FlowRunDetail,
    FlowRunFilter,
    FlowRunPage,
    FlowRunResume,
    Log,
    LogCreate,
    OrchestrationResult,
    ResultStorageSetting,
    RetryPolicy,
    RetryPolicySet,
    SetStateRequest,
    TaskRun,
    TaskRunCreate,
)
from mintaka_core.states import State

READ, WRITE, ADMIN = ApiKeyScope.read, ApiKeyScope.write, ApiKeyScope.admin

_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def _state_proposal_keyed(body: SetStateRequest) -> bool:
    return body.state.state_details.idempotency_key is not None


def _resume_keyed(body: FlowRunResume) -> bool:
    return body.idempotency_key is not None


def _task_run_keyed(body: TaskRunCreate) -> bool:
    # Within a flow run the server deduplicates on (flow run, task key, dynamic key), and on
    # the run's id when the client chose it (the engines always do).
    return body.flow_run_id is not None or body.id is not None


def _logs_keyed(body: Sequence[LogCreate]) -> bool:
    # Records with ids are stored once however often they are sent (the shipper's are).
    return all(log.id is not None for log in body)


@dataclass(frozen=True)
class Operation:
    """One call of the API. `path` is the route's template under `/api`, as the server declares
    it (`{name:path}`: the parameter may hold a slash). `request` is the JSON body's type,
    `query` the query parameters' model (None: none or scalar ones only), `response` the
    answer's type (None: 204, no body). `idempotent` is a bool, or a test on the request body
    for calls that are safe to repeat only when the body carries a key."""

    name: str
    method: str
    path: str
    response: Any
    scope: ApiKeyScope
    idempotent: bool | Callable[[Any], bool]
    request: Any = None
    query: Any = None

    def is_idempotent(self, body: Any = None) -> bool:
        """Whether a retry of this call (with this body) can do no harm twice."""
        return self.idempotent(body) if callable(self.idempotent) else self.idempotent

    @property
    def parameters(self) -> tuple[str, ...]:
        """The path parameters' names, in order."""
        return tuple(_PARAMETER.findall(self.path))

    def url(self, **values: Any) -> str:
        """The path relative to the API's URL, each parameter percent-encoded as one segment
        (a slash in a name included: the server's `{name:path}` routes take it back)."""
        if set(values) != set(self.parameters):
            raise TypeError(f"{self.name} takes path parameters {self.parameters}, got {sorted(values)}")
        return _PARAMETER.sub(lambda m: quote(format(values[m.group(1)]), safe=""), self.path).lstrip("/")


_op = Operation  # short, so that most rows fit on one line


# fmt: off
OPERATIONS: tuple[Operation, ...] = (
    # -- flows (create is get-or-create by name: repeating it is harmless)
    _op("create_flow", "POST", "/flows", Flow, WRITE, True, request=FlowCreate),
    _op("list_flows", "GET", "/flows", list[Flow], READ, True),
    # -- flow runs (the HTTP transport always sends an idempotency key with a create)
    _op("create_flow_run", "POST", "/flow_runs", FlowRun, WRITE, True, request=FlowRunCreate),
    _op("read_flow_run", "GET", "/flow_runs/{run_id}/summary", FlowRun, READ, True),
    _op("read_flow_run_detail", "GET", "/flow_runs/{run_id}", FlowRunDetail, READ, True),
    _op("list_flow_runs", "GET", "/flow_runs", FlowRunPage, READ, True, query=FlowRunFilter),
    _op(
        "set_flow_run_state", "POST", "/flow_runs/{run_id}/set_state", OrchestrationResult, WRITE,
        _state_proposal_keyed, request=SetStateRequest,
    ),
    _op("read_flow_run_states", "GET", "/flow_runs/{run_id}/states", list[State], READ, True),
    _op(
        "resume_flow_run", "POST", "/flow_runs/{run_id}/resume", OrchestrationResult, WRITE, _resume_keyed,
        request=FlowRunResume,
    ),
    _op("heartbeat_flow_run", "POST", "/flow_runs/{run_id}/heartbeat", FlowRun, WRITE, True),
    # -- task runs
    _op("create_task_run", "POST", "/task_runs", TaskRun, WRITE, _task_run_keyed, request=TaskRunCreate),
    _op("read_task_run", "GET", "/task_runs/{run_id}", TaskRun, READ, True),
    _op("read_task_run_states", "GET", "/task_runs/{run_id}/states", list[State], READ, True),
    _op(
        "set_task_run_state", "POST", "/task_runs/{run_id}/set_state", OrchestrationResult, WRITE,
        _state_proposal_keyed, request=SetStateRequest,
    ),
    _op("heartbeat_task_run", "POST", "/task_runs/{run_id}/heartbeat", TaskRun, WRITE, True),
    # -- task-run reports in batches (each report carries its key: a create, the run's id)
    _op(
        "report_task_runs", "POST", "/task_runs/batch", TaskRunReportsResult, WRITE, True, request=TaskRunReports,
    ),
    # -- logs
    _op("create_logs", "POST", "/logs", None, WRITE, _logs_keyed, request=list[LogCreate]),
    _op("read_logs", "GET", "/flow_runs/{run_id}/logs", list[Log], READ, True),
    # -- concurrency limits (set is an upsert; a second delete is a 404)
    _op(
        "set_concurrency_limit", "POST", "/concurrency_limits", ConcurrencyLimit, ADMIN, True,
        request=ConcurrencyLimitCreate,
    ),
    _op("read_concurrency_limit", "GET", "/concurrency_limits/{tag:path}", ConcurrencyLimit, READ, True),
    _op("list_concurrency_limits", "GET", "/concurrency_limits", list[ConcurrencyLimit], READ, True),
    _op("delete_concurrency_limit", "DELETE", "/concurrency_limits/{tag:path}", None, ADMIN, False),
    # -- API keys (revoking twice is harmless)
    _op("create_api_key", "POST", "/api_keys", ApiKeyCreated, ADMIN, False, request=ApiKeyCreate),
    _op("list_api_keys", "GET", "/api_keys", list[ApiKey], ADMIN, True),
    _op("revoke_api_key", "DELETE", "/api_keys/{key_id}", None, ADMIN, True),
    # -- retry policies
    _op(
        "set_retry_policy", "PUT", "/retry_policies/{scope}/{name:path}", RetryPolicy, ADMIN, True,
        request=RetryPolicySet,
    ),
    _op("read_retry_policy", "GET", "/retry_policies/{scope}/{name:path}", RetryPolicy, READ, True),
    _op("list_retry_policies", "GET", "/retry_policies", list[RetryPolicy], READ, True),
    _op("delete_retry_policy", "DELETE", "/retry_policies/{scope}/{name:path}", None, ADMIN, False),
    # -- server settings
    _op("read_result_storage", "GET", "/settings/result-storage", ResultStorageSetting | None, READ, True),
    _op(
        "set_result_storage", "PUT", "/settings/result-storage", ResultStorageSetting, ADMIN, True,
        request=ResultStorageSetting,
    ),
    _op("clear_result_storage", "DELETE", "/settings/result-storage", None, ADMIN, True),
    # -- deployments, addressed as FLOW/NAME (upsert and schedule toggles are safe to repeat)
    _op("upsert_deployment", "POST", "/deployments", Deployment, ADMIN, True, request=DeploymentCreate),
    _op("read_deployment", "GET", "/deployments/{flow_name}/{name}", Deployment, READ, True),
    _op("list_deployments", "GET", "/deployments", list[Deployment], READ, True),
    _op("delete_deployment", "DELETE", "/deployments/{flow_name}/{name}", None, ADMIN, False),
    _op("pause_deployment_schedule", "POST", "/deployments/{flow_name}/{name}/pause_schedule", Deployment, ADMIN, True),
    _op(
        "resume_deployment_schedule", "POST", "/deployments/{flow_name}/{name}/resume_schedule", Deployment, ADMIN,
        True,
    ),
    _op(
        "create_deployment_run", "POST", "/deployments/{flow_name}/{name}/runs", FlowRun, WRITE, True,
        request=DeploymentRunCreate,
    ),
    # -- work queues (create is an upsert; reading a queue's runs claims none)
    _op("create_work_queue", "POST", "/work_queues", WorkQueue, ADMIN, True, request=WorkQueueCreate),
    _op("read_work_queue", "GET", "/work_queues/{name}", WorkQueue, READ, True),
    _op("list_work_queues", "GET", "/work_queues", list[WorkQueue], READ, True),
    _op("update_work_queue", "PATCH", "/work_queues/{name}", WorkQueue, ADMIN, True, request=WorkQueueUpdate),
    _op("get_work_queue_runs", "POST", "/work_queues/{name}/get_runs", list[FlowRun], WRITE, True),
    # -- events (runs are keyed by the event's id: a repeated delivery makes no second run)
    _op("create_event", "POST", "/events", EventResult, WRITE, True, request=EventCreate),
)
# fmt: on

OPS: Mapping[str, Operation] = {op.name: op for op in OPERATIONS}

# Client methods served by more than one operation (the method's arguments choose which).
COMPOSITE: Mapping[str, tuple[str, ...]] = {
    "set_deployment_schedule_paused": ("pause_deployment_schedule", "resume_deployment_schedule"),
}

__all__ = ["COMPOSITE", "OPERATIONS", "OPS", "Operation"]
