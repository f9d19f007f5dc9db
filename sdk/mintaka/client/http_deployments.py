"""The deployment half of the HTTP transport: deployments, work queues, events, heartbeats.

A mixin of `HttpTransport`: it reuses the transport's `_call` (the operation table's method,
path and retry safety; retries, error mapping), so errors here are translated exactly as
everywhere else in the client.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from mintaka.deployment_schemas import (
    Deployment,
    DeploymentCreate,
    DeploymentRunCreate,
    EventCreate,
    EventResult,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from mintaka.schemas import FlowRun

from .deployments import DeploymentClient

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

_DEPLOYMENTS = TypeAdapter(list[Deployment])
_QUEUES = TypeAdapter(list[WorkQueue])
_RUNS = TypeAdapter(list[FlowRun])


class HttpDeploymentMixin(DeploymentClient):
    if TYPE_CHECKING:  # provided by HttpTransport

        def _request(
            self,
            method: str,
            path: str,
            *,
            body: BaseModel | bytes | None = None,
            params: dict[str, Any] | None = None,
            idempotent: bool,
        ) -> httpx.Response: ...

        def _call(
            self,
            operation: str,
            body: Any = None,
            *,
            params: dict[str, Any] | None = None,
            idempotent: bool | None = None,
            **path: Any,
        ) -> httpx.Response: ...

    # -- deployments
    def upsert_deployment(self, body: DeploymentCreate) -> Deployment:
        return Deployment.model_validate_json(self._call("upsert_deployment", body).content)

    def read_deployment(self, flow_name: str, name: str) -> Deployment:
        response = self._call("read_deployment", flow_name=flow_name, name=name)
        return Deployment.model_validate_json(response.content)

    def list_deployments(self) -> list[Deployment]:
        return _DEPLOYMENTS.validate_json(self._call("list_deployments").content)

    def delete_deployment(self, flow_name: str, name: str) -> None:
        self._call("delete_deployment", flow_name=flow_name, name=name)

    def set_deployment_schedule_paused(self, flow_name: str, name: str, paused: bool) -> Deployment:
        operation = "pause_deployment_schedule" if paused else "resume_deployment_schedule"
        response = self._call(operation, flow_name=flow_name, name=name)
        return Deployment.model_validate_json(response.content)

    def create_deployment_run(self, flow_name: str, name: str, body: DeploymentRunCreate) -> FlowRun:
        if body.idempotency_key is None:  # every attempt of this call carries the same key
            body = body.model_copy(update={"idempotency_key": f"run:{uuid.uuid4().hex}"})
        response = self._call("create_deployment_run", body, flow_name=flow_name, name=name)
        return FlowRun.model_validate_json(response.content)

    # -- work queues
    def create_work_queue(self, body: WorkQueueCreate) -> WorkQueue:
        return WorkQueue.model_validate_json(self._call("create_work_queue", body).content)

    def read_work_queue(self, name: str) -> WorkQueue:
        return WorkQueue.model_validate_json(self._call("read_work_queue", name=name).content)

    def list_work_queues(self) -> list[WorkQueue]:
        return _QUEUES.validate_json(self._call("list_work_queues").content)

    def update_work_queue(self, name: str, body: WorkQueueUpdate) -> WorkQueue:
        payload = body.model_dump_json(exclude_unset=True).encode()  # only the fields set
        response = self._call("update_work_queue", payload, name=name)
        return WorkQueue.model_validate_json(response.content)

    def get_work_queue_runs(self, name: str, limit: int = 10) -> list[FlowRun]:
        # Reading the queue claims nothing (a worker claims a run by proposing PENDING): safe to retry.
        response = self._call("get_work_queue_runs", params={"limit": limit}, name=name)
        return _RUNS.validate_json(response.content)

    # -- events and heartbeats
    def create_event(self, body: EventCreate) -> EventResult:
        return EventResult.model_validate_json(self._call("create_event", body).content)

    def heartbeat_flow_run(self, run_id: uuid.UUID, interval: float | None = None) -> FlowRun:
        params = {"interval": interval} if interval is not None else None
        response = self._call("heartbeat_flow_run", params=params, run_id=run_id)
        return FlowRun.model_validate_json(response.content)
