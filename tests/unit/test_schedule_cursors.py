"""Schedule cursors (pure): a tick plans only the fire times no tick has created, and a changed
schedule or a re-created deployment starts afresh."""

from __future__ import annotations

import datetime as dt
import uuid

from mintaka.deployment_schemas import Deployment
from mintaka_server.scheduling.cursors import plan_fires

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def deployment(cron: str = "* * * * *", id: uuid.UUID | None = None, **fields) -> Deployment:
    return Deployment(
        id=id or uuid.UUID(int=1),
        created=T0,
        updated=T0,
        flow_name="etl",
        name="prod",
        entrypoint="flows/etl.py:etl",
        storage={"type": "local", "url": "/srv/project"},
        schedules=[{"type": "cron", "cron": cron}],
        **fields,
    )


def minute(m: int) -> dt.datetime:
    return T0.replace(microsecond=0) + dt.timedelta(minutes=m)


def stored(plan) -> dict:
    return {**plan.cursor, "version": 1}


def test_ticks_plan_each_fire_time_once():
    d = deployment()
    first = plan_fires(d, None, T0, HOUR, max_runs=10)
    assert first.fires == [minute(m) for m in range(10)] and first.changed
    again = plan_fires(d, stored(first), T0 + dt.timedelta(seconds=0.4), HOUR, max_runs=10)
    assert again.fires == [] and not again.changed  # nothing new: no write either
    # 12:00 has passed: its slot ahead is free for 12:10, and only that is planned.
    later = plan_fires(d, stored(first), T0 + dt.timedelta(seconds=10), HOUR, max_runs=10)
    assert later.fires == [minute(10)]
    quiet = plan_fires(d, stored(later), T0 + dt.timedelta(seconds=50), HOUR, max_runs=10)
    assert quiet.fires == [] and not quiet.changed


def test_nothing_is_planned_past_the_horizon_and_the_next_fire_is_remembered():
    d = deployment("0 * * * *")  # hourly
    first = plan_fires(d, None, T0, dt.timedelta(minutes=10), max_runs=10)
    assert first.fires == [minute(0)]
    assert first.cursor["schedules"]["0"]["next"] == minute(60).isoformat()
    quiet = plan_fires(d, stored(first), T0 + dt.timedelta(minutes=5), dt.timedelta(minutes=10), max_runs=10)
    assert quiet.fires == [] and not quiet.changed


def test_a_changed_schedule_or_a_recreated_deployment_starts_afresh():
    first = plan_fires(deployment(), None, T0, HOUR, max_runs=3)
    assert first.fires == [minute(0), minute(1), minute(2)]
    changed = plan_fires(deployment("*/2 * * * *"), stored(first), T0, HOUR, max_runs=3)
    assert changed.fires == [minute(0), minute(2), minute(4)] and changed.changed
    recreated = plan_fires(deployment(id=uuid.UUID(int=2)), stored(first), T0, HOUR, max_runs=3)
    assert recreated.fires == [minute(0), minute(1), minute(2)]


def test_fire_times_missed_while_no_scheduler_ran_are_skipped_not_made_late():
    first = plan_fires(deployment(), None, T0, HOUR, max_runs=2)
    resumed = plan_fires(deployment(), stored(first), T0 + HOUR, HOUR, max_runs=2)
    assert resumed.fires == [minute(60), minute(61)]
