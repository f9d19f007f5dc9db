"""The part of the client interface for deployments, work queues and events."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod

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
from mintaka_core.schemas import FlowRun


class DeploymentClient(ABC):
    @abstractmethod
    def upsert_deployment(self, body: DeploymentCreate) -> Deployment:
        """Create or replace FLOW/NAME (its id and creation time survive a replace)."""

    @abstractmethod
    def read_deployment(self, flow_name: str, name: str) -> Deployment: ...

    @abstractmethod
    def list_deployments(self) -> list[Deployment]: ...

    @abstractmethod
    def delete_deployment(self, flow_name: str, name: str) -> None: ...

    @abstractmethod
    def set_deployment_schedule_paused(self, flow_name: str, name: str, paused: bool) -> Deployment: ...

    @abstractmethod
    def create_deployment_run(self, flow_name: str, name: str, body: DeploymentRunCreate) -> FlowRun:
        """A SCHEDULED run of the deployment (due now unless `scheduled_time`), on its work queue."""

    @abstractmethod
    def create_work_queue(self, body: WorkQueueCreate) -> WorkQueue: ...

    @abstractmethod
    def read_work_queue(self, name: str) -> WorkQueue: ...

    @abstractmethod
    def list_work_queues(self) -> list[WorkQueue]: ...

    @abstractmethod
    def update_work_queue(self, name: str, body: WorkQueueUpdate) -> WorkQueue: ...

    @abstractmethod
    def get_work_queue_runs(self, name: str, limit: int = 10) -> list[FlowRun]:
        """Due runs the queue releases now: none while paused, at most its free concurrency."""

    @abstractmethod
    def create_event(self, body: EventCreate) -> EventResult:
        """One run per deployment whose trigger matches (idempotent per event id)."""

    @abstractmethod
    def heartbeat_flow_run(self, run_id: uuid.UUID, interval: float | None = None) -> FlowRun:
        """Record that the run's executor is alive and beats every `interval` seconds (default:
        what the run declared): its lease is renewed. The answer carries the run's current state
        (a CANCELLING state tells the executor to stop)."""
