"""Schedule maths: when does a schedule fire? Pure functions, no I/O, no wall clock.

Semantics, the same for every schedule type:
- Fire times are instants (aware UTC datetimes), strictly increasing, never repeated.
- Cron and rrule schedules are read as wall-clock times in the schedule's time zone. A wall
  time that occurs twice (clocks going back) fires once, at its first occurrence; a wall
  time skipped by clocks going forward fires once, at the instant the clocks jump (e.g.
  02:30 on a spring-forward night fires at 03:00 local), so nothing is missed or doubled.
- Interval schedules count exact elapsed seconds from their anchor.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from mintaka_core.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

UTC = dt.UTC
DEFAULT_ANCHOR = dt.datetime(2020, 1, 1)


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("fire-time maths needs aware datetimes")
    return value.astimezone(UTC)


def _exists(naive: dt.datetime, tz: ZoneInfo) -> bool:
    """False for a wall time skipped by a DST jump."""
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def wall_to_instant(naive: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The instant of a wall-clock time: first occurrence if ambiguous, the jump if skipped."""
    if _exists(naive, tz):
        return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # Skipped: the first existing wall time after it is the moment the clocks jumped.
    probe = naive
    while not _exists(probe, tz):
        probe = (probe + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    return probe.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _cron_wall_times(schedule: CronSchedule, start_wall: dt.datetime) -> Iterator[dt.datetime]:
    from croniter import croniter

    itr = croniter(schedule.cron, start_wall)
    while True:
        yield itr.get_next(dt.datetime)


_SUB_DAILY_PERIOD = {4: 3600, 5: 60, 6: 1}  # dateutil's HOURLY, MINUTELY, SECONDLY -> seconds


def _rrule(text: str, start_wall: dt.datetime):
    """The rule anchored at DEFAULT_ANCHOR. A sub-daily rule without COUNT is re-anchored at the
    last whole period before `start_wall` (same phase, same fire times), so finding the next
    fire does not walk every minute since 2020."""
    from dateutil.rrule import rrulestr

    rule = rrulestr(text, dtstart=DEFAULT_ANCHOR)
    period = _SUB_DAILY_PERIOD.get(getattr(rule, "_freq", None))
    if period is None or getattr(rule, "_count", None) or start_wall <= DEFAULT_ANCHOR:
        return rule
    step = period * rule._interval
    periods = int((start_wall - DEFAULT_ANCHOR).total_seconds() // step)
    return rule.replace(dtstart=DEFAULT_ANCHOR + dt.timedelta(seconds=periods * step))


def _rrule_wall_times(schedule: RRuleSchedule, start_wall: dt.datetime) -> Iterator[dt.datetime]:
    rule = _rrule(schedule.rrule, start_wall)
    current = start_wall
    while True:
        nxt = rule.after(current, inc=False)
        if nxt is None:
            return
        yield nxt
        current = nxt


def _wall_clock_fires(schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    tz = ZoneInfo(schedule.timezone)
    start_wall = after.astimezone(tz).replace(tzinfo=None)
    if _offset_changes_near(after, tz):
        # Start an hour early in wall time so a fire skipped into `after`'s DST jump is not lost.
        # Only near a change: for an every-minute cron that hour is 60 steps of croniter per call.
        start_wall -= dt.timedelta(hours=1)
    source = _cron_wall_times if isinstance(schedule, CronSchedule) else _rrule_wall_times
    last: dt.datetime | None = None
    for wall in source(schedule, start_wall):
        instant = wall_to_instant(wall, tz)
        if instant <= after or (last is not None and instant <= last):
            continue
        last = instant
        yield instant


def _offset_changes_near(instant: dt.datetime, tz: ZoneInfo) -> bool:
    """True if `tz`'s UTC offset differs within 3 hours of `instant` (a DST change is near)."""
    window = dt.timedelta(hours=3)
    return (instant - window).astimezone(tz).utcoffset() != (instant + window).astimezone(tz).utcoffset()


def _interval_fires(schedule: IntervalSchedule, after: dt.datetime) -> Iterator[dt.datetime]:
    tz = ZoneInfo(schedule.timezone)
    anchor = schedule.anchor_date or DEFAULT_ANCHOR
    anchor = (anchor if anchor.tzinfo else anchor.replace(tzinfo=tz)).astimezone(UTC)
    step = dt.timedelta(seconds=schedule.interval_seconds)
    k = max(math.floor((after - anchor) / step) + 1, 0)
    while True:
        instant = anchor + k * step
        if instant > after:
            yield instant
        k += 1


def iter_fire_times(schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    """Fire times strictly after `after`, in order (possibly endless)."""
    after = _as_utc(after)
    if isinstance(schedule, IntervalSchedule):
        return _interval_fires(schedule, after)
    return _wall_clock_fires(schedule, after)


def fire_times(schedule, after: dt.datetime, until: dt.datetime | None = None, limit: int = 100) -> list[dt.datetime]:
    """Up to `limit` fire times in (after, until]."""
    out: list[dt.datetime] = []
    until = _as_utc(until) if until else None
    for instant in iter_fire_times(schedule, after):
        if (until is not None and instant > until) or len(out) >= limit:
            break
        out.append(instant)
    return out
