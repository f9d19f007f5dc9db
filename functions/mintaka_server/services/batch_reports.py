"""Task-run reports in batches: the happy path of plain task runs, reported write-behind.

A client that started a task run without waiting for the API (see the SDK's
`mintaka.client.write_behind`) reports its start and its end later, with others, in order. Each
report goes through the service's own `create_task_run` / `set_task_run_state` (the same rules,
the same writes as the single calls), stamped with the time it happened (never later than
now, never before the run's previous state), so a run's history reads as if reported at once.

The batch is checked whole before anything is written: a bad one (another flow run's task run,
an unknown id, a naive timestamp, a start that is not RUNNING) is refused and writes nothing.
A run whose start the rules refused (its flow run is closing, or another run holds its task
key) has its later reports in the batch answered REJECT, not applied: its client reports them
again one by one, when it has heard why.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections.abc import Callable

from mintaka_core.batch_schemas import (
    TaskRunReportAnswer,
    TaskRunReports,
    TaskRunReportsResult,
    TaskRunStarted,
    TaskRunStateReported,
)
from mintaka_core.exceptions import Conflict, InvalidRequest, ObjectNotFound
from mintaka_core.schemas import FlowRun, SetStateRequest, SetStateStatus
from mintaka_core.states import State, StateType
from mintaka_server.orchestration.rules import FLOW_RUN_CLOSED

from ._deferred_starts import DeferredStarts
from .orchestration import OrchestrationService

_REPORTED_TYPES = frozenset({StateType.COMPLETED})  # everything else is proposed one by one


class TaskRunReporting:
    """Applies `TaskRunReports` through an `OrchestrationService`."""

    def __init__(self, service: OrchestrationService):
        self.service = service

    def apply(self, batch: TaskRunReports) -> TaskRunReportsResult:
        flow_run = self.service.read_flow_run(batch.flow_run_id)  # an unknown flow run is a 404
        last = self._check(batch)
        now = self.service.clock()
        open_at = _open_at(self.service, flow_run)
        ended = {r.task_run_id for r in batch.reports if isinstance(r, TaskRunStateReported)}
        # A finished flow run takes no more unfinished task runs: only one that ends in this batch.
        finished = flow_run.state is not None and flow_run.state.is_final()
        # The service as it is, but stamping each report with the time it happened.
        stamping = copy.copy(self.service)
        # A start and its end in one batch are one write (the embedded store's deferred starts);
        # a start whose end is not in the batch is written when the batch has been applied.
        stamping.deferred_starts = _BatchStarts(self.service.store, self.service._remember)
        # One commit for the whole batch where the store can: all of it is written, or (the
        # process dies mid-batch) none, and the client sends it again.
        with self.service.store.batch():
            try:
                answers = self._apply(batch, stamping, now, last, open_at, ended, finished)
            finally:
                stamping.deferred_starts.flush()
        flow_run_state = self.service.store.read_flow_run_state_type(batch.flow_run_id)
        return TaskRunReportsResult(answers=answers, flow_run_state=flow_run_state)

    def _apply(
        self,
        batch: TaskRunReports,
        stamping: OrchestrationService,
        now: dt.datetime,
        last: dict[uuid.UUID, dt.datetime],
        open_at: Callable[[dt.datetime], bool],
        ended: set[uuid.UUID],
        finished: bool,
    ) -> list[TaskRunReportAnswer]:
        answers: list[TaskRunReportAnswer] = []
        not_started: set[uuid.UUID] = set()
        for report in batch.reports:
            if isinstance(report, TaskRunStarted):
                at = min(report.task_run.state.timestamp, now)
                stamping.clock = _fixed(at)
                # A task that began while its flow run was open is recorded as it ran even if the
                # flow run closed before the batch came (as a start written at once would be).
                began_open = open_at(at) and (report.task_run.id in ended or not finished)
                stamping.starts_need_open_flow_run = not began_open
                answer = self._start(stamping, report)
                if answer.status is SetStateStatus.ACCEPT:
                    last[report.task_run.id] = at
                else:
                    not_started.add(report.task_run.id)
            else:
                run_id = report.task_run_id
                if run_id in not_started:
                    reason = "Its start was refused; report its states one by one"
                    answers.append(TaskRunReportAnswer(task_run_id=run_id, status=SetStateStatus.REJECT, reason=reason))
                    continue
                at = min(report.state.timestamp, now)
                previous = last.get(run_id)
                stamping.clock = _fixed(max(at, previous) if previous is not None else at)
                answer = self._propose(stamping, report)
                if answer.status is SetStateStatus.ACCEPT:
                    last[run_id] = stamping.clock()
            answers.append(answer)
        return answers

    def _check(self, batch: TaskRunReports) -> dict[uuid.UUID, dt.datetime]:
        """Refuse a batch that is wrong as a whole, before writing anything. Returns the time of
        the current state of each run the batch reports on without creating it."""
        created: set[uuid.UUID] = set()
        last: dict[uuid.UUID, dt.datetime] = {}
        for i, report in enumerate(batch.reports):
            where = f"reports[{i}]"
            if isinstance(report, TaskRunStarted):
                body = report.task_run
                if body.id is None:
                    raise InvalidRequest(f"{where}.task_run.id: a reported task run needs the id its client chose")
                if body.flow_run_id != batch.flow_run_id:
                    raise InvalidRequest(f"{where}.task_run.flow_run_id: not the batch's flow run {batch.flow_run_id}")
                if body.state is None or body.state.type is not StateType.RUNNING:
                    raise InvalidRequest(f"{where}.task_run.state: a reported task run starts RUNNING")
                if body.state.state_details.cache_key or body.state.state_details.refresh_cache:
                    raise InvalidRequest(
                        f"{where}.task_run.state: a task run with a cache key is not reported in batches"
                    )
                if body.id in created:
                    raise InvalidRequest(f"{where}.task_run.id: task run {body.id} is created twice")
                _aware(body.state, f"{where}.task_run.state")
                created.add(body.id)
                continue
            state = report.state
            if state.type not in _REPORTED_TYPES:
                raise InvalidRequest(
                    f"{where}.state.type: only COMPLETED is reported in batches (got {state.type.value})"
                )
            if not state.state_details.idempotency_key:
                raise InvalidRequest(f"{where}.state.state_details.idempotency_key: required in a batch")
            _aware(state, f"{where}.state")
            run_id = report.task_run_id
            if run_id in created or run_id in last:
                continue
            run = self.service.store.read_task_run(run_id)
            if run is None:
                raise ObjectNotFound(f"{where}: no task run with id {run_id}")
            if run.flow_run_id != batch.flow_run_id:
                raise InvalidRequest(f"{where}: task run {run_id} belongs to another flow run")
            last[run_id] = run.state.timestamp if run.state is not None else run.created
        return last

    @staticmethod
    def _start(service: OrchestrationService, report: TaskRunStarted) -> TaskRunReportAnswer:
        body = report.task_run
        try:
            run = service.create_task_run(body)
        except (InvalidRequest, ObjectNotFound, Conflict) as exc:
            return TaskRunReportAnswer(task_run_id=body.id, status=SetStateStatus.REJECT, reason=str(exc))
        if run.id != body.id:
            reason = f"Task run {run.id} already has this task key and dynamic key"
            return TaskRunReportAnswer(
                task_run_id=body.id, status=SetStateStatus.REJECT, state=run.state, reason=reason
            )
        if run.state is None or run.state.type is StateType.PENDING:
            reason = "The rules did not let it start (propose RUNNING for their answer)"
            return TaskRunReportAnswer(
                task_run_id=body.id, status=SetStateStatus.REJECT, state=run.state, reason=reason
            )
        return TaskRunReportAnswer(task_run_id=body.id, status=SetStateStatus.ACCEPT)

    @staticmethod
    def _propose(service: OrchestrationService, report: TaskRunStateReported) -> TaskRunReportAnswer:
        run_id = report.task_run_id
        try:
            result = service.set_task_run_state(run_id, SetStateRequest(state=report.state))
        except (InvalidRequest, ObjectNotFound, Conflict) as exc:
            return TaskRunReportAnswer(task_run_id=run_id, status=SetStateStatus.REJECT, reason=str(exc))
        accepted = result.status is SetStateStatus.ACCEPT
        return TaskRunReportAnswer(
            task_run_id=run_id,
            status=result.status,
            state=None if accepted else result.state,
            reason=result.details.reason,
        )


def _open_at(service: OrchestrationService, flow_run: FlowRun) -> Callable[[dt.datetime], bool]:
    """Whether the flow run was RUNNING at a given time (read from its history only if it is
    not RUNNING now)."""
    current = flow_run.state
    if current is not None and current.type is StateType.RUNNING:
        return lambda at: at >= current.timestamp
    if current is None or current.type not in FLOW_RUN_CLOSED:
        return lambda at: False
    history = service.store.read_state_history("flow_run", flow_run.id)

    def open_at(at: dt.datetime) -> bool:
        before = [s for s in history if s.timestamp <= at]
        return bool(before) and before[-1].type is StateType.RUNNING

    return open_at


class _BatchStarts(DeferredStarts):
    """Deferred starts of one batch: written by the batch itself, never by a thread."""

    def _start_thread(self) -> None:
        self._thread = threading.current_thread()  # a marker: no thread of its own


def _fixed(at: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: at


def _aware(state: State, where: str) -> None:
    if state.timestamp.tzinfo is None:
        raise InvalidRequest(f"{where}.timestamp: give the time zone (e.g. 2026-01-01T12:00:00Z)")
