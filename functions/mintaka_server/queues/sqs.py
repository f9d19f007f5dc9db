"""The SQS work queue: one SQS queue per work queue, each with a dead-letter queue.

Queue names are `<prefix><work queue>` (`mintaka-default`), the DLQ's `<…>-dlq`; a name SQS
would refuse is made safe and suffixed with a hash. A queue missing when a run is sent is
created with its DLQ and redrive policy (and, when a worker function is configured, an event
source mapping to it with partial batch responses); the template creates the default one.

Messages carry `{"flow_run_id", "work_queue", "due"}`. A run due within 15 minutes is sent with
`DelaySeconds` so it arrives on time; a later one arrives after 15 minutes and consumers hold it
back (`release` = ChangeMessageVisibility) until it is due. The Lambda worker gets messages from
its event source; `message_from_record` turns such a record into a `QueuedRun` so it can be
released the same way.

SQS errors become Mintaka errors in `_call` and nowhere else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable
from typing import Any

from mintaka.exceptions import Conflict, ObjectNotFound
from mintaka.schemas import FlowRun
from mintaka.states import utcnow
from mintaka_server._aws import error_code

from .port import (
    QueuedRun,
    WorkQueuePort,
    WorkQueueUnavailable,
    decode_message,
    due_time,
    encode_message,
    seconds_until_due,
    work_queue_of,
)

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit
MAX_VISIBILITY_SECONDS = 43_200  # SQS visibility limit (12 h)
RETENTION_SECONDS = 1_209_600  # 14 days, the SQS maximum
NAME_LIMIT = 80
DLQ_SUFFIX = "-dlq"
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
NOT_FOUND_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
GONE_CODES = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"})
CONFLICT_CODES = frozenset({"ResourceConflictException"})  # Lambda: the event source mapping exists


class WorkQueueMissing(ObjectNotFound):
    """No SQS queue for this work queue."""


class MessageGone(Conflict):
    """The message's receipt no longer applies (deleted, or no longer in flight)."""


def sqs_queue_name(prefix: str, work_queue: str) -> str:
    """`prefix + work_queue`, or a safe slug plus a hash when SQS would refuse that name."""
    name = f"{prefix}{work_queue}"
    if _SAFE.match(name) and len(name) <= NAME_LIMIT - len(DLQ_SUFFIX):
        return name
    digest = hashlib.sha256(work_queue.encode()).hexdigest()[:10]
    room = NAME_LIMIT - len(DLQ_SUFFIX) - len(digest) - 1
    return f"{_UNSAFE.sub('-', name)[:room]}-{digest}"


