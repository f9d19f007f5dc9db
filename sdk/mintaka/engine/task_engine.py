"""Running one task run: create it, propose RUNNING, run the body, report the outcome, retry
when the orchestrator says so. The sync and async loops share every step but the body call."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from mintaka.context import FlowRunContext, TaskRunContext, current_tags, task_run_context
from mintaka.exceptions import Abort, FlowRunCancelled, MintakaTimeoutError
from mintaka.schemas import EmpiricalPolicy, SetStateStatus, TaskInput, TaskRunCreate
from mintaka.states import State, StateDetails, StateType, utcnow

from .cancellation import current_cancel_scope
from .parameters import call_with_parameters, collect_task_inputs, resolve_futures
from .propose import apropose, propose, seconds_until
from .timeouts import await_with_timeout

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import TaskRun
    from mintaka.tasks import Task

    from .remote import RemoteTaskCall


def _exception_message(kind: str, exc: BaseException, timeout: float | None) -> str:
    if isinstance(exc, MintakaTimeoutError):
        return f"{kind} run exceeded its timeout of {timeout:g} seconds"
    return f"{kind} run encountered an exception: {type(exc).__name__}: {exc}"


class TaskRunEngine:
    def __init__(
        self,
        task: Task,
        parameters: dict[str, Any],
        flow_ctx: FlowRunContext | None,
        client: MintakaClient,
        wait_for: list[Any] | None = None,
    ):
        self.task = task
        self.parameters = parameters
        self.flow_ctx = flow_ctx
        self.client = client
        self.wait_for = wait_for or []
        self.task_run: TaskRun | None = None
        self._task_inputs = collect_task_inputs(parameters)  # before futures are resolved
        # The id and key are ours before the run exists, so a future can name its run at once
        # and the run is created by whoever starts it (one write: straight into RUNNING).
        self.task_run_id = uuid.uuid4()
        self.dynamic_key = flow_ctx.next_dynamic_key(task.task_key) if flow_ctx else self.task_run_id.hex
        self.name = f"{task.name}-{self.dynamic_key}"
        self.log_prints = task.log_prints if task.log_prints is not None else bool(flow_ctx and flow_ctx.log_prints)

    @classmethod
    def for_remote_call(cls, call: RemoteTaskCall, flow_ctx: FlowRunContext, client: MintakaClient) -> TaskRunEngine:
        """The engine of a task run shipped to this process: the ids its future already names."""
        engine = cls(call.task, call.parameters, flow_ctx, client)
        engine.task_run_id, engine.dynamic_key = call.task_run_id, call.dynamic_key
        engine.name = f"{call.task.name}-{call.dynamic_key}"
        engine._task_inputs = call.task_inputs
        engine.log_prints = call.log_prints
        return engine

    # -- steps shared by sync and async runs
    def create_run(self, initial: State | None = None) -> TaskRun:
        task = self.task
        flow_run_id = self.flow_ctx.flow_run.id if self.flow_ctx else None
        self.task_run = self.client.create_task_run(
            TaskRunCreate(
                id=self.task_run_id,
                flow_run_id=flow_run_id,
                task_key=task.task_key,
                name=self.name,
                dynamic_key=self.dynamic_key,
                tags=sorted(task.tags | current_tags()),
                task_inputs=self.task_inputs,
                empirical_policy=EmpiricalPolicy(
                    retries=task.retries,
                    retry_delay_seconds=task.retry_delay_list(),
                    retry_jitter_factor=task.retry_jitter_factor,
                ),
                state=initial,
            )
        )
        return self.task_run

    def _prepare(self) -> tuple[State | None, State | None]:
        """Create the run if needed and settle its inputs. Returns (failed, first): an upstream
        failure to report, or the state the run was created in when it was created straight
        into RUNNING (one write fewer) or finished from the cache."""
        failed = self.resolve_upstream()
        if failed is not None:
            self.create_run()
            return failed, None
        self.create_run(initial=self._running_proposal())
        first = self.task_run.state
        return None, (None if first.type is StateType.PENDING else first)

    @property
    def task_inputs(self) -> dict[str, Any]:
        """The upstream task runs this run depends on, as recorded on it."""
        inputs = dict(self._task_inputs)
        if self.wait_for:
            inputs["wait_for"] = [TaskInput(id=f.task_run_id) for f in self.wait_for if getattr(f, "task_run_id", None)]
        return inputs

    def resolve_upstream(self) -> State | None:
        """Resolve futures passed as arguments (and wait for `wait_for`); returns the failure to
        report if an upstream run did not complete (this run then does not start)."""
        try:
            self.parameters = resolve_futures(self.parameters)
            for future in self.wait_for:
                if hasattr(future, "wait"):
                    future.wait()
        except BaseException as exc:  # an upstream run failed: do not run this one
            return State(
                type=StateType.FAILED,
                name="NotReady",
                message=f"Upstream task run did not complete: {exc}",
            ).with_result(exc)
        return None

    def _running_proposal(self) -> State:
        details: dict[str, Any] = {"task_run_id": self.task_run.id} if self.task_run else {}
        if self.task.cache_key_fn is not None:
            ctx = TaskRunContext(self.task, self.task_run, self.client, self.parameters)
            key = self.task.cache_key_fn(ctx, self.parameters)
            if key is not None:
                details["cache_key"] = str(key)
                if self.task.cache_expiration is not None:
                    details["cache_expiration"] = utcnow() + self.task.cache_expiration
        self._cache_details = {k: v for k, v in details.items() if k.startswith("cache")}
        return State(type=StateType.RUNNING, state_details=StateDetails(**details))

    def _should_persist(self) -> bool:
        if self.task.persist_result is not None:
            return self.task.persist_result
        return bool(self._cache_details.get("cache_key"))

    def _success_proposal(self, value: Any) -> State:
        if isinstance(value, State):  # the user's own: its details are copied, not changed
            value.state_details = value.state_details.model_copy(update=self._cache_details)
            return value
        details = StateDetails(**self._cache_details)
        proposed = State(type=StateType.COMPLETED, state_details=details).with_result(value)
        if self._should_persist():
            from mintaka.results import default_result_store

            proposed.data = default_result_store().write(value, self.task.result_serializer)
        return proposed

    def _failure_proposal(self, exc: BaseException) -> State:
        message = _exception_message("Task", exc, self.task.timeout_seconds)
        return State(type=StateType.FAILED, message=message).with_result(exc)

    @staticmethod
    @staticmethod
    def _adopt(answer_state: State, proposed: State) -> State:
        """The server's state, carrying the proposal's in-memory result (value or exception)."""
        if proposed._has_result and answer_state.type in (proposed.type, StateType.SCHEDULED):
            answer_state.with_result(proposed._result)
        return answer_state

    def _log_outcome(self, state: State) -> None:
        """Failures are worth a line; successes stay off the console (hot path)."""
        if state.type is StateType.COMPLETED:
            return
        from mintaka.logging import engine_logger

        log = engine_logger(self._context())
        if state.type is StateType.SCHEDULED:
            log.warning("%s. Retrying in %.3g s", state.message, seconds_until(state))
        else:
            log.error("Finished in state %s", state)

    def _context(self) -> TaskRunContext:
        return TaskRunContext(self.task, self.task_run, self.client, self.parameters, self.log_prints)

    def _report_cancelled(self) -> None:
        """The flow run was cancelled while this task ran: the task run ends CANCELLED too."""
        cancelled = State(type=StateType.CANCELLED, message="The flow run was cancelled")
        propose(self.client, "task_run", self.task_run.id, cancelled)

    def _on_start_answer(self, answer) -> State | None:
        """None: go ahead and run the body. A state: the run ends here with it."""
        if answer.status is SetStateStatus.ABORT:
            # It will never start (its flow run is ending, or a limit is 0): say so on the run.
            reason = answer.details.reason or "Task run aborted by the orchestrator"
            propose(self.client, "task_run", self.task_run.id, State(type=StateType.CANCELLED, message=reason))
            raise Abort(reason)
        state = answer.state
        if answer.status is SetStateStatus.ACCEPT and state.type is StateType.RUNNING:
            return None
        return state  # cached, already finished, or owned by another client

    # -- sync
    def run(self) -> State:
        failed, first = self._prepare()
        if failed is not None:
            return self._adopt(propose(self.client, "task_run", self.task_run.id, failed).state, failed)
        while True:
            if first is None:
                answer = propose(self.client, "task_run", self.task_run.id, self._running_proposal())
                final = self._on_start_answer(answer)
            else:
                final, first = (None if first.type is StateType.RUNNING else first), None
            if final is not None:
                return final
            token = task_run_context.set(self._context())
            scope = current_cancel_scope.get()  # set when a deployed run executes here
            try:
                from .timeouts import timeout_after

                if scope is not None:
                    scope.track_thread(threading.get_ident(), running=True)
                with timeout_after(self.task.timeout_seconds):
                    value = call_with_parameters(self.task.fn, self.parameters)
                proposed = self._success_proposal(value)
            except Exception as exc:  # a timeout is one too (MintakaTimeoutError)
                proposed = self._failure_proposal(exc)
            except FlowRunCancelled:
                self._report_cancelled()
                raise
            finally:
                if scope is not None:
                    scope.track_thread(threading.get_ident(), running=False)
                task_run_context.reset(token)
            state = self._adopt(propose(self.client, "task_run", self.task_run.id, proposed).state, proposed)
            self._log_outcome(state)
            if state.type is not StateType.SCHEDULED:
                return state
            time.sleep(seconds_until(state))

    # -- async
    async def run_async(self) -> State:
        failed, first = self._prepare()
        if failed is not None:
            answer = await apropose(self.client, "task_run", self.task_run.id, failed)
            return self._adopt(answer.state, failed)
        while True:
            if first is None:
                answer = await apropose(self.client, "task_run", self.task_run.id, self._running_proposal())
                final = self._on_start_answer(answer)
            else:
                final, first = (None if first.type is StateType.RUNNING else first), None
            if final is not None:
                return final
            token = task_run_context.set(self._context())
            try:
                value = await await_with_timeout(
                    call_with_parameters(self.task.fn, self.parameters), self.task.timeout_seconds
                )
                proposed = self._success_proposal(value)
            except Exception as exc:  # a timeout is one too (MintakaTimeoutError)
                proposed = self._failure_proposal(exc)
            except FlowRunCancelled:
                self._report_cancelled()
                raise
            finally:
                task_run_context.reset(token)
            answer = await apropose(self.client, "task_run", self.task_run.id, proposed)
            state = self._adopt(answer.state, proposed)
            self._log_outcome(state)
            if state.type is not StateType.SCHEDULED:
                return state
            await asyncio.sleep(seconds_until(state))
