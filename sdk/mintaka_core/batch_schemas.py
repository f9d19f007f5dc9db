"""Wire models of the task-run report batch (`POST /api/task_runs/batch`).

A client reports the happy path of plain task runs (created RUNNING, then COMPLETED) write-behind,
several at a time and in order, for one flow run. Each report carries its own idempotency key (a
create: the task run's client-chosen id; a state: the state's `idempotency_key`), so a batch sent
again records nothing twice. The rules decide each report as they decide the single calls; the
answer says, report by report, what they decided.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mintaka_core.schemas import SetStateStatus, TaskRunCreate, _Input
from mintaka_core.states import State, StateType

# Reports in one request: a client sends more as several requests (in order).
MAX_REPORTS = 500


class TaskRunStarted(_Input):
    """A task run created straight into RUNNING at `task_run.state.timestamp`."""

    op: Literal["create"] = "create"
    task_run: TaskRunCreate


class TaskRunStateReported(_Input):
    """A state proposed for a task run at `state.timestamp` (its `idempotency_key` is required)."""

    op: Literal["set_state"] = "set_state"
    task_run_id: uuid.UUID
    state: State


TaskRunReport = Annotated[TaskRunStarted | TaskRunStateReported, Field(discriminator="op")]


class TaskRunReports(_Input):
    """Reports for task runs of one flow run, applied in order."""

    flow_run_id: uuid.UUID
    reports: list[TaskRunReport] = Field(min_length=1, max_length=MAX_REPORTS)


class TaskRunReportAnswer(BaseModel):
    """What the rules decided for one report. `state`: the run's state when not accepted."""

    task_run_id: uuid.UUID
    status: SetStateStatus
    state: State | None = None
    reason: str | None = None


class TaskRunReportsResult(BaseModel):
    """One answer per report, in order, and the flow run's state type after the batch (a client
    starts no more task runs write-behind in a flow run that is not RUNNING)."""

    answers: list[TaskRunReportAnswer]
    flow_run_state: StateType | None = None


__all__ = [
    "MAX_REPORTS",
    "TaskRunReport",
    "TaskRunReportAnswer",
    "TaskRunReports",
    "TaskRunReportsResult",
    "TaskRunStarted",
    "TaskRunStateReported",
]
