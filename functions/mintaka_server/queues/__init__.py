"""Work queues: the port, the embedded adapter (the store's due runs) and the SQS adapter.

The SQS adapter imports botocore only when it is used (`from mintaka_server.queues.sqs import …`)."""

from .embedded import EmbeddedWorkQueues
from .port import (
    DEFAULT_QUEUE,
    QueuedRun,
    WorkQueuePort,
    WorkQueueUnavailable,
    decode_message,
    due_time,
    encode_message,
    seconds_until_due,
)

__all__ = [
    "DEFAULT_QUEUE",
    "EmbeddedWorkQueues",
    "QueuedRun",
    "WorkQueuePort",
    "WorkQueueUnavailable",
    "decode_message",
    "due_time",
    "encode_message",
    "seconds_until_due",
]
