"""Bounds on what the API accepts: times, durations and nesting.

Far beyond any real use, but inside what the stores hold and what date arithmetic survives:
a retry delay (at most a year, times 1 + a jitter factor of at most 100) added to any time the
API accepts still lands before year 9999, and every JSON value fits the serializers' depth.
A value out of bounds is a validation error naming the field and what is allowed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
MAX_DELAY_SECONDS = 31_536_000  # one year
MAX_JITTER_FACTOR = 100
MAX_RETRIES = 1000
MAX_NESTING = 100  # levels of lists and objects in a JSON value (parameters, event details...)

_RANGE = "between 1900-01-01 and 2999-12-31"


def _utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC time inside the bounds; a naive one is read as UTC."""
    if not EARLIEST.year <= value.year <= LATEST.year:  # before converting: year 1 at +14:00 overflows
        raise ValueError(f"time {value.isoformat()} is out of range: must be {_RANGE}")
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if not EARLIEST <= aware <= LATEST:
        raise ValueError(f"time {value.isoformat()} is out of range: must be {_RANGE} (UTC)")
    return aware


def _local(value: dt.datetime) -> dt.datetime:
    """A time kept as given (naive: wall-clock time in a schedule's time zone), year in bounds."""
    if not EARLIEST.year <= value.year <= LATEST.year:
        raise ValueError(f"time {value.isoformat()} is out of range: must be {_RANGE}")
    return value


def _shallow(value: Any) -> Any:
    """`value` if no list or object in it is nested deeper than MAX_NESTING (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_NESTING:
                    raise ValueError(f"nested more than {MAX_NESTING} levels deep")
                stack.append((child, depth + 1))
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Time = Annotated[dt.datetime, AfterValidator(_utc)]
"""A point in time between 1900 and 2999, normalized to UTC (naive = UTC)."""

LocalTime = Annotated[dt.datetime, AfterValidator(_local)]
"""A time between 1900 and 2999 kept in its own zone (naive allowed), e.g. a schedule's anchor."""

DelaySeconds = Annotated[float, Field(ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)]
JitterFactor = Annotated[float, Field(ge=0, le=MAX_JITTER_FACTOR, allow_inf_nan=False)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_shallow)]
NoNul = AfterValidator(_no_nul)

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DELAY_SECONDS",
    "MAX_JITTER_FACTOR",
    "MAX_NESTING",
    "MAX_RETRIES",
    "DelaySeconds",
    "JitterFactor",
    "JsonObject",
    "LocalTime",
    "NoNul",
    "Time",
    "check_json_schema",
]


def check_json_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A schema the server will check input with must itself be a JSON schema (2020-12)."""
    if value is not None:
        from jsonschema import Draft202012Validator, SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.path) or "the schema"
            raise ValueError(f"not a valid JSON schema at {where}: {exc.message}") from None
    return value
