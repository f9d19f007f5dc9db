"""The bounds every wire model shares (`mintaka.bounds`): times, delays, nesting, NUL."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from mintaka.bounds import MAX_DELAY_SECONDS, MAX_JITTER_FACTOR, MAX_NESTING
from mintaka.client.schemas.filters import FlowRunFilter as ClientFilter
from mintaka.deployment_schemas import DeploymentCreate
from mintaka.schedules import IntervalSchedule
from mintaka.schemas import EmpiricalPolicy, FlowRun, FlowRunCreate
from mintaka.states import State, StateDetails, StateType


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59",
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
    ],
)
def test_times_outside_1900_to_2999_are_refused_without_overflowing(value):
    with pytest.raises(ValidationError, match="must be between 1900-01-01 and 2999-12-31"):
        StateDetails(scheduled_time=value)


def test_times_are_utc_and_naive_ones_are_read_as_utc():
    assert StateDetails(scheduled_time="2030-01-01T02:00:00+02:00").scheduled_time == dt.datetime(
        2030, 1, 1, tzinfo=dt.UTC
    )
    naive = StateDetails(pause_timeout=dt.datetime(2030, 1, 1)).pause_timeout
    assert naive.tzinfo is dt.UTC and naive.hour == 0


def test_the_latest_time_plus_the_longest_retry_delay_still_fits_a_datetime():
    latest = StateDetails(scheduled_time="2999-12-31T23:59:59Z").scheduled_time
    assert latest + dt.timedelta(seconds=MAX_DELAY_SECONDS * (1 + MAX_JITTER_FACTOR)) < dt.datetime.max.replace(
        tzinfo=dt.UTC
    )


def test_a_schedule_anchor_keeps_its_zone_but_not_an_absurd_year():
    assert IntervalSchedule(interval_seconds=60, anchor_date="2030-01-01T09:00:00").anchor_date.tzinfo is None
    with pytest.raises(ValidationError, match="out of range"):
        IntervalSchedule(interval_seconds=60, anchor_date="9999-12-31T23:59:59")


@pytest.mark.parametrize(
    "policy",
    [
        {"retry_delay_seconds": [MAX_DELAY_SECONDS + 1]},
        {"retry_delay_seconds": [float("nan")]},
        {"retry_delay_seconds": [float("inf")]},
        {"retry_delay_seconds": [1] * 1001},
        {"retry_jitter_factor": MAX_JITTER_FACTOR + 1},
        {"retry_jitter_factor": float("nan")},
        {"retries": 2**63},
    ],
)
def test_retry_settings_are_bounded(policy):
    with pytest.raises(ValidationError):
        EmpiricalPolicy(**policy)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_json_values_nest_at_most_max_nesting_deep():
    FlowRunCreate(flow_name="f", parameters=_nested(MAX_NESTING))
    with pytest.raises(ValidationError, match=f"nested more than {MAX_NESTING} levels deep"):
        FlowRunCreate(flow_name="f", parameters=_nested(MAX_NESTING + 1))
    base = {"flow_name": "f", "name": "d", "entrypoint": "a.py:f", "storage": {"url": "/x"}}
    with pytest.raises(ValidationError, match="nested more than"):
        DeploymentCreate(**base, triggers=[{"match": _nested(MAX_NESTING + 1)}])


@pytest.mark.parametrize("field", ["flow_name", "name", "idempotency_key", "work_queue_name"])
def test_names_refuse_nul(field):
    body = {"flow_name": "f", field: "a\x00b"}
    with pytest.raises(ValidationError, match="must not contain NUL"):
        FlowRunCreate(**body)


def test_client_filters_compare_naive_times_as_utc():
    run = FlowRun(
        id="00000000-0000-4000-8000-000000000001",
        name="r",
        flow_id="00000000-0000-4000-8000-000000000002",
        flow_name="f",
        state=State(type=StateType.COMPLETED),
        start_time=dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC),
    )
    assert ClientFilter(start_time={"after_": dt.datetime(2030, 1, 1, 11)}).matches(run)
    assert not ClientFilter(start_time={"before_": dt.datetime(2030, 1, 1, 11)}).matches(run)
