"""Schedule maths: properties across DST changes, month ends and leap days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mintaka.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from mintaka_server.scheduling import fire_times

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Santiago"]
DAILY_TIMES = [(0, 0), (1, 30), (2, 0), (2, 30), (3, 0), (9, 15), (23, 59)]

instants = st.datetimes(
    min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
)


@settings(max_examples=60, deadline=None)
@given(start=instants, zone=st.sampled_from(ZONES), at=st.sampled_from(DAILY_TIMES))
def test_daily_cron_fires_exactly_once_per_local_day(start, zone, at):
    hour, minute = at
    schedule = CronSchedule(cron=f"{minute} {hour} * * *", timezone=zone)
    fires = fire_times(schedule, start, limit=400)
    tz = ZoneInfo(zone)
    days = [f.astimezone(tz).date() for f in fires]
    assert len(days) == len(set(days)), "a day fired twice"
    first = days[0]
    assert days == [first + dt.timedelta(days=i) for i in range(len(days))], "a day was missed"
    for f in fires:
        local = f.astimezone(tz)
        # Either the wall time itself, or (skipped by a spring-forward) the instant the clocks jumped.
        assert (local.hour, local.minute) == (hour, minute) or local.utcoffset() > (
            local - dt.timedelta(hours=2)
        ).utcoffset()


@settings(max_examples=60, deadline=None)
@given(start=instants, zone=st.sampled_from(ZONES), cron=st.sampled_from(["*/15 * * * *", "30 * * * *", "0 */6 * * *"]))
def test_fire_times_are_strictly_increasing_and_resumable(start, zone, cron):
    schedule = CronSchedule(cron=cron, timezone=zone)
    fires = fire_times(schedule, start, limit=60)
    assert all(a < b for a, b in zip(fires, fires[1:], strict=False))
    assert fires[0] > start
    # A scheduler that resumes from its last fire sees the same future: nothing missed or doubled.
    resumed = fires[:20] + fire_times(schedule, fires[19], limit=40)
    assert resumed == fires


def test_leap_days_and_month_ends():
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    leap = fire_times(CronSchedule(cron="0 12 29 2 *"), start, limit=3)
    assert [f.year for f in leap] == [2024, 2028, 2032]
    month_ends = fire_times(CronSchedule(cron="0 0 31 * *", timezone="Europe/Berlin"), start, limit=7)
    assert [f.astimezone(ZoneInfo("Europe/Berlin")).month for f in month_ends] == [1, 3, 5, 7, 8, 10, 12]


def test_spring_forward_and_fall_back_in_berlin():
    berlin = ZoneInfo("Europe/Berlin")
    spring = fire_times(
        CronSchedule(cron="30 2 * * *", timezone="Europe/Berlin"), dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC), limit=2
    )
    assert spring[0].astimezone(berlin).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 3, 0)
    assert spring[1].astimezone(berlin).replace(tzinfo=None) == dt.datetime(2026, 3, 30, 2, 30)
    autumn = fire_times(
        CronSchedule(cron="30 2 * * *", timezone="Europe/Berlin"), dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC), limit=2
    )
    assert autumn[0] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)  # first 02:30, CEST
    assert autumn[1] - autumn[0] == dt.timedelta(hours=25)


@settings(max_examples=40, deadline=None)
@given(start=instants, seconds=st.integers(min_value=1, max_value=7 * 86400), zone=st.sampled_from(ZONES))
def test_interval_fires_are_exactly_spaced_from_the_anchor(start, seconds, zone):
    anchor = dt.datetime(2023, 6, 1, 8, 0, tzinfo=dt.UTC)
    fires = fire_times(IntervalSchedule(interval_seconds=seconds, anchor_date=anchor, timezone=zone), start, limit=20)
    assert fires[0] > start and fires[0] - dt.timedelta(seconds=seconds) <= start
    assert all(b - a == dt.timedelta(seconds=seconds) for a, b in zip(fires, fires[1:], strict=False))
    assert all((f - anchor) % dt.timedelta(seconds=seconds) == dt.timedelta(0) for f in fires)


def test_rrule_in_a_time_zone():
    rule = RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", timezone="America/New_York")
    fires = fire_times(rule, dt.datetime(2026, 10, 30, tzinfo=dt.UTC), limit=4)
    ny = [f.astimezone(ZoneInfo("America/New_York")) for f in fires]
    assert [(d.strftime("%a"), d.hour) for d in ny] == [("Mon", 9), ("Wed", 9), ("Mon", 9), ("Wed", 9)]
    assert ny[0].utcoffset() != ny[-1].utcoffset() or ny[0].date() > dt.date(2026, 11, 1)


def test_until_and_limit():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    hourly = CronSchedule(cron="0 * * * *")
    assert len(fire_times(hourly, start, until=start + dt.timedelta(hours=5))) == 5
    assert len(fire_times(hourly, start, limit=3)) == 3


@pytest.mark.parametrize(
    ("model", "fields", "needle"),
    [
        (CronSchedule, {"cron": "61 * * * *"}, "cron"),
        (CronSchedule, {"cron": "0 9 * *"}, "cron"),
        (CronSchedule, {"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "time zone"),
        (IntervalSchedule, {"interval_seconds": 0}, "interval_seconds"),
        (RRuleSchedule, {"rrule": "FREQ=SOMETIMES"}, "rrule"),
    ],
)
def test_invalid_schedules_are_clear_errors(model, fields, needle):
    with pytest.raises(ValidationError) as info:
        model(**fields)
    assert needle in str(info.value)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        fire_times(CronSchedule(cron="* * * * *"), dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "rule",
    ["FREQ=MINUTELY", "FREQ=MINUTELY;INTERVAL=7", "FREQ=HOURLY;INTERVAL=5;BYMINUTE=15", "FREQ=SECONDLY;INTERVAL=90"],
)
def test_sub_daily_rrules_keep_their_phase_from_the_anchor(rule):
    from dateutil.rrule import rrulestr

    from mintaka_server.scheduling.fire_times import DEFAULT_ANCHOR

    start = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    # dateutil steps through every fire from its dtstart (~600,000 for the minutely rule since the
    # anchor: 2.5 s). Each rule here repeats every 35 days (lcm of its 1-, 5- and 7-day cycles), so
    # the oracle starts at the anchor plus whole 35-day periods: the same fires, the same phase.
    repeat = dt.timedelta(days=35)
    oracle_start = DEFAULT_ANCHOR + (start.replace(tzinfo=None) - DEFAULT_ANCHOR) // repeat * repeat
    expected = []
    for fire in rrulestr(rule, dtstart=oracle_start).xafter(start.replace(tzinfo=None) - dt.timedelta(hours=1)):
        if fire > start.replace(tzinfo=None):
            expected.append(fire.replace(tzinfo=dt.UTC))
        if len(expected) == 5:
            break
    assert fire_times(RRuleSchedule(rrule=rule), start, limit=5) == expected
