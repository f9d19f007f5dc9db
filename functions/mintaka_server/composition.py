"""The composition root: `build(settings)` makes the store, the work queues, the launcher and
every service from one `ServerSettings`, the same way for each entry point: the app factory,
`mintaka server start`, the embedded transport, and the Lambda functions (the API, trigger,
worker and events handlers share one `Services` per container, `get_services()`).

What the settings turn on, and nothing else, is built: EventBridge Scheduler sync with
`MINTAKA_SCHEDULE_GROUP`, SQS work queues with `MINTAKA_WORK_QUEUES=sqs` (else the store's due
runs are the queue, and nothing is dispatched), the Fargate launcher with `MINTAKA_ECS_CLUSTER`
and `MINTAKA_ECS_TASK_DEFINITION`. AWS clients and their libraries load only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mintaka.settings import SERVER_FIELDS
from mintaka_core.exceptions import MintakaError

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


@dataclass
class Services:
    """Everything one process (or Lambda container) serves with."""

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


def embedded_settings() -> ServerSettings:
    """This process's settings with the server's at their defaults, whatever the environment
    says: SQLite at `MINTAKA_DATABASE`/`MINTAKA_HOME`, the store as the queue, no cloud."""

    defaults = {name: ServerSettings.model_fields[name].default for name in SERVER_FIELDS}
    return get_server_settings().model_copy(update=defaults)


def build(
    settings: ServerSettings | None = None,
    store: Store | None = None,
    *,
    clock: Callable[[], dt.datetime] | None = None,
) -> Services:
    """The services `settings` describe (default: the environment's), over `store` if given
    (it stays the caller's to close only if the caller keeps it out of `Services.close`)."""
    from .execution.in_process import execute_in_process  # loads the SDK's engine: only for a worker
    from .services import OrchestrationService
    from .services.deployments import DeploymentService
    from .services.run_worker import RunWorker

    settings = settings or get_server_settings()
    store = store or build_store(settings)
    orchestration = OrchestrationService(store, clock=clock) if clock else OrchestrationService(store)
    if settings.results_bucket:  # the deployment's bucket, unless the operator set a result storage
        orchestration.default_result_storage = f"s3://{settings.results_bucket}/results"
    queues = build_work_queues(settings, store)
    deployments = DeploymentService(
        orchestration, schedule_sync=build_schedule_sync(settings), dispatcher=build_dispatcher(queues)
    )
    worker = RunWorker(deployments, queues, execute=execute_in_process, launcher=build_launcher(settings))
    return Services(settings, store, orchestration, queues, deployments, worker)


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
        dead_letter_arn=settings.scheduler_dlq_arn,
    )


def build_work_queues(settings: ServerSettings, store: Store) -> WorkQueuePort:
    if settings.work_queues == "embedded":
        from .queues import EmbeddedWorkQueues

        return EmbeddedWorkQueues(store)
    from mintaka._aws import aws_client

    from .queues.sqs import SqsWorkQueues

    client = aws_client("sqs", settings.aws_region, settings.aws_endpoint_url)
    return SqsWorkQueues(client, prefix=settings.queue_prefix)


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


# -- one `Services` per Lambda container ------------------------------------------------------

_services: Services | None = None


def get_services() -> Services:
    """This container's services, built from the environment on first use."""
    global _services
    if _services is None:
        _services = build()
    return _services


def set_services(services: Services | None) -> Services | None:
    """Replace this process's services (tests); returns the previous ones."""
    global _services
    previous, _services = _services, services
    return previous


def reset_services() -> None:
    services = set_services(None)
    if services is not None:
        services.close()
