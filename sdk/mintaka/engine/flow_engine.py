"""Running one flow run: create it (linked to its parent when it is a subflow) or attach to
one that exists (a deployment's run), propose RUNNING, run the body with its task runner,
report the outcome, retry when told to."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from mintaka.context import FlowRunContext, current_tags, flow_run_context
from mintaka.exceptions import Abort, ParameterValidationError
from mintaka.schemas import EmpiricalPolicy, FlowRunCreate, SetStateStatus, TaskRunCreate
from mintaka.states import State, StateType

from .parameters import bind_parameters, call_with_parameters, jsonable
from .propose import propose, seconds_until
from .task_engine import _exception_message
from .timeouts import await_with_timeout

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.flows import Flow
    from mintaka.schemas import FlowRun, TaskRun


class FlowRunEngine:
    def __init__(self, flow: Flow, args: tuple, kwargs: dict, flow_run: FlowRun | None = None):
        from mintaka.client import get_client

        self.flow = flow
        self.parent_ctx = flow_run_context.get()
        self.client: MintakaClient = self.parent_ctx.client if self.parent_ctx else get_client()
        self.parameters = dict(flow_run.parameters) if flow_run else bind_parameters(flow.fn, args, kwargs)
        self.flow_run: FlowRun | None = flow_run
        self.parent_task_run: TaskRun | None = None
        self.ctx: FlowRunContext | None = None
        self._started_at_creation = False
        self.running_labels: dict[str, str] = {}

    @classmethod
    def for_existing_run(cls, flow: Flow, flow_run: FlowRun, labels: dict[str, str] | None = None) -> FlowRunEngine:
        """An engine for a run created elsewhere (e.g. SCHEDULED by a deployment): its RUNNING
        proposal carries `labels`, and the body gets the run's parameters."""
        engine = cls(flow, (), {}, flow_run=flow_run)
        engine.running_labels = dict(labels or {})
        validation_error = None
        if flow.validate_parameters:
            try:
                engine.parameters = flow.validate(engine.parameters)
            except ParameterValidationError as exc:
                validation_error = exc
        engine._enter_run()
        if validation_error is not None:
            engine._finish(engine._report(State(type=StateType.FAILED, message=str(validation_error))))
            raise validation_error
        return engine

    # -- creation
    def create_run(self) -> FlowRun:
        validation_error = None
        if self.flow.validate_parameters:
            try:
                self.parameters = self.flow.validate(self.parameters)
            except ParameterValidationError as exc:
                validation_error = exc
        if self.parent_ctx is not None:
            self.parent_task_run = self._create_parent_task_run()
        # Created straight into RUNNING: one write fewer than creating it and then starting it.
        initial = State(type=StateType.RUNNING)
        if validation_error is not None:
            initial = State(type=StateType.FAILED, message=str(validation_error))
        self.flow_run = self.client.create_flow_run(
            FlowRunCreate(
                flow_name=self.flow.name,
                parameters=jsonable(self.parameters),
                tags=sorted(current_tags()),
                parent_task_run_id=self.parent_task_run.id if self.parent_task_run else None,
                flow_version=self.flow.version,
                empirical_policy=EmpiricalPolicy(
                    retries=self.flow.retries, retry_delay_seconds=self.flow.retry_delay_list()
                ),
                state=initial,
            )
        )
        self._started_at_creation = self.flow_run.state.type is StateType.RUNNING
        if validation_error is not None:
            if self.parent_task_run is not None:
                self._mirror_to_parent(self.flow_run.state)
            raise validation_error
        self._enter_run()
        self._log().info("Created for flow %r (id %s)", self.flow.name, self.flow_run.id)
        return self.flow_run

    def _enter_run(self) -> None:
        self.ctx = FlowRunContext(
            flow=self.flow,
            flow_run=self.flow_run,
            client=self.client,
            task_runner=self.flow.task_runner.duplicate(),
            log_prints=self.flow.log_prints,
        )
        if self.flow.log_prints:
            from mintaka.logging import enable_log_prints

            enable_log_prints()

    def _create_parent_task_run(self) -> TaskRun:
        parent = self.parent_ctx
        task_key = f"subflow.{self.flow.name}"
        dynamic_key = parent.next_dynamic_key(task_key)
        run = self.client.create_task_run(
            TaskRunCreate(
                flow_run_id=parent.flow_run.id,
                task_key=task_key,
                name=f"{self.flow.name}-{dynamic_key}",
                dynamic_key=dynamic_key,
                tags=sorted(current_tags()),
            )
        )
        propose(self.client, "task_run", run.id, State(type=StateType.RUNNING))
        return run

    def _mirror_to_parent(self, state: State) -> None:
        mirror = State(type=state.type, name=state.name, message=state.message, data=state.data)
        propose(self.client, "task_run", self.parent_task_run.id, mirror)

    def _log(self):
        from mintaka.logging import engine_logger

        return engine_logger(self.ctx) if self.ctx else None

    # -- outcome
    def _success_proposal(self, value: Any) -> State:
        from mintaka.futures import MintakaFuture, MintakaFutureList

        if isinstance(value, State):
            return value
        if isinstance(value, MintakaFuture | MintakaFutureList):
            value = value.result()
        if value is None:
            finals = [f.state for f in self.ctx.futures if f.state is not None]
            failed = [s for s in finals if s.type is not StateType.COMPLETED]
            if failed:
                return State(
                    type=StateType.FAILED,
                    message=f"{len(failed)}/{len(finals)} task runs did not complete",
                )
        state = State(type=StateType.COMPLETED).with_result(value)
        if self.flow.persist_result:
            from mintaka.results import default_result_store

            state.data = default_result_store().write(value, self.flow.result_serializer)
        return state

    def _failure_proposal(self, exc: BaseException) -> State:
        message = _exception_message("Flow", exc, self.flow.timeout_seconds)
        return State(type=StateType.FAILED, message=message).with_result(exc)

    def _report(self, proposed: State) -> State:
        state = propose(self.client, "flow_run", self.flow_run.id, proposed).state
        if proposed._has_result and state.type in (proposed.type, StateType.SCHEDULED):
            state.with_result(proposed._result)
        return state

    def _start_attempt(self) -> State | None:
        """None: run the body. A state: the run ends with it (e.g. another client owns it)."""
        if self._started_at_creation:
            self._started_at_creation = False
            return None
        answer = propose(
            self.client, "flow_run", self.flow_run.id, State(type=StateType.RUNNING), labels=self.running_labels
        )
        if answer.status is SetStateStatus.ABORT:
            raise Abort(answer.details.reason or "Flow run aborted by the orchestrator")
        if answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING:
            return None
        return answer.state

    def _wait_for_futures(self) -> None:
        for future in list(self.ctx.futures):
            future.wait()

    def _finish(self, state: State) -> State:
        if self.parent_task_run is not None:
            self._mirror_to_parent(state)
        log = self._log()
        if state.is_completed():
            log.info("Finished in state %s", state)
        else:
            log.error("Finished in state %s", state)
        from mintaka.logging import flush_logs

        flush_logs()
        return state

    def _crash(self, exc: BaseException) -> None:
        message = f"Flow run was interrupted: {type(exc).__name__}: {exc}".rstrip(": ")
        state = self._report(State(type=StateType.CRASHED, message=message))
        self._finish(state)

    # -- sync
    def run(self) -> State:
        if self.flow_run is None:
            self.create_run()
        token = flow_run_context.set(self.ctx)
        interrupted = False  # cancelled or killed: task bodies may still run; do not wait for them
        try:
            while True:
                final = self._start_attempt()
                if final is not None:
                    return self._finish(final)
                try:
                    from .timeouts import timeout_after

                    with timeout_after(self.flow.timeout_seconds):
                        value = call_with_parameters(self.flow.fn, self.parameters)
                    self._wait_for_futures()
                    proposed = self._success_proposal(value)
                except Exception as exc:
                    self._wait_for_futures()
                    proposed = self._failure_proposal(exc)
                except BaseException as exc:
                    interrupted = True
                    self._crash(exc)
                    raise
                state = self._report(proposed)
                if state.type is not StateType.SCHEDULED:
                    return self._finish(state)
                self.ctx.futures.clear()
                time.sleep(seconds_until(state))
        finally:
            self.ctx.task_runner.shutdown(wait=not interrupted)
            flow_run_context.reset(token)

    # -- async
    async def run_async(self) -> State:
        if self.flow_run is None:
            self.create_run()
        token = flow_run_context.set(self.ctx)
        interrupted = False  # cancelled or killed: task bodies may still run; do not wait for them
        try:
            while True:
                final = self._start_attempt()
                if final is not None:
                    return self._finish(final)
                try:
                    value = await await_with_timeout(
                        call_with_parameters(self.flow.fn, self.parameters), self.flow.timeout_seconds
                    )
                    await asyncio.to_thread(self._wait_for_futures)
                    proposed = self._success_proposal(value)
                except Exception as exc:
                    await asyncio.to_thread(self._wait_for_futures)
                    proposed = self._failure_proposal(exc)
                except BaseException as exc:
                    interrupted = True
                    self._crash(exc)
                    raise
                state = self._report(proposed)
                if state.type is not StateType.SCHEDULED:
                    return self._finish(state)
                self.ctx.futures.clear()
                await asyncio.sleep(seconds_until(state))
        finally:
            self.ctx.task_runner.shutdown(wait=not interrupted)
            flow_run_context.reset(token)
