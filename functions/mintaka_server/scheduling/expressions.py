"""Schedules as EventBridge Scheduler expressions. Pure functions, no I/O.

EventBridge's cron has six fields, `cron(minutes hours day-of-month month day-of-week year)`,
and differs from the standard five-field cron in ways that change meaning if copied verbatim:
- one of day-of-month / day-of-week must be `?`. Standard cron runs a job when *either*
  restricted day field matches (`0 9 1 * MON`: the 1st and every Monday), which one EventBridge
  expression cannot say, so such a cron becomes two schedules, one per day field (a time both
  match fires twice, and the trigger's idempotency key makes that one run);
- day-of-week counts 1-7 from Sunday where cron counts 0-6 (7 = Sunday too), so days are
  written by name (`MON-FRI`);
- steps are written `start/step` (`*/15` → `0/15`), other sets as lists and ranges.

Intervals become `rate(N minutes|hours|days)`: EventBridge fires at most once a minute, so an
interval that is not a whole number of minutes is refused with a clear error. rrule schedules
have no EventBridge form at all; a periodic trigger creates their runs (`rrule_tick`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mintaka_core.exceptions import InvalidRequest
from mintaka_core.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class ScheduleNotExpressible(InvalidRequest):
    """The schedule has no EventBridge Scheduler form (the message says why and what would do)."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the value of names[0]


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTHS, 1)
DAY_OF_WEEK = _Field("day-of-week", 0, 7, DAYS, 0)  # 7 is Sunday as well


def eventbridge_expressions(schedule: CronSchedule | IntervalSchedule | RRuleSchedule) -> list[str]:
    """The Scheduler expressions that together fire `schedule` (none for rrule schedules)."""
    if isinstance(schedule, CronSchedule):
        return cron_to_eventbridge(schedule.cron)
    if isinstance(schedule, IntervalSchedule):
        return [rate_expression(schedule.interval_seconds)]
    return []


