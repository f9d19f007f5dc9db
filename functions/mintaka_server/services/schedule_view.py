"""A deployment's schedules as the dashboard shows them: in words with their time zone, the next
fire times, and the runs already scheduled."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from mintaka_core.deployment_schemas import Deployment
from mintaka_core.schedules import CronSchedule, IntervalSchedule
from mintaka_core.schemas import FlowRun, FlowRunFilter
from mintaka_core.states import StateType
from mintaka_server.scheduling.fire_times import fire_times
from mintaka_server.storage import RunStore

SHOWN = 5
SCHEDULED_READ = 200  # scheduled runs of the deployment read to find the next ones


class ScheduleDescription(BaseModel):
    type: str
    description: str = Field(description="In words, with its time zone")
    timezone: str
    active: bool


class DeploymentSchedule(BaseModel):
    paused: bool = Field(description="The deployment's schedules are paused: no new runs are scheduled")
    schedules: list[ScheduleDescription]
    next_fire_times: list[dt.datetime] = Field(description=f"The next {SHOWN} times its active schedules fire")
    next_runs: list[FlowRun] = Field(description=f"Its next {SHOWN} SCHEDULED runs, earliest due first")


def _seconds_in_words(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}s" if n != 1 else unit
    return f"{seconds:g} seconds" if seconds != 1 else "second"


def describe(schedule) -> str:
    """A schedule in words, e.g. 'At 09:00 AM, Monday through Friday (Europe/Berlin)'."""
    if isinstance(schedule, CronSchedule):
        try:
            from cron_descriptor import Options, get_description

            options = Options()
            options.use_24hour_time_format = True
            text = get_description(schedule.cron, options)
        except Exception:  # an expression croniter accepts but the describer cannot word
            text = f"cron {schedule.cron}"
    elif isinstance(schedule, IntervalSchedule):
        text = f"Every {_seconds_in_words(schedule.interval_seconds)}"
        if schedule.anchor_date is not None:
            text += f" from {schedule.anchor_date.isoformat()}"
    else:
        text = f"RRULE {schedule.rrule}"
    return f"{text} ({schedule.timezone})"


def deployment_schedule(store: RunStore, deployment: Deployment, now: dt.datetime) -> DeploymentSchedule:
    active = [s for s in deployment.schedules if s.active]
    upcoming = sorted({t for s in active for t in fire_times(s, now, limit=SHOWN)})[:SHOWN]
    scheduled = store.list_flow_runs(
        FlowRunFilter(deployment_name=deployment.full_name, state_type=StateType.SCHEDULED, limit=SCHEDULED_READ)
    ).items
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    scheduled.sort(key=lambda run: run.expected_start_time or far)
    return DeploymentSchedule(
        paused=deployment.schedule_paused,
        schedules=[
            ScheduleDescription(type=s.type, description=describe(s), timezone=s.timezone, active=s.active)
            for s in deployment.schedules
        ],
        next_fire_times=[] if deployment.schedule_paused else upcoming,
        next_runs=scheduled[:SHOWN],
    )
