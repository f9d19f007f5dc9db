"""The deployment half of the HTTP transport: deployments, work queues, events, heartbeats.

A mixin of `HttpTransport`: it reuses the transport's `_request` (retries, error mapping), so
errors here are translated exactly as everywhere else in the client.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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


def _seg(value: str) -> str:
    return quote(value, safe="")


def _deployment_path(flow_name: str, name: str) -> str:
    return f"deployments/{_seg(flow_name)}/{_seg(name)}"


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

    # -- deployments
    def upsert_deployment(self, body: DeploymentCreate) -> Deployment:
        response = self._request("POST", "deployments", body=body, idempotent=True)  # an upsert
        return Deployment.model_validate_json(response.content)

    def read_deployment(self, flow_name: str, name: str) -> Deployment:
        response = self._request("GET", _deployment_path(flow_name, name), idempotent=True)
        return Deployment.model_validate_json(response.content)

    def list_deployments(self) -> list[Deployment]:
        return _DEPLOYMENTS.validate_json(self._request("GET", "deployments", idempotent=True).content)

    def delete_deployment(self, flow_name: str, name: str) -> None:
        self._request("DELETE", _deployment_path(flow_name, name), idempotent=False)

    def set_deployment_schedule_paused(self, flow_name: str, name: str, paused: bool) -> Deployment:
        action = "pause_schedule" if paused else "resume_schedule"
        response = self._request("POST", f"{_deployment_path(flow_name, name)}/{action}", idempotent=True)
        return Deployment.model_validate_json(response.content)

    def create_deployment_run(self, flow_name: str, name: str, body: DeploymentRunCreate) -> FlowRun:
        if body.idempotency_key is None:  # every attempt of this call carries the same key
            body = body.model_copy(update={"idempotency_key": f"run:{uuid.uuid4().hex}"})
        response = self._request("POST", f"{_deployment_path(flow_name, name)}/runs", body=body, idempotent=True)
        return FlowRun.model_validate_json(response.content)

    # -- work queues
    def create_work_queue(self, body: WorkQueueCreate) -> WorkQueue:
        response = self._request("POST", "work_queues", body=body, idempotent=True)  # an upsert
        return WorkQueue.model_validate_json(response.content)

    def read_work_queue(self, name: str) -> WorkQueue:
        return WorkQueue.model_validate_json(self._request("GET", f"work_queues/{_seg(name)}", idempotent=True).content)

    def list_work_queues(self) -> list[WorkQueue]:
        return _QUEUES.validate_json(self._request("GET", "work_queues", idempotent=True).content)

    def update_work_queue(self, name: str, body: WorkQueueUpdate) -> WorkQueue:
        payload = body.model_dump_json(exclude_unset=True).encode()  # only the fields set
        response = self._request("PATCH", f"work_queues/{_seg(name)}", body=payload, idempotent=True)
        return WorkQueue.model_validate_json(response.content)

    def get_work_queue_runs(self, name: str, limit: int = 10) -> list[FlowRun]:
        # Reading the queue claims nothing (a worker claims a run by proposing PENDING): safe to retry.
        response = self._request("POST", f"work_queues/{_seg(name)}/get_runs", params={"limit": limit}, idempotent=True)
        return _RUNS.validate_json(response.content)

    # -- events and heartbeats
    def create_event(self, body: EventCreate) -> EventResult:
        # Runs are keyed by the event's id: a repeated delivery makes no second run.
        return EventResult.model_validate_json(self._request("POST", "events", body=body, idempotent=True).content)

    def heartbeat_flow_run(self, run_id: uuid.UUID, interval: float | None = None) -> FlowRun:
        params = {"interval": interval} if interval is not None else None
        response = self._request("POST", f"flow_runs/{run_id}/heartbeat", params=params, idempotent=True)
        return FlowRun.model_validate_json(response.content)