class SqsWorkQueues(WorkQueuePort):
    def __init__(
        self,
        client: Any,
        prefix: str = "mintaka-",
        visibility_timeout: int = 5400,
        max_receive_count: int = 100,
        create_missing: bool = True,
        lambda_client: Any = None,
        worker_function_arn: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.client = client
        self.prefix = prefix
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.create_missing = create_missing
        self.lambda_client = lambda_client
        self.worker_function_arn = worker_function_arn
        self.clock = clock
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- the port
    def send(self, run: FlowRun) -> None:
        url = self.queue_url(work_queue_of(run), create=self.create_missing)
        delay = min(math.ceil(seconds_until_due(due_time(run), self.clock())), MAX_DELAY_SECONDS)
        self._call(self.client.send_message, QueueUrl=url, MessageBody=encode_message(run), DelaySeconds=delay)

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout: float = 30.0) -> list[QueuedRun]:
        try:
            url = self.queue_url(queue, create=False)
        except WorkQueueMissing:
            return []
        out: list[QueuedRun] = []
        while len(out) < max_messages:
            response = self._call(
                self.client.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=min(max_messages - len(out), 10),
                VisibilityTimeout=math.ceil(visibility_timeout),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for raw in messages:
                message = self._message(raw["Body"], raw["ReceiptHandle"], raw.get("Attributes", {}), url, queue)
                wait = seconds_until_due(message.due, self.clock())
                if wait:  # arrived early (due beyond the 15-minute delay): hold it back
                    self.release(message, wait)
                else:
                    out.append(message)
        return out

    def ack(self, message: QueuedRun) -> None:
        with contextlib.suppress(MessageGone):  # already deleted: acking is idempotent
            self._call(self.client.delete_message, QueueUrl=message.source, ReceiptHandle=message.receipt)

    def release(self, message: QueuedRun, delay: float = 0.0) -> None:
        timeout = min(max(math.ceil(delay), 0), MAX_VISIBILITY_SECONDS)
        with contextlib.suppress(MessageGone):  # no longer in flight: it is visible again already
            self._call(
                self.client.change_message_visibility,
                QueueUrl=message.source,
                ReceiptHandle=message.receipt,
                VisibilityTimeout=timeout,
            )

    # -- Lambda event source records
    def message_from_record(self, record: dict[str, Any]) -> QueuedRun:
        """A Lambda SQS event record as a `QueuedRun` of the queue it came from."""
        queue_arn = record["eventSourceARN"]
        url = self._url_for_arn(queue_arn)
        return self._message(record["body"], record["receiptHandle"], record.get("attributes", {}), url, None)

    # -- queues
    def queue_url(self, work_queue: str, create: bool = False) -> str:
        name = sqs_queue_name(self.prefix, work_queue)
        with self._lock:
            if name in self._urls:
                return self._urls[name]
        try:
            url = self._call(self.client.get_queue_url, QueueName=name)["QueueUrl"]
        except WorkQueueMissing:
            if not create:
                raise
            url = self.ensure_queue(work_queue)
        with self._lock:
            self._urls[name] = url
        return url

    def ensure_queue(self, work_queue: str) -> str:
        """Create the queue, its DLQ and the redrive policy (idempotent); returns the queue URL."""
        name = sqs_queue_name(self.prefix, work_queue)
        retention = {"MessageRetentionPeriod": str(RETENTION_SECONDS)}
        dlq = self._call(self.client.create_queue, QueueName=f"{name}{DLQ_SUFFIX}", Attributes=retention)
        dlq_arn = self._arn(dlq["QueueUrl"])
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(self.max_receive_count)}
        attributes = {
            **retention,
            "VisibilityTimeout": str(self.visibility_timeout),
            "RedrivePolicy": json.dumps(redrive),
        }
        url = self._call(self.client.create_queue, QueueName=name, Attributes=attributes)["QueueUrl"]
        if self.lambda_client is not None and self.worker_function_arn:
            self._map_to_worker(self._arn(url))
        return url

    def dead_letter_url(self, work_queue: str) -> str:
        name = sqs_queue_name(self.prefix, work_queue) + DLQ_SUFFIX
        return self._call(self.client.get_queue_url, QueueName=name)["QueueUrl"]

    # -- helpers
    def _message(self, body: str, receipt: str, attributes: dict[str, Any], url: str, queue: str | None) -> QueuedRun:
        run_id, work_queue, due = decode_message(body)
        return QueuedRun(
            flow_run_id=run_id,
            work_queue=work_queue or queue or "",
            due=due,
            receipt=receipt,
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            source=url,
        )

    def _arn(self, url: str) -> str:
        response = self._call(self.client.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])
        return response["Attributes"]["QueueArn"]

    def _url_for_arn(self, arn: str) -> str:
        """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue URL (cached)."""
        with self._lock:
            if arn in self._urls:
                return self._urls[arn]
        parts = arn.split(":")
        account, name = parts[4], parts[5]
        url = self._call(self.client.get_queue_url, QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        with self._lock:
            self._urls[arn] = url
        return url

    def _map_to_worker(self, queue_arn: str) -> None:
        with contextlib.suppress(Conflict):  # already mapped
            self._call(
                self.lambda_client.create_event_source_mapping,
                EventSourceArn=queue_arn,
                FunctionName=self.worker_function_arn,
                BatchSize=1,
                FunctionResponseTypes=["ReportBatchItemFailures"],
            )

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        """The one place SQS (and event-source-mapping) errors become Mintaka errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code in NOT_FOUND_CODES:
                raise WorkQueueMissing(
                    f"SQS queue {kwargs.get('QueueName') or kwargs.get('QueueUrl')}: {message}"
                ) from exc
            if code in GONE_CODES and "ReceiptHandle" in kwargs:
                raise MessageGone(f"SQS message: {message}") from exc
            if code in CONFLICT_CODES:
                raise Conflict(f"{code}: {message}") from exc
            raise WorkQueueUnavailable(f"SQS: {code or 'error'}: {message}") from exc
        except BotoCoreError as exc:
            raise WorkQueueUnavailable(f"SQS could not be reached: {exc}") from exc
