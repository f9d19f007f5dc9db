"""Provisioning a work queue's SQS queue: what `mintaka work-queue create NAME` does with the
operator's AWS credentials when `MINTAKA_WORK_QUEUES=sqs` (the template does the same for the
default queue). Never called while serving a request: the functions hold no right to create.

The queue gets a dead-letter queue and a redrive policy, SQS-managed encryption and 14 days of
retention (as in template.yaml), and, when `MINTAKA_WORKER_FUNCTION_ARN` names the worker
function, event source mappings from the queue and its DLQ to it with partial batch responses
(a dead-lettered run ends CRASHED). Idempotent: a queue or a
mapping that exists already is kept.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from mintaka._aws import ErrorMap, aws_client
from mintaka_core.exceptions import Conflict

from .port import WorkQueueUnavailable
from .sqs import DLQ_SUFFIX, SQS_ERRORS, sqs_queue_name

if TYPE_CHECKING:
    from mintaka_server.server_settings import ServerSettings

RETENTION_SECONDS = 1_209_600  # 14 days, the SQS maximum
LAMBDA_ERRORS = ErrorMap(
    "Lambda",
    {"ResourceConflictException": (Conflict, "Lambda: {message}")},  # the mapping exists
    default=(WorkQueueUnavailable, "Lambda: {code}: {message}"),
    unreachable=(WorkQueueUnavailable, "Lambda could not be reached: {message}"),
)


class SqsQueueProvisioner:
    def __init__(
        self,
        client: Any,
        prefix: str = "mintaka-",
        visibility_timeout: int = 5400,
        max_receive_count: int = 100,
        lambda_client: Any = None,
        worker_function_arn: str | None = None,
    ):
        self.client = client
        self.prefix = prefix
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.lambda_client = lambda_client
        self.worker_function_arn = worker_function_arn

    def create(self, work_queue: str) -> str:
        """Create the queue, its DLQ and the redrive policy (and the worker's event source
        mapping); returns the queue URL."""
        name = sqs_queue_name(self.prefix, work_queue)
        common = {"MessageRetentionPeriod": str(RETENTION_SECONDS), "SqsManagedSseEnabled": "true"}
        dlq = SQS_ERRORS.call(self.client.create_queue, QueueName=f"{name}{DLQ_SUFFIX}", Attributes=common)
        redrive = {"deadLetterTargetArn": self._arn(dlq["QueueUrl"]), "maxReceiveCount": str(self.max_receive_count)}
        attributes = {**common, "VisibilityTimeout": str(self.visibility_timeout), "RedrivePolicy": json.dumps(redrive)}
        url = SQS_ERRORS.call(self.client.create_queue, QueueName=name, Attributes=attributes)["QueueUrl"]
        if self.lambda_client is not None and self.worker_function_arn:
            for source in (url, dlq["QueueUrl"]):  # the DLQ's runs end CRASHED (RunWorker.dead_lettered)
                with contextlib.suppress(Conflict):  # already mapped
                    LAMBDA_ERRORS.call(
                        self.lambda_client.create_event_source_mapping,
                        EventSourceArn=self._arn(source),
                        FunctionName=self.worker_function_arn,
                        BatchSize=1,
                        FunctionResponseTypes=["ReportBatchItemFailures"],
                    )
        return url

    def _arn(self, url: str) -> str:
        response = SQS_ERRORS.call(self.client.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])
        return response["Attributes"]["QueueArn"]


def build_provisioner(settings: ServerSettings) -> SqsQueueProvisioner | None:
    """The provisioner the settings call for (None: the embedded queue needs none)."""
    if settings.work_queues != "sqs":
        return None

    region, endpoint = settings.aws_region, settings.aws_endpoint_url
    return SqsQueueProvisioner(
        aws_client("sqs", region, endpoint),
        prefix=settings.queue_prefix,
        visibility_timeout=settings.queue_visibility_timeout,
        max_receive_count=settings.queue_max_receive_count,
        lambda_client=aws_client("lambda", region, endpoint) if settings.worker_function_arn else None,
        worker_function_arn=settings.worker_function_arn,
    )


def provision_work_queue(work_queue: str, settings: ServerSettings | None = None) -> str | None:
    """Create the work queue's SQS queue if the settings use SQS; its URL, or None."""
    from mintaka_server.server_settings import get_server_settings

    provisioner = build_provisioner(settings or get_server_settings())
    return provisioner.create(work_queue) if provisioner is not None else None
