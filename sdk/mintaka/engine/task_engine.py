"""Running one task run: settle its upstreams, create it (straight into RUNNING when the rules
allow), run the body, report the outcome, retry when the orchestrator says so, then its hooks.

The run is one step machine (`engine.steps`): `run()` drives it synchronously, `run_async()`
awaits it, so sync and async task runs share every step.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from mintaka._ids import new_id
from mintaka.clock import now
from mintaka.context import FlowRunContext, TaskRunContext, current_tags, task_run_context
from mintaka.exceptions import Abort, FlowRunCancelled, UpstreamTaskError
from mintaka.logging import enable_log_prints, engine_logger
from mintaka.results import cached_result_problem, default_result_store, persist_by_default
from mintaka.schemas import EmpiricalPolicy, SetStateStatus, TaskInput, TaskRun, TaskRunCreate
from mintaka.serializers import DEFAULT_SERIALIZER
from mintaka.states import NOT_READY, State, StateDetails, StateType

from .cancellation import current_cancel_scope
from .deadline import check_deadline
from .heartbeat import HEARTBEAT
from .hooks import TASK_HOOKS, hooks_for, run_hooks
from .outcomes import exception_to_failed_state
from .parameters import check_wait_for, collect_task_inputs, format_run_name, resolve_futures, upstream_futures
from .propose import seconds_until
from .replay import completed_before
from .revival import revive
from .steps import Body, Call, Do, Machine, Propose, Sleep, WaitFor, adrive, drive

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.tasks import Task

    from .remote import RemoteTaskCall


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
        self.wait_for = list(wait_for or [])
        self.task_run: TaskRun | None = None
        self._task_inputs = collect_task_inputs(parameters)  # before futures are resolved
        self._cache_details: dict[str, Any] = {}
        self._refused_cache_hit = False  # a cache hit failed our checks: run, and replace the entry
        # The id and key are ours before the run exists, so a future can name its run at once
        # and the run is created by whoever starts it (one write: straight into RUNNING).
        self.task_run_id = new_id()
        if flow_ctx is not None:
            self.dynamic_key, self.call_key = flow_ctx.next_keys(task.task_key)
        else:
            self.dynamic_key, self.call_key = self.task_run_id.hex, None
        self.name = f"{task.name}-{self.dynamic_key}"
        self.log_prints = task.log_prints if task.log_prints is not None else bool(flow_ctx and flow_ctx.log_prints)

    @classmethod
    def for_remote_call(cls, call: RemoteTaskCall, flow_ctx: FlowRunContext, client: MintakaClient) -> TaskRunEngine:
        """The engine of a task run shipped to this process: the ids its future already names."""
        engine = cls(call.task, call.parameters, flow_ctx, client)
        engine.task_run_id, engine.dynamic_key, engine.call_key = call.task_run_id, call.dynamic_key, None
        engine.name = f"{call.task.name}-{call.dynamic_key}"
        engine._task_inputs = call.task_inputs
        engine.log_prints = call.log_prints
        return engine

    # -- entry points
    def run(self) -> State:
        return drive(self.machine())

    async def run_async(self) -> State:
        return await adrive(self.machine())

    # -- the machine
    def machine(self) -> Machine[State]:
        if self.flow_ctx is None:
            return self._leased(self._machine())
        return self._machine()

    def _leased(self, machine: Machine[State]) -> Machine[State]:
        """A task run called outside any flow has no flow run whose heartbeat keeps its slots:
        this process beats for the task run itself while it runs (and revives it if the API
        reaped it while out of reach), so a killed process's slots go back to others."""

        with HEARTBEAT.beating(self.client, self.task_run_id, lambda run: revive(self.client, run), kind="task_run"):
            return (yield from machine)

    def _machine(self) -> Machine[State]:
        ctx = self.flow_ctx
        if ctx is not None:
            done = completed_before(ctx, self.call_key)
            if done is not None:  # a flow retry or a replay: this call completed in an earlier attempt
                return done
            check_deadline(self.name)  # out of time: the run continues in the next execution
        if self.wait_for or self._task_inputs:
            yield WaitFor(upstream_futures([self.parameters, self.wait_for]))
        not_ready = self.resolve_upstream()
        if not_ready is not None:
            self.task_run = yield Call(self.client, "create_task_run", self._create_body(not_ready))
            return self._adopt(self.task_run.state, not_ready)
        self.name = self._run_name()
        # Outside any flow the run is created PENDING: its start declares the heartbeat interval.
        running = self._running_proposal() if ctx is not None else None
        self.task_run = yield Call(self.client, "create_task_run", self._create_body(running))
        first: State | None = self.task_run.state
        while True:
            if first is None or first.type is StateType.PENDING:
                answer = yield Propose(self.client, "task_run", self.task_run.id, self._running_proposal())
                if answer.status is SetStateStatus.ABORT:
                    # It will never start (its flow run is ending, or a limit is 0): say so on the run.
                    reason = answer.details.reason or "Task run aborted by the orchestrator"
                    cancelled = State(type=StateType.CANCELLED, message=reason)
                    yield Propose(self.client, "task_run", self.task_run.id, cancelled)
                    raise Abort(reason)
                if not (answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING):
                    state = answer.state  # cached, already finished, or owned by another client
                    if self._refuse_cache_hit(state):
                        first = (yield Propose(self.client, "task_run", self.task_run.id, self._reopen())).state
                        continue
                    break
                # Never mutate a run the client returned: the embedded API may share it.
                self.task_run = self.task_run.model_copy(
                    update={"run_count": self.task_run.run_count + 1, "state": answer.state}
                )
            elif first.type is not StateType.RUNNING:
                state = first  # finished at creation (cached)
                if self._refuse_cache_hit(state):
                    first = (yield Propose(self.client, "task_run", self.task_run.id, self._reopen())).state
                    continue
                break
            first = None
            try:
                value = yield Body(self.task.fn, self.parameters, self.task.timeout_seconds, self._enter, self._exit)
                proposed = self._success_proposal(value)
            except FlowRunCancelled:
                cancelled = State(type=StateType.CANCELLED, message="The flow run was cancelled")
                yield Propose(self.client, "task_run", self.task_run.id, cancelled)
                raise
            except Exception as exc:  # a timeout is one too (MintakaTimeoutError)
                self._logger().error("Encountered exception during execution:", exc_info=exc)
                proposed = self._failure_proposal(exc)
                if self.task.retry_condition_fn is not None:
                    yield Do(lambda proposed=proposed: self._check_retriable(proposed))
            answer = yield Propose(self.client, "task_run", self.task_run.id, proposed)
            state = self._adopt(answer.state, proposed)
            if not self.task.cache_result_in_memory and state.data is not None:
                state._result, state._has_result = None, False  # read back from storage when asked
            self._log_outcome(state)
            if state.type is not StateType.SCHEDULED:
                break
            yield Sleep(seconds_until(state))
        hooks = hooks_for(self.task, state, TASK_HOOKS)
        if hooks:
            self.task_run = self.task_run.model_copy(update={"state": state})
            logger = self._logger()
            kwargs = {"task": self.task, "task_run": self.task_run, "state": state}
            yield Do(lambda: run_hooks(hooks, kwargs, state, logger))
        if ctx is not None:
            ctx.remember(self.call_key, state)
        return state

    # -- steps' pieces
    def _create_body(self, initial: State | None) -> TaskRunCreate:
        task = self.task
        return TaskRunCreate(
            id=self.task_run_id,
            flow_run_id=self.flow_ctx.flow_run.id if self.flow_ctx else None,
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

    def create_run(self, initial: State | None = None) -> TaskRun:
        """Create the run now (for runners that drive a run elsewhere, e.g. to record that it
        could not be sent)."""
        self.task_run = self.client.create_task_run(self._create_body(initial))
        return self.task_run

    @property
    def task_inputs(self) -> dict[str, Any]:
        """The upstream task runs this run depends on, as recorded on it."""
        inputs = dict(self._task_inputs)
        if self.wait_for:
            waited = collect_task_inputs({"wait_for": self.wait_for}).get("wait_for")
            if waited:
                inputs["wait_for"] = [TaskInput(id=i.id) for i in waited]
        return inputs

    def resolve_upstream(self) -> State | None:
        """Resolve futures and states passed as arguments (and check `wait_for`); returns the
        NotReady state to report if an upstream run did not complete (the body never runs)."""
        try:
            self.parameters = resolve_futures(self.parameters)
            check_wait_for(self.wait_for)
        except UpstreamTaskError as exc:
            return State(type=StateType.PENDING, name=NOT_READY, message=str(exc)).with_result(exc)
        return None

    def _run_name(self) -> str:
        template = self.task.task_run_name
        if template is None:
            return self.name
        owner = f"task {self.task.name!r}"
        return format_run_name("task_run_name", owner, template, self.parameters, self._call_in_context)

    def _call_in_context(self, fn: Any) -> Any:
        """Call `fn` (a task_run_name callable) within the run's context, as Prefect calls it."""
        ctx = TaskRunContext(self.task, self._provisional_run(), self.client, self.parameters, self.log_prints)
        token = task_run_context.set(ctx)
        try:
            return fn()
        finally:
            task_run_context.reset(token)

    def _provisional_run(self) -> TaskRun:
        """The run's record as it will be created (for `cache_key_fn`'s context)."""
        return TaskRun(
            id=self.task_run_id,
            name=self.name,
            flow_run_id=self.flow_ctx.flow_run.id if self.flow_ctx else None,
            task_key=self.task.task_key,
            dynamic_key=self.dynamic_key,
            tags=sorted(self.task.tags | current_tags()),
            run_count=1,
        )

    def _running_proposal(self) -> State:
        details: dict[str, Any] = {"task_run_id": self.task_run.id} if self.task_run else {}
        self._cache_details = {}
        if self.task.cache_key_fn is not None:
            key = self._cache_key()
            if key is not None:
                details["cache_key"] = str(key)
                if self.task.cache_expiration is not None:
                    details["cache_expiration"] = now() + self.task.cache_expiration
                self._cache_details = {k: v for k, v in details.items() if k.startswith("cache")}
        if self.task.refresh_cache or self._refused_cache_hit:
            details["refresh_cache"] = True
        return State(type=StateType.RUNNING, state_details=StateDetails(**details))

    def _cache_key(self) -> Any:
        """`cache_key_fn(context, parameters)`, with the task run's context set while it runs."""
        run = self.task_run or self._provisional_run()
        ctx = TaskRunContext(self.task, run, self.client, self.parameters, self.log_prints)
        token = task_run_context.set(ctx)
        try:
            return self.task.cache_key_fn(ctx, self.parameters)
        finally:
            task_run_context.reset(token)

    def _refuse_cache_hit(self, state: State) -> bool:
        """Whether `state` is a cache hit whose result fails this client's checks (it is outside
        our result storage, or its digest does not match): then, once, the task runs instead."""
        key = self._cache_details.get("cache_key")
        if self._refused_cache_hit or not key or state.name != "Cached" or state.data is None:
            return False

        problem = cached_result_problem(state.data, key, default_result_store(self.client))
        if problem is None:
            return False
        self._logger().warning("Cached result for key %r not used, the task runs instead: %s", key, problem)
        self._refused_cache_hit = True
        return True

    @staticmethod
    def _reopen() -> State:
        """Back to PENDING from a refused cache hit (the rules allow it only from "Cached")."""
        message = "The cached result failed this client's checks; the task runs instead"
        return State(type=StateType.PENDING, message=message, state_details=StateDetails(refresh_cache=True))

    def _enter(self) -> Any:
        token = task_run_context.set(self._context())
        if self.log_prints:
            enable_log_prints()
        scope = current_cancel_scope.get()  # set when a deployed run executes here
        if scope is not None:
            scope.track_thread(threading.get_ident(), running=True)
        return token, scope

    @staticmethod
    def _exit(entered: Any) -> None:
        token, scope = entered
        if scope is not None:
            scope.track_thread(threading.get_ident(), running=False)
        task_run_context.reset(token)

    def _check_retriable(self, failed: State) -> None:
        """Prefect's `retry_condition_fn(task, task_run, state)`: False (or an error in it)
        means this failure is final, whatever retries are left."""
        try:
            retriable = bool(self.task.retry_condition_fn(self.task, self.task_run, failed))
        except Exception:
            self._logger().error(
                "An error was encountered while running `retry_condition_fn` check %r for task %r",
                self.task.retry_condition_fn,
                self.task.name,
                exc_info=True,
            )
            retriable = False
        if not retriable:
            failed.state_details.retriable = False

    def _should_persist(self) -> bool | None:
        """True: persist. None: persist if it can be (a deployed run's default, for its replay)."""
        if not self.task.cache_result_in_memory:
            return True
        if self.task.persist_result is not None:
            return self.task.persist_result
        if self.task.result_serializer != DEFAULT_SERIALIZER:  # a chosen serializer means keep it
            return True
        if self._cache_details.get("cache_key"):
            return True
        return None if self.flow_ctx is not None and self.flow_ctx.persist_results else False

    def _success_proposal(self, value: Any) -> State:
        if isinstance(value, State):  # the user's own: its details are copied, not changed
            value.state_details = value.state_details.model_copy(update=self._cache_details)
            return value
        details = StateDetails(**self._cache_details)
        proposed = State(type=StateType.COMPLETED, state_details=details).with_result(value)
        persist = self._should_persist()
        if persist:
            scope = self._cache_details.get("cache_key")  # a cached result verifies only for its key
            proposed.data = default_result_store().write(value, self.task.result_serializer, scope=scope)
        elif persist is None:
            proposed.data = persist_by_default(value, self.task.result_serializer, self._logger())
        return proposed

    def _failure_proposal(self, exc: BaseException) -> State:
        return exception_to_failed_state("Task", exc, self.task.timeout_seconds)

    @staticmethod
    def _adopt(answer_state: State, proposed: State) -> State:
        """The server's state, carrying the proposal's in-memory result (value or exception)."""
        if proposed._has_result and answer_state.type in (proposed.type, StateType.SCHEDULED):
            answer_state.with_result(proposed._result)
        return answer_state

    def _logger(self) -> logging.LoggerAdapter:

        return engine_logger(self._context())

    def _log_outcome(self, state: State) -> None:
        """Failures are worth a line; successes stay off the console (hot path)."""
        if state.type is StateType.COMPLETED:
            return
        log = self._logger()
        if state.type is StateType.SCHEDULED:
            log.warning("%s. Retrying in %.3g s", state.message, seconds_until(state))
        else:
            log.error("Finished in state %s", state)

    def _context(self) -> TaskRunContext:
        return TaskRunContext(self.task, self.task_run, self.client, self.parameters, self.log_prints)
