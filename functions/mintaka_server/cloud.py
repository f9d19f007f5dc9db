"""Wiring the cloud path from settings: the store, the deployment service with its schedule sync
(EventBridge Scheduler) and run dispatcher (SQS), the work queues, the Fargate launcher and the
run worker. The trigger, worker and events handlers share one `Cloud` per Lambda container,
built on first use (`get_cloud()`); the API's container asks `build_deployment_service` for
the same deployment service over its own orchestration service.

With no cloud settings (no `MINTAKA_SCHEDULE_GROUP`, `MINTAKA_WORK_QUEUES=embedded`) this is the
plain embedded setup: no sync, no dispatch, the store's due runs are the queue. AWS clients and
their libraries load only for what the settings turn on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mintaka.exceptions import MintakaError

from .config import build_store
from .server_settings import ServerSettings, get_server_settings

if TYPE_CHECKING:
    from mintaka_server.execution.fargate import FargateLauncher
    from mintaka_server.queues import WorkQueuePort
    from mintaka_server.scheduling.eventbridge import EventBridgeScheduleSync
    from mintaka_server.services import OrchestrationService
    from mintaka_server.services.deployments import DeploymentService, RunDispatcher
    from mintaka_server.services.run_worker import RunWorker
    from mintaka_server.storage import Store


class CloudMisconfigured(MintakaError):
    """Settings name part of a cloud resource but not all of it."""


def build_schedule_sync(settings: ServerSettings) -> EventBridgeScheduleSync | None:
    if not settings.schedule_group:
        return None
    if not (settings.trigger_function_arn and settings.scheduler_role_arn):
        raise CloudMisconfigured(
            "MINTAKA_SCHEDULE_GROUP needs MINTAKA_TRIGGER_FUNCTION_ARN and MINTAKA_SCHEDULER_ROLE_ARN too"
        )
    from mintaka._aws import aws_client

    from .scheduling.eventbridge import EventBridgeScheduleSync

    return EventBridgeScheduleSync(
        aws_client("scheduler", settings.aws_region, settings.aws_endpoint_url),
        group=settings.schedule_group,
        target_arn=settings.trigger_function_arn,
        role_arn=settings.scheduler_role_arn,
    )


def build_work_queues(settings: ServerSettings, store: Store) -> WorkQueuePort:
    if settings.work_queues == "embedded":
        from .queues import EmbeddedWorkQueues

        return EmbeddedWorkQueues(store)
    from mintaka._aws import aws_client

    from .queues.sqs import SqsWorkQueues

    return SqsWorkQueues(
        aws_client("sqs", settings.aws_region, settings.aws_endpoint_url), prefix=settings.queue_prefix
    )


def build_dispatcher(queues: WorkQueuePort) -> RunDispatcher | None:
    """SQS needs every created run sent; the embedded queue *is* the store, so it needs nothing."""
    from .queues.embedded import EmbeddedWorkQueues

    return None if isinstance(queues, EmbeddedWorkQueues) else queues


def build_launcher(settings: ServerSettings) -> FargateLauncher | None:
    if not (settings.ecs_cluster and settings.ecs_task_definition):
        return None
    from mintaka._aws import aws_client

    from .execution.fargate import FargateLauncher

    return FargateLauncher(
        aws_client("ecs", settings.aws_region, settings.aws_endpoint_url),
        cluster=settings.ecs_cluster,
        task_definition=settings.ecs_task_definition,
        subnets=settings.ecs_subnet_ids,
        security_groups=settings.ecs_security_group_ids,
        container_name=settings.ecs_container_name,
        assign_public_ip=settings.ecs_assign_public_ip,
    )


def build_deployment_service(
    orchestration: OrchestrationService, settings: ServerSettings | None = None, queues: WorkQueuePort | None = None
) -> DeploymentService:
    """Deployments with the schedule sync and run dispatcher the settings turn on."""
    from .services.deployments import DeploymentService

    settings = settings or get_server_settings()
    queues = queues or build_work_queues(settings, orchestration.store)
    return DeploymentService(
        orchestration, schedule_sync=build_schedule_sync(settings), dispatcher=build_dispatcher(queues)
    )


@dataclass
class Cloud:
    settings: ServerSettings
    store: Store
    orchestration: OrchestrationService
    queues: WorkQueuePort
    deployments: DeploymentService
    worker: RunWorker

    def deployments_at(self, instant: dt.datetime) -> DeploymentService:
        """The deployment service with its clock stopped at `instant` (a Scheduler tick's time)."""
        from .services.deployments import DeploymentService

        return DeploymentService(
            self.orchestration,
            schedule_sync=self.deployments.schedule_sync,
            dispatcher=self.deployments.dispatcher,
            clock=lambda: instant,
        )

    def close(self) -> None:
        self.store.close()


def build_cloud(settings: ServerSettings | None = None, store: Store | None = None) -> Cloud:
    from .services import OrchestrationService
    from .services.run_worker import RunWorker

    settings = settings or get_server_settings()
    store = store or build_store(settings)
    orchestration = OrchestrationService(store)
    queues = build_work_queues(settings, store)
    deployments = build_deployment_service(orchestration, settings, queues)
    worker = RunWorker(deployments, queues, launcher=build_launcher(settings))
    return Cloud(settings, store, orchestration, queues, deployments, worker)


_cloud: Cloud | None = None


def get_cloud() -> Cloud:
    """This container's cloud services, built on first use."""
    global _cloud
    if _cloud is None:
        _cloud = build_cloud()
    return _cloud


def set_cloud(cloud: Cloud | None) -> Cloud | None:
    """Replace this process's cloud services (tests); returns the previous ones."""
    global _cloud
    previous, _cloud = _cloud, cloud
    return previous


def reset_cloud() -> None:
    cloud = set_cloud(None)
    if cloud is not None:
        cloud.close()
