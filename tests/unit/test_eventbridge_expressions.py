"""Schedules as EventBridge Scheduler expressions: cron (5 fields → EventBridge's 6), rate, and
the inexpressible cases with their errors. A property checks the conversion against croniter
(the project's own cron semantics) with a small EventBridge cron evaluator written from AWS's
documented rules."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from croniter import CroniterBadDateError, croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mintaka.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from mintaka_server.scheduling.eventbridge import schedule_name, schedule_name_prefix
from mintaka_server.scheduling.expressions import (
    ScheduleNotExpressible,
    cron_to_eventbridge,
    eventbridge_expressions,
    rate_expression,
)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 9 * * *", ["cron(0 9 * * ? *)"]),
        ("*/15 * * * *", ["cron(0/15 * * * ? *)"]),
        ("5/20 * * * *", ["cron(5/20 * * * ? *)"]),
        ("1-59/2 * * * *", ["cron(1/2 * * * ? *)"]),
        ("0 */2 * * *", ["cron(0 0/2 * * ? *)"]),
        ("0 9-17 * * *", ["cron(0 9-17 * * ? *)"]),
        ("0,30 0-3,12 * * *", ["cron(0,30 0-3,12 * * ? *)"]),
        # day-of-week: 0-6 from Sunday (7 = Sunday too) becomes names; the other day field `?`
        ("0 9 * * 1-5", ["cron(0 9 ? * MON-FRI *)"]),
        ("0 9 * * 0", ["cron(0 9 ? * SUN *)"]),
        ("0 9 * * 7", ["cron(0 9 ? * SUN *)"]),
        ("0 9 * * 5-7", ["cron(0 9 ? * SUN,FRI,SAT *)"]),
        ("0 9 * * sat,sun", ["cron(0 9 ? * SUN,SAT *)"]),
        ("0 9 * * MON-WED,FRI", ["cron(0 9 ? * MON-WED,FRI *)"]),
        ("0 9 * * */2", ["cron(0 9 ? * SUN,TUE,THU,SAT *)"]),
        # day-of-month
        ("30 2 15 * *", ["cron(30 2 15 * ? *)"]),
        ("0 0 1,15 * ?", ["cron(0 0 1,15 * ? *)"]),
        ("0 0 */5 * *", ["cron(0 0 1/5 * ? *)"]),
        ("0 0 L * *", ["cron(0 0 L * ? *)"]),
        # months, by number or name
        ("0 0 1 jan-mar/2 *", ["cron(0 0 1 1,3 ? *)"]),
        ("0 0 1 JUN *", ["cron(0 0 1 6 ? *)"]),
        # nth / last weekday of the month (EventBridge counts days 1-7 from Sunday)
        ("0 9 * * 1#2", ["cron(0 9 ? * 2#2 *)"]),
        ("0 9 * * MON#1", ["cron(0 9 ? * 2#1 *)"]),
        ("0 9 * * 5L", ["cron(0 9 ? * 6L *)"]),
        # both day fields restricted: cron ORs them, so two schedules
        ("0 9 1 * MON", ["cron(0 9 1 * ? *)", "cron(0 9 ? * MON *)"]),
        ("0 9 1,15 * 1-5", ["cron(0 9 1,15 * ? *)", "cron(0 9 ? * MON-FRI *)"]),
        # ... unless one of them matches every day anyway
        ("0 9 1-31 * 1", ["cron(0 9 * * ? *)"]),
        ("0 9 */1 * MON", ["cron(0 9 * * ? *)"]),
        ("0 9 * * */1", ["cron(0 9 * * ? *)"]),
        ("0 9 * * 0-6", ["cron(0 9 * * ? *)"]),
        ("  0   9 *  * * ", ["cron(0 9 * * ? *)"]),
    ],
)
def test_cron_becomes_eventbridge_cron(cron, expected):
    assert cron_to_eventbridge(cron) == expected


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("0 9 * * * *", "expected 5 fields"),
        ("61 * * * *", "minute '61' cannot be expressed: values run from 0 to 59"),
        ("0 24 * * *", "hour '24'"),
        ("0 0 0 * *", "day-of-month '0'"),
        ("0 0 1 13 *", "month '13'"),
        ("0 9 * * 8", "day-of-week '8'"),
        ("0 9 5-1 * *", "runs backwards"),
        ("*/0 * * * *", "step must be at least 1"),
        ("H 9 * * *", "numbers, ranges, lists, steps and names"),
        ("0 9 * * 1#7", "DAY#N with N from 1 to 5"),
        ("0 9 * * 1-5#2", "single day"),
        ("0 9 * * FUNDAY", "day-of-week 'FUNDAY'"),
        ("0 9 W * *", "day-of-month 'W'"),
        ("0 9 1 * 1#2", "nth or last weekday is ambiguous"),
        ("0 9 15 * 5L", "nth or last weekday is ambiguous"),
    ],
)
def test_inexpressible_crons_are_refused_clearly(cron, message):
    with pytest.raises(ScheduleNotExpressible, match=message.replace("(", r"\(").replace("*", r"\*")):
        cron_to_eventbridge(cron)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (60, "rate(1 minute)"),
        (600, "rate(10 minutes)"),
        (3600, "rate(1 hour)"),
        (5400, "rate(90 minutes)"),
        (7200, "rate(2 hours)"),
        (86400, "rate(1 day)"),
        (3 * 86400, "rate(3 days)"),
        (90000, "rate(25 hours)"),
        (600.0, "rate(10 minutes)"),
    ],
)
def test_interval_becomes_rate(seconds, expected):
    assert rate_expression(seconds) == expected


@pytest.mark.parametrize("seconds", [1, 30, 59, 90, 61, 600.5])
def test_interval_that_is_not_whole_minutes_is_refused(seconds):
    with pytest.raises(ScheduleNotExpressible, match="whole number of minutes"):
        rate_expression(seconds)


def test_schedules_by_type():
    assert eventbridge_expressions(CronSchedule(cron="0 9 * * 1", timezone="Europe/Berlin")) == ["cron(0 9 ? * MON *)"]
    assert eventbridge_expressions(IntervalSchedule(interval_seconds=900)) == ["rate(15 minutes)"]
    assert eventbridge_expressions(RRuleSchedule(rrule="FREQ=DAILY;BYHOUR=9")) == []  # served by the rrule tick


def test_schedule_names_are_short_stable_and_distinct():
    long_name = "a-flow-with-a-very-long-name-indeed/and-a-deployment-name-that-is-also-long" * 2
    for full in ("etl/prod", "etl/prod-2", "a/b-c", "a-b/c", "ünïcode/dëploy", long_name):
        name = schedule_name(full, 12, 1)
        assert len(name) <= 64 and name.startswith(schedule_name_prefix(full))
        assert all((c.isalnum() and c.isascii()) or c in "-_." for c in name)
        assert schedule_name(full, 12, 1) == name
    assert schedule_name_prefix("a/b-c") != schedule_name_prefix("a-b/c")  # same slug, different hash
    assert not schedule_name("etl/prod", 1).startswith(schedule_name_prefix("etl/prod-2"))


# -- the conversion agrees with croniter, judged by an EventBridge evaluator ---------------------

_EB_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # 1..7
_EB_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _eb_values(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    def value(token: str) -> int:
        return names.index(token) + 1 if token in names else int(token)

    out: set[int] = set()
    for part in text.split(","):
        if part == "*":
            out.update(range(low, high + 1))
        elif "/" in part:
            start, step = part.split("/")
            out.update(range(low if start == "*" else value(start), high + 1, int(step)))
        elif "-" in part:
            a, b = part.split("-")
            out.update(range(value(a), value(b) + 1))
        else:
            out.add(value(part))
    return out


def _eb_day_matches(dom: str, dow: str, day: dt.date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    weekday = day.isoweekday() % 7 + 1  # EventBridge: SUN=1 ... SAT=7
    if dom != "?":
        return day.day == last if dom == "L" else day.day in _eb_values(dom, 1, 31)
    if "#" in dow:
        n, k = dow.split("#")
        return weekday == int(n) and (day.day - 1) // 7 + 1 == int(k)
    if dow.endswith("L") and dow not in _EB_DAYS:
        return weekday == int(dow[:-1]) and day.day + 7 > last
    return weekday in _eb_values(dow, 1, 7, _EB_DAYS)


def eb_matches(expression: str, at: dt.datetime) -> bool:
    minute, hour, dom, month, dow, year = expression.removeprefix("cron(").removesuffix(")").split()
    assert year == "*" and (dom == "?") != (dow == "?"), expression
    return (
        at.minute in _eb_values(minute, 0, 59)
        and at.hour in _eb_values(hour, 0, 23)
        and at.month in _eb_values(month, 1, 12, _EB_MONTHS)
        and _eb_day_matches(dom, dow, at.date())
    )


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    token = number.map(str) | (st.sampled_from(names) if names else number.map(str))
    step = st.integers(1, max(2, (high - low) // 2))
    # Ranges of two or more values: croniter 7 reads `N-N` as `*` (a bug), where cron means just N.
    rng = st.tuples(number, number).filter(lambda ab: ab[0] != ab[1]).map(sorted).map(lambda ab: f"{ab[0]}-{ab[1]}")
    single = st.one_of(
        st.just("*"),
        token,
        rng,
        step.map(lambda n: f"*/{n}"),
        st.tuples(rng, step).map(lambda t: f"{t[0]}/{t[1]}"),
        st.tuples(number, step).map(lambda t: f"{t[0]}/{t[1]}"),
    )
    return st.lists(single, min_size=1, max_size=3).map(",".join).map(lambda s: "*" if "*" in s.split(",") else s)


days = st.one_of(
    st.tuples(_field(1, 28) | st.sampled_from(["L", "31", "29-31"]), _field(0, 7, _EB_DAYS)),
    st.tuples(st.just("*"), st.sampled_from(["1#2", "5L", "0#1", "6#5"])),
)
crons = st.tuples(_field(0, 59), _field(0, 23), days, _field(1, 12, _EB_MONTHS)).map(
    lambda f: f"{f[0]} {f[1]} {f[2][0]} {f[3]} {f[2][1]}"
)


@pytest.mark.slow  # 150 generated crons, each simulated over its fire times: 7 s
@settings(max_examples=150, deadline=None)
@given(cron=crons, start=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2028, 12, 31)))
def test_eventbridge_fires_exactly_when_cron_does(cron, start):
    if not croniter.is_valid(cron):
        return
    _, _, dom, _, dow = cron.split()
    expanded = croniter.expand(cron)[0]
    # A day field written restricted but covering every day (`*/1`, `1-31`, `0-6`): croniter
    # applies cron's OR rule to these inconsistently (compare `0 9 */1 * 1` with
    # `0 9 */1 * */2`); the converter treats them as restricted, like any non-`*` field.
    assume(not (dom != "*" and (expanded[2] == ["*"] or len(expanded[2]) == 31)))
    assume(not (dow != "*" and (expanded[4] == ["*"] or len(expanded[4]) == 7)))
    expressions = cron_to_eventbridge(cron)
    start = start.replace(second=0, microsecond=0)
    itr = croniter(cron, start)
    try:
        fires = [itr.get_next(dt.datetime) for _ in range(6)]
    except CroniterBadDateError:  # croniter gives up on some `L` + `#` combinations
        return
    deltas = [dt.timedelta(0), dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)]
    probes = {t + d for t in [start, *fires] for d in deltas} | {t - d for t in fires for d in deltas}
    for at in sorted(probes):
        expected = croniter.match(cron, at)
        assert any(eb_matches(e, at) for e in expressions) == expected, (cron, expressions, at)
