"""The EventBridge Scheduler adapter: deployment schedules mirrored as Scheduler schedules.

One Scheduler schedule per (deployment, schedule index) — two for a cron whose day fields
need cron's OR (see `expressions`) — in the schedule group from settings, named
`<readable deployment slug>-<hash of FLOW/NAME>-<index>` (≤ 64 characters, stable across
re-deploys, so a sync lists the deployment's schedules by name prefix). Each targets the
trigger function with the Input
`{"deployment": "FLOW/NAME", "schedule_index": i, "scheduled_time": "<aws.scheduler.scheduled-time>", ...}`
(Scheduler substitutes its context attributes); the trigger creates the run keyed by
(deployment, scheduled time). A paused deployment schedule or an inactive schedule is
DISABLED, not deleted, so resuming keeps its history.

`sync` converts every schedule before calling AWS, so an inexpressible one (a 90 s interval)
fails the deploy with a clear error and changes nothing. rrule schedules get no schedule here:
the template's `rate(1 minute)` schedule sends `{"rrule_tick": true}` to the trigger instead.

Scheduler errors become Mintaka errors through `SCHEDULER_ERRORS` (`mintaka._aws.ErrorMap`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from mintaka._aws import ErrorMap
from mintaka_core.deployment_schemas import Deployment
from mintaka_core.exceptions import Conflict, InvalidRequest, MintakaError, ObjectNotFound

from .expressions import eventbridge_expressions

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
ATTEMPT = "<aws.scheduler.attempt-number>"
NAME_LIMIT = 64
_SLUG_LENGTH = 40
_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")
# A tick created late is still worth a run within an hour; after that it is skipped, not late.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}


class SchedulerUnavailable(MintakaError):
    """EventBridge Scheduler could not be reached, or refused for a reason other than the request."""


SCHEDULER_ERRORS = ErrorMap(
    "EventBridge Scheduler",
    {
        "ResourceNotFoundException": (ObjectNotFound, "EventBridge Scheduler: {message}"),
        "ConflictException": (Conflict, "EventBridge Scheduler: {message}"),
        "ValidationException": (InvalidRequest, "EventBridge Scheduler refused the schedule: {message}"),
    },
    default=(SchedulerUnavailable, "EventBridge Scheduler: {code}: {message}"),
    unreachable=(SchedulerUnavailable, "EventBridge Scheduler could not be reached: {message}"),
)


def schedule_name_prefix(full_name: str) -> str:
    """`etl-prod-1a2b3c4d5e-`: readable, and unique per FLOW/NAME through the hash."""
    slug = _UNSAFE.sub("-", full_name).strip("-.")[:_SLUG_LENGTH] or "deployment"
    return f"{slug}-{hashlib.sha256(full_name.encode()).hexdigest()[:10]}-"


def schedule_name(full_name: str, index: int, part: int = 0) -> str:
    name = f"{schedule_name_prefix(full_name)}{index}" + (f".{part}" if part else "")
    assert len(name) <= NAME_LIMIT, name
    return name


def trigger_input(deployment: Deployment, index: int) -> dict[str, Any]:
    """The Input the trigger receives (Scheduler fills the `<aws.scheduler.*>` placeholders)."""
    return {
        "deployment": deployment.full_name,
        "deployment_id": str(deployment.id),
        "schedule_index": index,
        "scheduled_time": SCHEDULED_TIME,
        "execution_id": EXECUTION_ID,
        "attempt": ATTEMPT,
    }


class EventBridgeScheduleSync:
    """`ScheduleSync` for `DeploymentService`: create, update and delete Scheduler schedules."""

    def __init__(self, client: Any, group: str, target_arn: str, role_arn: str, dead_letter_arn: str | None = None):
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn

    # -- ScheduleSync
    def sync(self, deployment: Deployment) -> None:
        desired = self.desired_schedules(deployment)  # raises before any AWS call
        existing = self._names(schedule_name_prefix(deployment.full_name))
        for name, request in desired.items():
            if name in existing:
                self._upsert(self.client.update_schedule, self.client.create_schedule, request)
            else:
                self._upsert(self.client.create_schedule, self.client.update_schedule, request)
        for name in existing - desired.keys():
            self._delete(name)

    def check(self, deployment: Deployment) -> None:
        """Raise (a 4xx) if a schedule cannot be expressed in EventBridge Scheduler; no I/O."""
        self.desired_schedules(deployment)

    def remove(self, deployment: Deployment) -> None:
        for name in self._names(schedule_name_prefix(deployment.full_name)):
            self._delete(name)

    # -- what the schedules should be (no I/O)
    def desired_schedules(self, deployment: Deployment) -> dict[str, dict[str, Any]]:
        """Schedule name -> the create/update request."""
        desired: dict[str, dict[str, Any]] = {}
        for index, schedule in enumerate(deployment.schedules):
            expressions = eventbridge_expressions(schedule)
            enabled = schedule.active and not deployment.schedule_paused
            for part, expression in enumerate(expressions):
                name = schedule_name(deployment.full_name, index, part)
                desired[name] = {
                    "Name": name,
                    "GroupName": self.group,
                    "ScheduleExpression": expression,
                    "ScheduleExpressionTimezone": schedule.timezone,
                    "State": "ENABLED" if enabled else "DISABLED",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Description": f"Mintaka {deployment.full_name} schedule {index}: {_summary(schedule)}"[:512],
                    "ActionAfterCompletion": "NONE",
                    "Target": {
                        "Arn": self.target_arn,
                        "RoleArn": self.role_arn,
                        "Input": json.dumps(trigger_input(deployment, index)),
                        "RetryPolicy": RETRY_POLICY,
                        **({"DeadLetterConfig": {"Arn": self.dead_letter_arn}} if self.dead_letter_arn else {}),
                    },
                }
        return desired

    # -- setup (the template makes the group in the cloud; tests and local stacks call this)
    def ensure_group(self) -> None:
        with contextlib.suppress(Conflict):  # it exists
            SCHEDULER_ERRORS.call(self.client.create_schedule_group, Name=self.group)

    def get(self, name: str) -> dict[str, Any]:
        return SCHEDULER_ERRORS.call(self.client.get_schedule, Name=name, GroupName=self.group)

    # -- AWS calls
    def _names(self, prefix: str) -> set[str]:
        def collect() -> set[str]:
            pages = self.client.get_paginator("list_schedules").paginate(GroupName=self.group, NamePrefix=prefix)
            return {schedule["Name"] for page in pages for schedule in page.get("Schedules", [])}

        return SCHEDULER_ERRORS.call(collect)

    def _upsert(self, first: Callable[..., Any], fallback: Callable[..., Any], request: dict[str, Any]) -> None:
        """`first` (create or update); if the schedule appeared or vanished meanwhile, `fallback`."""
        try:
            SCHEDULER_ERRORS.call(first, **request)
        except (Conflict, ObjectNotFound):
            SCHEDULER_ERRORS.call(fallback, **request)

    def _delete(self, name: str) -> None:
        with contextlib.suppress(ObjectNotFound):  # already gone: deleting is idempotent
            SCHEDULER_ERRORS.call(self.client.delete_schedule, Name=name, GroupName=self.group)


def _summary(schedule: Any) -> str:
    if schedule.type == "cron":
        return f"cron {schedule.cron} ({schedule.timezone})"
    if schedule.type == "interval":
        return f"every {schedule.interval_seconds:g} s"
    return f"rrule {schedule.rrule}"
