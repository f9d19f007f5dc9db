"""Filters for `read_flow_runs`, with Prefect 2's names and operators (`any_`, `not_any_`,
`all_`, `like_`, `before_`, `after_`, `is_null_`): `FlowRunFilter(state={"type": {"any_":
["COMPLETED"]}})`. Every field is optional; the given ones must all match. Times are read as
UTC when naive (runs' times are aware) and must lie between 1900 and 2999."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from mintaka_core.bounds import Time
from mintaka_core.schemas import FlowRun
from mintaka_core.states import StateType


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def matches(self, run: FlowRun) -> bool:
        """Whether `run` passes every operator given (fields are named as the run's)."""
        return all(condition is None or _matches(condition, getattr(run, name, None)) for name, condition in self)


class _Any(_Filter):
    any_: list[Any] | None = None
    not_any_: list[Any] | None = None
    is_null_: bool | None = None


class _Times(_Filter):
    before_: Time | None = None
    after_: Time | None = None
    is_null_: bool | None = None


class FlowRunFilterId(_Any):
    any_: list[uuid.UUID] | None = None
    not_any_: list[uuid.UUID] | None = None


class FlowRunFilterName(_Any):
    any_: list[str] | None = None
    like_: str | None = None


class FlowRunFilterStateType(_Any):
    any_: list[StateType] | None = None
    not_any_: list[StateType] | None = None


class FlowRunFilterStateName(_Any):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class FlowRunFilterState(_Filter):
    type: FlowRunFilterStateType | None = None
    name: FlowRunFilterStateName | None = None


class FlowRunFilterTags(_Filter):
    all_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilterDeploymentId(_Any):
    any_: list[uuid.UUID] | None = None


class FlowRunFilterParentTaskRunId(_Any):
    any_: list[uuid.UUID] | None = None


class FlowRunFilterStartTime(_Times):
    pass


class FlowRunFilterEndTime(_Times):
    pass


class FlowRunFilterExpectedStartTime(_Times):
    pass


class FlowRunFilter(_Filter):
    id: FlowRunFilterId | None = None
    name: FlowRunFilterName | None = None
    tags: FlowRunFilterTags | None = None
    deployment_id: FlowRunFilterDeploymentId | None = None
    state: FlowRunFilterState | None = None
    start_time: FlowRunFilterStartTime | None = None
    end_time: FlowRunFilterEndTime | None = None
    expected_start_time: FlowRunFilterExpectedStartTime | None = None
    parent_task_run_id: FlowRunFilterParentTaskRunId | None = None


class FlowFilterName(_Any):
    any_: list[str] | None = None
    like_: str | None = None


class FlowFilter(_Filter):
    name: FlowFilterName | None = None

    def matches(self, run: FlowRun) -> bool:
        return self.name is None or _matches(self.name, run.flow_name)


def _matches(condition: Any, value: Any) -> bool:
    """One field's operators against one run's value."""
    if isinstance(condition, FlowRunFilterState):
        state = value  # the run's State
        if condition.type is not None and not _matches(condition.type, state.type if state else None):
            return False
        return condition.name is None or _matches(condition.name, state.name if state else None)
    if isinstance(condition, FlowRunFilterTags):
        if condition.is_null_ is not None and (not value) != condition.is_null_:
            return False
        return condition.all_ is None or set(condition.all_) <= set(value or ())
    if isinstance(condition, _Times):
        if condition.is_null_ is not None and (value is None) != condition.is_null_:
            return False
        if value is None:
            return condition.before_ is None and condition.after_ is None
        if condition.before_ is not None and value > condition.before_:
            return False
        return condition.after_ is None or value >= condition.after_
    if isinstance(condition, _Any):
        if condition.is_null_ is not None and (value is None) != condition.is_null_:
            return False
        if condition.any_ is not None and value not in condition.any_:
            return False
        if condition.not_any_ is not None and value in condition.not_any_:
            return False
        like = getattr(condition, "like_", None)
        return like is None or (value is not None and like.lower() in str(value).lower())
    return True


__all__ = [
    "FlowFilter",
    "FlowFilterName",
    "FlowRunFilter",
    "FlowRunFilterDeploymentId",
    "FlowRunFilterEndTime",
    "FlowRunFilterExpectedStartTime",
    "FlowRunFilterId",
    "FlowRunFilterName",
    "FlowRunFilterParentTaskRunId",
    "FlowRunFilterStartTime",
    "FlowRunFilterState",
    "FlowRunFilterStateName",
    "FlowRunFilterStateType",
    "FlowRunFilterTags",
]
