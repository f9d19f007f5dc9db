"""The SQS work queue: one SQS queue per work queue, each with a dead-letter queue.

Queue names are `<prefix><work queue>` (`mintaka-default`), the DLQ's `<…>-dlq`; a name SQS
would refuse is made safe and suffixed with a hash. Queues are provisioned, never created here:
the template creates the default one and `mintaka work-queue create NAME` the others
(`sqs_provisioning`), so the functions that serve requests need no right to create anything. A
run sent to a work queue with no SQS queue is refused (`WorkQueueMissing`, a 409 through the
API) with the command that creates it.

Messages carry `{"flow_run_id", "work_queue", "due"}`. A run due within 15 minutes is sent with
`DelaySeconds` so it arrives on time; a later one arrives after 15 minutes and consumers hold it
back (`release` = ChangeMessageVisibility) until it is due. The Lambda worker gets messages from
its event source; `message_from_record` turns such a record into a `QueuedRun` so it can be
released the same way.

SQS errors become Mintaka errors through `SQS_ERRORS` (`mintaka._aws.ErrorMap`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import re
import threading
from collections.abc import Callable
from typing import Any

from mintaka._aws import ErrorMap
from mintaka_core.exceptions import Conflict
from mintaka_core.schemas import FlowRun
from mintaka_core.states import utcnow

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
NAME_LIMIT = 80
DLQ_SUFFIX = "-dlq"
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class WorkQueueMissing(Conflict):
    """No SQS queue for this work queue: it has not been provisioned."""


class MessageGone(Conflict):
    """The message's receipt no longer applies (deleted, or no longer in flight)."""


_MISSING = (
    WorkQueueMissing,
    "Work queue {work_queue!r} has no SQS queue ({QueueName}{QueueUrl}): create it with"
    " `mintaka work-queue create {work_queue}` (MINTAKA_WORK_QUEUES=sqs), or in template.yaml",
)
SQS_ERRORS = ErrorMap(
    "SQS",
    {"AWS.SimpleQueueService.NonExistentQueue": _MISSING, "QueueDoesNotExist": _MISSING},
    default=(WorkQueueUnavailable, "SQS: {code}: {message}"),
    unreachable=(WorkQueueUnavailable, "SQS could not be reached: {message}"),
)
_GONE = (MessageGone, "SQS message: {message}")
RECEIPT_ERRORS = SQS_ERRORS.extend(
    {"ReceiptHandleIsInvalid": _GONE, "MessageNotInflight": _GONE, "InvalidParameterValue": _GONE}
)


def sqs_queue_name(prefix: str, work_queue: str) -> str:
    """`prefix + work_queue`, or a safe slug plus a hash when SQS would refuse that name."""
    name = f"{prefix}{work_queue}"
    if _SAFE.match(name) and len(name) <= NAME_LIMIT - len(DLQ_SUFFIX):
        return name
    digest = hashlib.sha256(work_queue.encode()).hexdigest()[:10]
    room = NAME_LIMIT - len(DLQ_SUFFIX) - len(digest) - 1
    return f"{_UNSAFE.sub('-', name)[:room]}-{digest}"


def is_dead_letter_queue(queue_arn: str) -> bool:
    """A work queue's DLQ (`<…>-dlq`), which the worker function consumes too."""
    return queue_arn.rsplit(":", 1)[-1].endswith(DLQ_SUFFIX)


class SqsWorkQueues(WorkQueuePort):
    def __init__(
        self,
        client: Any,
        prefix: str = "mintaka-",
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- the port
    def send(self, run: FlowRun) -> None:
        url = self.queue_url(work_queue_of(run))
        delay = min(math.ceil(seconds_until_due(due_time(run), self.clock())), MAX_DELAY_SECONDS)
        SQS_ERRORS.call(self.client.send_message, QueueUrl=url, MessageBody=encode_message(run), DelaySeconds=delay)

    def check_queue(self, work_queue: str) -> None:
        """Raise `WorkQueueMissing` unless the work queue's SQS queue exists."""
        self.queue_url(work_queue)

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout: float = 30.0) -> list[QueuedRun]:
        try:
            url = self.queue_url(queue)
        except WorkQueueMissing:
            return []
        out: list[QueuedRun] = []
        while len(out) < max_messages:
            response = SQS_ERRORS.call(
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
            RECEIPT_ERRORS.call(self.client.delete_message, QueueUrl=message.source, ReceiptHandle=message.receipt)

    def release(self, message: QueuedRun, delay: float = 0.0) -> None:
        timeout = min(max(math.ceil(delay), 0), MAX_VISIBILITY_SECONDS)
        with contextlib.suppress(MessageGone):  # no longer in flight: it is visible again already
            RECEIPT_ERRORS.call(
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
    def queue_url(self, work_queue: str) -> str:
        """The URL of the work queue's SQS queue (cached); `WorkQueueMissing` if there is none."""
        name = sqs_queue_name(self.prefix, work_queue)
        with self._lock:
            if name in self._urls:
                return self._urls[name]
        with SQS_ERRORS.translating(work_queue=work_queue, QueueName=name):
            url = self.client.get_queue_url(QueueName=name)["QueueUrl"]
        with self._lock:
            self._urls[name] = url
        return url

    def dead_letter_url(self, work_queue: str) -> str:
        name = sqs_queue_name(self.prefix, work_queue) + DLQ_SUFFIX
        with SQS_ERRORS.translating(work_queue=work_queue, QueueName=name):
            return self.client.get_queue_url(QueueName=name)["QueueUrl"]

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

    def _url_for_arn(self, arn: str) -> str:
        """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue URL (cached)."""
        with self._lock:
            if arn in self._urls:
                return self._urls[arn]
        parts = arn.split(":")
        account, name = parts[4], parts[5]
        with SQS_ERRORS.translating(work_queue=name, QueueName=name):
            url = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        with self._lock:
            self._urls[arn] = url
        return url