def rate_expression(interval_seconds: float) -> str:
    """`rate(5 minutes)`, `rate(2 hours)`, `rate(1 day)`: the largest unit that divides evenly."""
    if interval_seconds < 60 or interval_seconds % 60:
        raise ScheduleNotExpressible(
            f"An interval of {interval_seconds:g} s cannot run on EventBridge Scheduler, which fires at most once "
            "a minute: use a whole number of minutes (60, 120, 300, ...) or a cron schedule"
        )
    minutes = int(interval_seconds // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    raise AssertionError("unreachable")  # pragma: no cover


def cron_to_eventbridge(cron: str) -> list[str]:
    """A standard 5-field cron as one EventBridge `cron(...)` expression, or two when both day
    fields are restricted (cron's OR; see the module docstring)."""
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleNotExpressible(f"Cron {cron!r}: expected 5 fields (minute hour day-of-month month day-of-week)")
    minute, hour, dom, month, dow = fields
    head = f"{_render(_parse(minute, MINUTE), MINUTE)} {_render(_parse(hour, HOUR), HOUR)}"
    month_text = _render(_parse(month, MONTH), MONTH)

    def expression(dom_text: str, dow_text: str) -> str:
        return f"cron({head} {dom_text} {month_text} {dow_text} *)"

    dom_any, dow_any = dom.strip() in ("*", "?"), dow.strip() in ("*", "?")
    dom_text = "*" if dom_any else _day_of_month(dom, cron)
    dow_text = "*" if dow_any else _day_of_week(dow, cron)
    if dom_any and dow_text != "*":
        return [expression("?", dow_text)]  # day-of-month unrestricted: day-of-week alone decides
    if not dom_any and ("#" in dow_text or dow_text.endswith("L")):
        raise ScheduleNotExpressible(
            f"Cron {cron!r}: a day of the month together with an nth or last weekday is ambiguous (cron "
            "implementations disagree on it); use two schedules, one per day field"
        )
    if dom_any or dow_any or "*" in (dom_text, dow_text):
        # One day field unrestricted (the other decides), or cron's OR with a field that
        # matches every day (`1-31`, `*/1`): that is every day.
        return [expression(dom_text if dow_any else "*", "?")]
    return [expression(dom_text, "?"), expression("?", dow_text)]


def _day_of_month(text: str, cron: str) -> str:
    if text.strip().upper() == "L":
        return "L"  # the last day of the month: the same in both dialects
    return _render(_parse(text, DAY_OF_MONTH), DAY_OF_MONTH)


def _day_of_week(text: str, cron: str) -> str:
    token = text.strip().upper()
    if "#" in token:  # the k-th such weekday of the month: `1#2` = 2nd Monday
        day, _, nth = token.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleNotExpressible(f"Cron {cron!r}: day-of-week {text!r}: expected DAY#N with N from 1 to 5")
        return f"{_single_day(day, text, cron) + 1}#{nth}"
    if token.endswith("L") and token not in DAYS:  # `5L` = the last Friday of the month
        return f"{_single_day(token[:-1], text, cron) + 1}L"
    values = {v % 7 for v in _parse(text, DAY_OF_WEEK)}
    return "*" if len(values) == 7 else _render_days(values)


def _single_day(token: str, text: str, cron: str) -> int:
    values = _parse(token, DAY_OF_WEEK)
    if len(values) != 1:
        raise ScheduleNotExpressible(f"Cron {cron!r}: day-of-week {text!r} needs a single day before '#' or 'L'")
    return next(iter(values)) % 7


def _parse(text: str, field: _Field) -> set[int]:
    """The values one cron field selects: `*`, `N`, `A-B`, any of these `/STEP`, comma lists,
    and names where the field has them (case-insensitive)."""
    values: set[int] = set()
    for part in text.strip().split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, field, part) if slash else 1
        if slash and step < 1:
            raise _bad(field, part, "the step must be at least 1")
        if base in ("*", "?"):
            start, end = field.low, (6 if field is DAY_OF_WEEK else field.high)
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, field, part), _value(last, field, part)
            if start > end:
                raise _bad(field, part, "the range runs backwards")
        else:
            start = _value(base, field, part)
            if slash and field is DAY_OF_WEEK:
                start, end = start % 7, 6  # `7/2` starts on Sunday like `0/2`
            else:
                end = field.high if slash else start
        values.update(range(start, end + 1, step))
    return values


def _value(token: str, field: _Field, part: str) -> int:
    upper = token.strip().upper()
    if upper in field.names:
        return field.names.index(upper) + field.name_base
    value = _number(upper, field, part)
    if not field.low <= value <= field.high:
        raise _bad(field, part, f"values run from {field.low} to {field.high}")
    return value


def _number(token: str, field: _Field, part: str) -> int:
    if not token.isdigit():
        raise _bad(field, part, "EventBridge Scheduler takes numbers, ranges, lists, steps and names here")
    return int(token)


def _bad(field: _Field, part: str, why: str) -> ScheduleNotExpressible:
    return ScheduleNotExpressible(f"Cron {field.name} {part!r} cannot be expressed: {why}")


def _render(values: set[int], field: _Field) -> str:
    """`*` for every value, `START/STEP` for a step that runs to the end, else lists and ranges."""
    ordered = sorted(values)
    if len(ordered) == field.high - field.low + 1:
        return "*"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        evenly = all(b - a == step for a, b in zip(ordered, ordered[1:], strict=False))
        if step > 1 and evenly and ordered[-1] + step > field.high:
            return f"{ordered[0]}/{step}"
    return ",".join(_runs(ordered, str))


def _render_days(values: set[int]) -> str:
    return ",".join(_runs(sorted(values), lambda day: DAYS[day]))


def _runs(ordered: list[int], show) -> list[str]:
    """Consecutive values of three or more as `A-B`, the rest one by one."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            run = ordered[start:i]
            parts.extend([f"{show(run[0])}-{show(run[-1])}"] if len(run) >= 3 else [show(v) for v in run])
            start = i
    return parts
