"""Prefect 2 style flow run filters and sorts (`mintaka.client.schemas`), matched against runs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from mintaka.client.schemas.filters import FlowFilter, FlowRunFilter
from mintaka.client.schemas.sorting import FlowRunSort
from mintaka.schemas import FlowRun
from mintaka.states import State, StateType

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def run(name: str, state: StateType, *, tags=(), hours: int = 0, flow: str = "etl", state_name: str = "") -> FlowRun:
    return FlowRun(
        id=uuid.uuid4(),
        name=name,
        flow_id=uuid.uuid4(),
        flow_name=flow,
        tags=list(tags),
        state=State(type=state, name=state_name),
        start_time=T0 + dt.timedelta(hours=hours),
        end_time=T0 + dt.timedelta(hours=hours, minutes=5) if state is not StateType.RUNNING else None,
    )


RUNS = [
    run("a", StateType.COMPLETED, tags=["nightly"], hours=1),
    run("b", StateType.FAILED, tags=["nightly", "db"], hours=2),
    run("c", StateType.COMPLETED, hours=3, flow="report"),
    run("d", StateType.SCHEDULED, hours=4, state_name="Late"),
    run("e", StateType.RUNNING, tags=["db"], hours=5),
]


def names(flt: FlowRunFilter, flow: FlowFilter | None = None) -> list[str]:
    flow = flow or FlowFilter()
    return [r.name for r in RUNS if flt.matches(r) and flow.matches(r)]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({}, ["a", "b", "c", "d", "e"]),
        ({"state": {"type": {"any_": ["COMPLETED", "FAILED"]}}}, ["a", "b", "c"]),
        ({"state": {"type": {"not_any_": ["COMPLETED"]}}}, ["b", "d", "e"]),
        ({"state": {"name": {"any_": ["Late"]}}}, ["d"]),
        ({"tags": {"all_": ["nightly", "db"]}}, ["b"]),
        ({"tags": {"is_null_": True}}, ["c", "d"]),
        ({"name": {"like_": "C"}}, ["c"]),
        ({"start_time": {"after_": T0 + dt.timedelta(hours=3)}}, ["c", "d", "e"]),
        ({"end_time": {"is_null_": True}}, ["e"]),
        ({"end_time": {"before_": T0 + dt.timedelta(hours=2)}}, ["a"]),
    ],
)
def test_flow_run_filters_match_as_prefect_documents(flt, expected):
    assert names(FlowRunFilter.model_validate(flt)) == expected


def test_flow_filter_by_name():
    assert names(FlowRunFilter(), FlowFilter(name={"any_": ["report"]})) == ["c"]


def test_an_unknown_operator_is_refused():
    with pytest.raises(ValidationError):
        FlowRunFilter.model_validate({"state": {"type": {"anyy_": ["COMPLETED"]}}})


def test_sorts():
    key, descending = FlowRunSort.END_TIME_DESC.key()
    ordered = sorted(RUNS, key=key, reverse=descending)
    assert [r.name for r in ordered] == ["d", "c", "b", "a", "e"]  # no end time sorts last
    key, descending = FlowRunSort.NAME_ASC.key()
    assert [r.name for r in sorted(RUNS, key=key, reverse=descending)] == ["a", "b", "c", "d", "e"]
