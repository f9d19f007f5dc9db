"""Lambda event shapes → plain values: the EventBridge Scheduler payload the trigger gets, and the
EventBridge / SQS events the events function gets. Pure parsing, no services."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from mintaka_core.deployment_schemas import EventCreate
from mintaka_core.exceptions import InvalidRequest
from mintaka_core.states import utcnow

SQS_DETAIL_TYPE = "SQS Message"


@dataclass(frozen=True)
class TriggerRequest:
    scheduled_time: dt.datetime
    deployment: str | None = None  # FLOW/NAME; None for an rrule tick
    schedule_index: int | None = None
    rrule_tick: bool = False
    attempt: int = 1  # Scheduler's attempt number: > 1 when an earlier invocation failed


def parse_trigger_event(event: dict[str, Any]) -> TriggerRequest:
    """The schedule's Input with Scheduler's context attributes filled in:
    `{"deployment": "etl/prod", "schedule_index": 0, "scheduled_time": "2024-05-01T09:00:00Z", …}`
    or `{"rrule_tick": true, "scheduled_time": "…"}`. Without a scheduled time (a manual
    invocation), now."""
    if not isinstance(event, dict):
        raise InvalidRequest(f"Trigger payload must be a JSON object, got {type(event).__name__}")
    when = _scheduled_time(event.get("scheduled_time"))
    attempt = _attempt(event.get("attempt"))
    if event.get("rrule_tick"):
        return TriggerRequest(scheduled_time=when, rrule_tick=True, attempt=attempt)
    deployment = event.get("deployment")
    if not isinstance(deployment, str) or "/" not in deployment:
        raise InvalidRequest(f"Trigger payload needs 'deployment': 'FLOW/NAME' or 'rrule_tick': true, got {event!r}")
    index = event.get("schedule_index")
    try:
        index = int(index) if index is not None else None
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"schedule_index must be an integer, got {index!r}") from exc
    return TriggerRequest(scheduled_time=when, deployment=deployment, schedule_index=index, attempt=attempt)


def _attempt(value: Any) -> int:
    """Scheduler's attempt number; 1 when absent or not a number (a manual invocation)."""
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1


def _scheduled_time(value: Any) -> dt.datetime:
    if value in (None, ""):
        return utcnow().replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"scheduled_time must be an ISO 8601 time, got {value!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def is_eventbridge_event(value: Any) -> bool:
    return isinstance(value, dict) and {"id", "source", "detail-type"} <= value.keys()


def event_from_eventbridge(event: dict[str, Any]) -> EventCreate:
    """An EventBridge event (rule target) as a Mintaka event; its `id` makes it idempotent."""
    detail = event.get("detail")
    return EventCreate(
        id=str(event["id"]),
        source=str(event["source"]),
        detail_type=event.get("detail-type"),
        detail=detail if isinstance(detail, dict) else {"value": detail},
        **({"time": _scheduled_time(event["time"])} if event.get("time") else {}),
    )


def event_from_sqs_record(record: dict[str, Any]) -> EventCreate:
    """An SQS message as a Mintaka event: an EventBridge event forwarded to SQS keeps its own id;
    any other message is identified by its `messageId`, from the queue's ARN, with its JSON body
    (or the raw text under `body`) as the detail."""
    body = record.get("body", "")
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        parsed = None
    if is_eventbridge_event(parsed):
        return event_from_eventbridge(parsed)
    sent = record.get("attributes", {}).get("SentTimestamp")
    return EventCreate(
        id=str(record["messageId"]),
        source=str(record.get("eventSourceARN") or "aws.sqs"),
        detail_type=SQS_DETAIL_TYPE,
        detail=parsed if isinstance(parsed, dict) else {"body": body},
        **({"time": dt.datetime.fromtimestamp(int(sent) / 1000, dt.UTC)} if sent else {}),
    )
