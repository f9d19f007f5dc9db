"""The work-queue port: how created flow runs travel to whatever executes them.

A message is a flow run id (plus its work queue and due time, so a consumer can hold it back
without a read). Delivery is at least once: a consumer *claims* the run through the rules
(PENDING; a REJECT means someone else has it) and then acks the message; `release` hands a
message back to the queue after `delay` seconds (paused queue, full queue, not due yet).

Contract, for every adapter (tests/contract/test_queue_contract.py):
- a sent run is received from its own work queue only, once it is due;
- a received message is invisible to other receivers until released or its visibility ends;
- an acked message is not received again; a released one is, after its delay, with a
  higher `receive_count`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

from mintaka_core.exceptions import InvalidRequest, MintakaError
from mintaka_core.schemas import FlowRun
from mintaka_core.vocabulary import DEFAULT_QUEUE

DUE_TOLERANCE_SECONDS = 1.0  # a run due this soon counts as due (the rules wait out the rest)


class WorkQueueUnavailable(MintakaError):
    """The queue service could not be reached or refused (retrying later may work)."""


@dataclass(frozen=True)
class QueuedRun:
    """One delivery of a flow run from a work queue."""

    flow_run_id: uuid.UUID
    work_queue: str
    due: dt.datetime | None
    receipt: str  # what `ack`/`release` need (SQS: the receipt handle)
    receive_count: int = 1
    source: str = ""  # the adapter's queue reference (SQS: the queue URL)


class WorkQueuePort(ABC):
    @abstractmethod
    def send(self, run: FlowRun) -> None:
        """Enqueue the run on its work queue, delivered once it is due."""

    @abstractmethod
    def receive(self, queue: str, max_messages: int = 10, visibility_timeout: float = 30.0) -> list[QueuedRun]:
        """Up to `max_messages` due runs, hidden from other receivers for `visibility_timeout` s."""

    @abstractmethod
    def ack(self, message: QueuedRun) -> None:
        """Done with it: never delivered again."""

    @abstractmethod
    def release(self, message: QueuedRun, delay: float = 0.0) -> None:
        """Deliver it again after `delay` seconds."""

    def dispatch(self, run: FlowRun) -> None:
        """`RunDispatcher` for `DeploymentService`: a created run goes to its queue."""
        self.send(run)

    def check_queue(self, work_queue: str) -> None:
        """Raise if runs cannot be sent to `work_queue` (not provisioned); the embedded queue always can."""
        return None


def work_queue_of(run: FlowRun) -> str:
    return run.work_queue_name or DEFAULT_QUEUE


def due_time(run: FlowRun) -> dt.datetime | None:
    """When a SCHEDULED run may start."""
    if run.state is not None and run.state.state_details.scheduled_time is not None:
        return run.state.state_details.scheduled_time
    return run.expected_start_time


def seconds_until_due(due: dt.datetime | None, now: dt.datetime) -> float:
    """0 if due (within the tolerance), else how long to hold the message back."""
    if due is None:
        return 0.0
    wait = (due - now).total_seconds()
    return 0.0 if wait <= DUE_TOLERANCE_SECONDS else wait


def encode_message(run: FlowRun) -> str:
    due = due_time(run)
    return json.dumps(
        {"flow_run_id": str(run.id), "work_queue": work_queue_of(run), "due": due.isoformat() if due else None}
    )


def decode_message(body: str) -> tuple[uuid.UUID, str | None, dt.datetime | None]:
    """(run id, work queue, due) from a message body: our JSON, or a bare run id."""
    text = body.strip()
    try:
        if not text.startswith("{"):
            return uuid.UUID(text.strip('"')), None, None
        data = json.loads(text)
        due = dt.datetime.fromisoformat(data["due"]) if data.get("due") else None
        return uuid.UUID(str(data["flow_run_id"])), data.get("work_queue"), due
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidRequest(f"Not a flow run message: {body[:200]!r}") from exc
