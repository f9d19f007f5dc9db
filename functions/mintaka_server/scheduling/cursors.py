"""Schedule cursors: which fire times already have their run. Pure functions, no I/O.

A deployment's cursor (one small versioned document per deployment) remembers, per schedule,
the last fire time whose run was created and the upcoming ones already created, so a tick
computes and creates only the new fire times: each fire time is attempted once, not on every
tick. An entry belongs to one version of one schedule (a signature of its definition) of one
deployment id: a changed schedule or a re-created deployment starts afresh from the tick's time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from mintaka_core.deployment_schemas import Deployment

from .fire_times import fire_times

# A tick also takes a fire time that passed during the last second, so none falls between ticks.
LOOK_BACK = dt.timedelta(seconds=1)


@dataclass
class CursorPlan:
    """What one tick does for one deployment: the fire times to create, and the cursor after them."""

    fires: list[dt.datetime] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    changed: bool = False


def signature(schedule: Any) -> str:
    return hashlib.sha256(schedule.model_dump_json().encode()).hexdigest()[:16]


def plan_fires(
    deployment: Deployment,
    cursor: dict[str, Any] | None,
    now: dt.datetime,
    horizon: dt.timedelta,
    max_runs: int,
    only_rrule: bool = False,
) -> CursorPlan:
    """The fire times in (now - 1 s, now + horizon] with no run yet, at most `max_runs` created
    ahead per schedule, and the cursor that records them. `changed` is False when there is
    nothing to create and the cursor stays as it is (no write)."""
    floor, until = now - LOOK_BACK, now + horizon
    same_deployment = cursor is not None and cursor.get("deployment_id") == str(deployment.id)
    old = cursor.get("schedules", {}) if same_deployment else {}
    entries: dict[str, dict[str, Any]] = {}
    plan = CursorPlan(changed=not same_deployment)
    for index, schedule in enumerate(deployment.schedules):
        key, sig = str(index), signature(schedule)
        entry = old.get(key) if old.get(key, {}).get("sig") == sig else None
        if not schedule.active or (only_rrule and schedule.type != "rrule"):
            if entry is not None:
                entries[key] = entry  # kept for when the schedule is active again
            continue
        if entry is None:
            plan.changed = True
            entry = {"sig": sig, "last": None, "ahead": [], "next": None}
        ahead = [fire for fire in entry["ahead"] if _at(fire) > floor]
        start = max(_at(entry["last"]), floor) if entry["last"] else floor
        room = max_runs - len(ahead)
        known_next = _at(entry["next"]) if entry["next"] else None
        if room <= 0 or (known_next is not None and known_next > until):
            entries[key] = {**entry, "ahead": ahead} if len(ahead) != len(entry["ahead"]) else entry
            continue
        found = fire_times(schedule, start, until=None, limit=room + 1)
        new = [fire for fire in found[:room] if fire <= until]
        following = found[len(new)] if len(found) > len(new) else None
        plan.fires += new
        entries[key] = {
            "sig": sig,
            "last": new[-1].isoformat() if new else entry["last"],
            "ahead": ahead + [fire.isoformat() for fire in new],
            "next": following.isoformat() if following else None,
        }
        plan.changed |= bool(new) or entries[key]["next"] != entry["next"]
    plan.changed |= set(entries) != set(old)
    plan.cursor = {"deployment": deployment.full_name, "deployment_id": str(deployment.id), "schedules": entries}
    return plan


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
