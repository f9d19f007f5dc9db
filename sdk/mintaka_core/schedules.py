"""Schedules as data (cron with time zone, interval with anchor, rrule), validated at the edge.

The maths that turns a schedule into fire times is pure and lives in
`mintaka_server.scheduling`; these models are what users write and the API stores.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mintaka_core.bounds import LocalTime


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from exc
    return value


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="IANA time zone the schedule is read in")
    active: bool = True

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return _check_timezone(value)


class CronSchedule(_Schedule):
    """Standard 5-field cron, read as wall-clock time in `timezone` (DST-aware)."""

    type: Literal["cron"] = "cron"
    cron: str = Field(min_length=1, max_length=200, examples=["0 9 * * *"])

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        value = " ".join(value.split())
        if len(value.split(" ")) != 5 or not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}: expected 5 fields like '0 9 * * *'")
        return value


class IntervalSchedule(_Schedule):
    """Every `interval_seconds`, counted from `anchor_date` (default 2020-01-01 in `timezone`)."""

    type: Literal["interval"] = "interval"
    interval_seconds: float = Field(ge=1, le=366 * 86400)
    anchor_date: LocalTime | None = None


class RRuleSchedule(_Schedule):
    """An iCalendar RRULE (RFC 5545), e.g. 'FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0'."""

    type: Literal["rrule"] = "rrule"
    rrule: str = Field(min_length=1, max_length=2000)

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str) -> str:
        from dateutil.rrule import rrulestr

        try:
            rrulestr(value, dtstart=dt.datetime(2020, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid rrule {value!r}: {exc}") from exc
        return value


Schedule = Annotated[CronSchedule | IntervalSchedule | RRuleSchedule, Field(discriminator="type")]

__all__ = ["CronSchedule", "IntervalSchedule", "RRuleSchedule", "Schedule"]
