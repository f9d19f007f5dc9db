"""Running one flow run: create it (linked to its parent when it is a subflow) or attach to
one that exists (a deployment's run), propose RUNNING, run the body with its task runner,
decide its state from what the body returned (Prefect 2's rules, `engine.outcomes`), run its
hooks, and retry when told to: a retry runs the body again, and every task run and subflow
that completed in an earlier attempt returns its result without running again.

The run is one step machine (`engine.steps`), driven synchronously by `run()` and awaited by
`run_async()`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from mintaka.client import get_client
from mintaka.client.retrying import patience
from mintaka.context import FlowRunContext, current_tags, flow_run_context
from mintaka.exceptions import Abort, ApiOutageExceeded, FlowRunSuspended, ParameterValidationError
from mintaka.logging import enable_log_prints, engine_logger, flush_logs
from mintaka.schemas import EmpiricalPolicy, FlowRun, FlowRunCreate, SetStateStatus, TaskRunCreate
from mintaka.serializers import DEFAULT_SERIALIZER
from mintaka.settings import get_settings
from mintaka.states import State, StateType

from .deadline import ExecutionDeadline, continuing_state, is_continuing
from .heartbeat import heartbeat_interval, start_beating
from .hooks import FLOW_HOOKS, hooks_for, run_hooks
from .outcomes import aggregate, exception_to_failed_state, final_state_of, futures_to_states, return_value_to_state
from .parameters import (
    bind_parameters,
    check_wait_for,
    collect_task_inputs,
    format_run_name,
    jsonable,
    resolve_futures,
    upstream_futures,
)
from .propose import propose, seconds_until
from .reentry import reenter, subflow_key, take_back_stand_in
from .replay import completed_before, recall_from_api
from .revival import revive
from .steps import Body, Do, Machine, Propose, Sleep, WaitFor, adrive, drive

# After the window, the engine keeps trying to report the run CRASHED for at least this long.
OUTAGE_REPORT_GRACE_SECONDS = 30.0

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.flows import Flow
    from mintaka.schemas import FlowRun, TaskRun


class FlowRunEngine:
    def __init__(
        self, flow: Flow, args: tuple, kwargs: dict, flow_run: FlowRun | None = None, wait_for: list | None = None
    ):
        self.flow = flow
        self.wait_for = list(wait_for or [])
        self._task_inputs: dict[str, Any] = {}
        self.parent_ctx = flow_run_context.get()
        self.client: MintakaClient = self.parent_ctx.client if self.parent_ctx else get_client()
        self.parameters = dict(flow_run.parameters) if flow_run else bind_parameters(flow.fn, args, kwargs)
        self.flow_run: FlowRun | None = flow_run
        self.parent_task_run: TaskRun | None = None
        self.ctx: FlowRunContext | None = None
        self._started_at_creation = False
        self._replays = False  # an existing run executing here may have completed work to recall
        self._persist_results = False
        self.running_labels: dict[str, str] = {}
        self.call_key: tuple[str, int] | None = None
        self.parent_dynamic_key: str | None = None
        if self.parent_ctx is not None and flow_run is None:
            self.parent_dynamic_key, self.call_key = self.parent_ctx.next_keys(f"subflow.{flow.name}")

    @classmethod
    def for_existing_run(
        cls, flow: Flow, flow_run: FlowRun, labels: dict[str, str] | None = None, persist_results: bool = False
    ) -> FlowRunEngine:
        """An engine for a run created elsewhere (e.g. SCHEDULED by a deployment): its RUNNING
        proposal carries `labels`, the body gets the run's parameters, and what completed in
        earlier executions of the run is returned, not run again (`engine.replay`).
        `persist_results`: task and subflow results are persisted unless they say otherwise."""
        engine = cls(flow, (), {}, flow_run=flow_run)
        engine.running_labels = dict(labels or {})
        engine._replays, engine._persist_results = True, persist_results
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

    # -- entry points
    def run(self) -> State:
        return drive(self.machine())

    async def run_async(self) -> State:
        return await adrive(self.machine())

    # -- creation
    def create_run(self) -> FlowRun:
        validation_error = None
        if self.flow.validate_parameters:
            try:
                self.parameters = self.flow.validate(self.parameters)
            except ParameterValidationError as exc:
                validation_error = exc
        if self.parent_ctx is not None:  # a subflow cut off in an earlier execution gets its stand-in back
            stand_in = take_back_stand_in(self.client, self.parent_ctx, self.call_key)
            self.parent_task_run = stand_in or self._create_parent_task_run()
        # Created straight into RUNNING: one write fewer than creating it and then starting it.
        initial = State(type=StateType.RUNNING)
        if validation_error is not None:
            message = f"Validation of flow parameters failed with error: {type(validation_error).__name__}: "
            initial = State(type=StateType.FAILED, message=message + str(validation_error))
        self.flow_run = self.client.create_flow_run(
            FlowRunCreate(
                flow_name=self.flow.name,
                name=self._run_name(),
                parameters=jsonable(self.parameters),
                tags=sorted(current_tags()),
                parent_task_run_id=self.parent_task_run.id if self.parent_task_run else None,
                idempotency_key=subflow_key(self.parent_ctx, self.parent_task_run) if self.parent_task_run else None,
                flow_version=self.flow.version,
                empirical_policy=EmpiricalPolicy(
                    retries=self.flow.retries, retry_delay_seconds=self.flow.retry_delay_list()
                ),
                state=initial,
                heartbeat_interval=heartbeat_interval(),  # this process beats for it: its slots are leased
            )
        )
        if self.parent_task_run is not None and self.flow_run.state.id != initial.id:  # made before: re-entered
            self.flow_run = reenter(self.client, self.flow_run)
            self._replays = True
        self._started_at_creation = self.flow_run.state.type is StateType.RUNNING
        if validation_error is not None:
            if self.parent_task_run is not None:
                self._mirror_to_parent(self.flow_run.state)
            raise validation_error
        self._enter_run()
        self._log().info("Created for flow %r (id %s)", self.flow.name, self.flow_run.id)
        return self.flow_run

    def _run_name(self) -> str | None:
        template = self.flow.flow_run_name
        if template is None:
            return None
        owner = f"flow {self.flow.name!r}"
        return format_run_name("flow_run_name", owner, template, self.parameters, self._call_in_provisional_context)

    def _call_in_provisional_context(self, fn: Any) -> Any:
        """Call `fn` (a flow_run_name callable) inside a context of the run about to be created
        (its flow, parameters and tags; the id is not known yet), so `mintaka.runtime` works."""

        provisional = FlowRun(
            id=uuid.uuid4(),
            name="",
            flow_id=uuid.uuid4(),
            flow_name=self.flow.name,
            parameters=self.parameters,
            tags=sorted(current_tags()),
            parent_task_run_id=self.parent_task_run.id if self.parent_task_run else None,
            run_count=1,
        )
        ctx = FlowRunContext(
            flow=self.flow,
            flow_run=provisional,
            client=self.client,
            task_runner=self.flow.task_runner,
            parameters=self.parameters,
        )
        token = flow_run_context.set(ctx)
        try:
            return fn()
        finally:
            flow_run_context.reset(token)

    def _enter_run(self) -> None:
        log_prints = self.flow.log_prints
        if log_prints is None:
            log_prints = bool(self.parent_ctx and self.parent_ctx.log_prints)
        self.ctx = FlowRunContext(
            flow=self.flow,
            flow_run=self.flow_run,
            client=self.client,
            task_runner=self.flow.task_runner.duplicate(),
            log_prints=log_prints,
            parameters=self.parameters,
            persist_results=self._persist_results or bool(self.parent_ctx and self.parent_ctx.persist_results),
        )
        if log_prints:
            enable_log_prints()

    def _create_parent_task_run(self) -> TaskRun:
        parent = self.parent_ctx
        task_key = f"subflow.{self.flow.name}"
        dynamic_key = self.parent_dynamic_key
        run = self.client.create_task_run(
            TaskRunCreate(
                flow_run_id=parent.flow_run.id,
                task_key=task_key,
                name=f"{self.flow.name}-{dynamic_key}",
                dynamic_key=dynamic_key,
                tags=sorted(current_tags()),
                task_inputs=self._task_inputs,
            )
        )
        propose(self.client, "task_run", run.id, State(type=StateType.RUNNING))
        return run

    def _mirror_to_parent(self, state: State) -> None:
        mirror = State(type=state.type, name=state.name, message=state.message, data=state.data)
        propose(self.client, "task_run", self.parent_task_run.id, mirror)

    def _log(self):
        return engine_logger(self.ctx) if self.ctx else None

    # -- the machine
    def machine(self) -> Machine[State]:
        parent = self.parent_ctx
        if parent is not None:
            done = completed_before(parent, self.call_key)
            if done is not None:  # the parent is retrying or replaying: this subflow completed before
                parent.flow_run_states.append(done)
                return done
        if self.flow_run is None:
            if parent is not None:
                yield from self._settle_upstreams()
            self.create_run()
        ctx = self.ctx
        token = flow_run_context.set(ctx)
        interrupted = False  # cancelled or killed: task bodies may still run; do not wait for them
        stop_beating = start_beating(self.client, self.flow_run.id, self._revive_if_reaped)
        try:
            while True:
                state = yield from self._start_attempt()
                if state is not None:
                    break
                if self._replays and self.flow_run.run_count > 1:  # executed before: recall what completed
                    yield from recall_from_api(self.client, ctx, self._log())
                self._replays = False
                ctx.new_attempt()
                try:
                    value = yield Body(self.flow.fn, self.parameters, self.flow.timeout_seconds)
                except ApiOutageExceeded:
                    raise
                except FlowRunSuspended as exc:
                    yield WaitFor(list(ctx.futures))  # what was submitted ends, and is recorded for the replay
                    self._log().info("%s", exc)
                    return self._finish(exc.state)
                except ExecutionDeadline as exc:
                    yield WaitFor(list(ctx.futures))
                    return (yield from self._out_of_time(exc))
                except Exception as exc:
                    self._log().error("Encountered exception during execution:", exc_info=exc)
                    yield WaitFor(list(ctx.futures))
                    proposed = exception_to_failed_state("Flow", exc, self.flow.timeout_seconds)
                except BaseException as exc:
                    interrupted = True
                    state = self._crash(exc)
                    yield from self._hooks(state)
                    raise
                else:
                    yield WaitFor(list(ctx.futures))
                    try:
                        proposed = self._success_proposal(value)
                    except Exception as exc:  # e.g. the result could not be persisted: fail, never hang RUNNING
                        self._log().error("Could not record the flow run's result:", exc_info=exc)
                        proposed = exception_to_failed_state("Flow", exc, self.flow.timeout_seconds)
                outage = _outage_in(ctx.futures)
                if outage is not None:  # a task run gave up on the API: the run did not really end
                    raise outage
                late = _deadline_in(ctx.futures)
                if late is not None:  # a submitted task could not start in time
                    return (yield from self._out_of_time(late))
                answer = yield Propose(self.client, "flow_run", self.flow_run.id, proposed)
                state = self._adopt(answer.state, proposed)
                if state.type is not StateType.SCHEDULED:
                    break
                self._log().warning("%s. Retrying in %.3g s", state.message or "Retrying", seconds_until(state))
                yield Sleep(seconds_until(state))
            yield from self._hooks(state)
            state = self._finish(state)
            if parent is not None:
                parent.flow_run_states.append(state)
                parent.remember(self.call_key, state)
            return state
        except ApiOutageExceeded as exc:
            interrupted = True
            state = self._crash_after_outage(exc)
            yield from self._hooks(state)
            raise
        finally:
            ctx.task_runner.shutdown(wait=not interrupted)
            stop_beating()
            flow_run_context.reset(token)

    def _revive_if_reaped(self, run: FlowRun) -> None:
        """Each beat's answer: a run the API reaped while the network was away is revived."""
        revive(self.client, run)

    def _settle_upstreams(self) -> Machine[None]:
        """A subflow's futures (as parameters or `wait_for`) are waited for, recorded as its
        upstreams and resolved to their values; one that did not complete raises
        `UpstreamTaskError` to the caller (Prefect 2 does this for parameters; `wait_for` it
        only records, and here it is waited for too)."""
        upstream = upstream_futures([self.parameters, self.wait_for])
        if upstream:
            yield WaitFor(upstream)
        self._task_inputs = collect_task_inputs({**self.parameters, "wait_for": self.wait_for})
        self.parameters = resolve_futures(self.parameters)
        check_wait_for(self.wait_for)

    def _start_attempt(self) -> Machine[State | None]:
        """None: run the body. A state: the run ends with it (e.g. another client owns it)."""
        if self._started_at_creation:
            self._started_at_creation = False
            yield from self._hooks(self.flow_run.state)
            return None
        answer = yield Propose(
            self.client, "flow_run", self.flow_run.id, State(type=StateType.RUNNING), self.running_labels
        )
        if answer.status is SetStateStatus.ABORT:
            raise Abort(answer.details.reason or "Flow run aborted by the orchestrator")
        if answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING:
            # Never mutate a run the client returned: the embedded API may share it.
            self.flow_run = self.flow_run.model_copy(
                update={"run_count": self.flow_run.run_count + 1, "state": answer.state}
            )
            self.ctx.flow_run = self.flow_run
            yield from self._hooks(answer.state)
            return None
        return answer.state

    def _hooks(self, state: State) -> Machine[None]:
        hooks = hooks_for(self.flow, state, FLOW_HOOKS)
        if hooks:
            logger = self._log()
            kwargs = {"flow": self.flow, "flow_run": self.flow_run, "state": state}
            yield Do(lambda: run_hooks(hooks, kwargs, state, logger))

    # -- outcome
    def _success_proposal(self, value: Any) -> State:
        if value is None:
            # No return value: every task run and subflow of this attempt decides (Prefect 2).
            states = [final_state_of(f) for f in self.ctx.futures] + list(self.ctx.flow_run_states)
            if not states:
                return State(type=StateType.COMPLETED).with_result(None)
            state = aggregate(states, None)
            if not state.is_completed():
                state.with_result(states)  # the caller gets the first failure raised
        else:
            state = return_value_to_state(futures_to_states(value))
        persist = self.flow.persist_result
        if persist is None:  # a chosen serializer, or no copy in memory, means keep it (as Prefect 3)
            persist = self.flow.result_serializer != DEFAULT_SERIALIZER or not self.flow.cache_result_in_memory
        if state.type is StateType.COMPLETED and state.data is None and (persist or self.ctx.persist_results):
            from mintaka.results import default_result_store, persist_by_default

            if persist:
                state.data = default_result_store().write(state._result, self.flow.result_serializer)
            else:
                state.data = persist_by_default(state._result, self.flow.result_serializer, self._log())
        return state

    @staticmethod
    def _adopt(answer_state: State, proposed: State) -> State:
        if proposed._has_result and answer_state.type in (proposed.type, StateType.SCHEDULED):
            answer_state.with_result(proposed._result)
        return answer_state

    def _report(self, proposed: State) -> State:
        return self._adopt(propose(self.client, "flow_run", self.flow_run.id, proposed).state, proposed)

    def _out_of_time(self, exc: ExecutionDeadline) -> Machine[State]:
        """The execution's deadline passed: the run goes back to SCHEDULED "Continuing" (the
        worker hands its message back to the queue) and the next execution replays it. A
        subflow ends CRASHED and passes the deadline on: its parent continues, and calls it again."""
        if self.parent_ctx is not None:
            self._crash(exc)
            raise exc
        self._log().info("%s: the flow run continues in the next execution", exc)
        answer = yield Propose(self.client, "flow_run", self.flow_run.id, continuing_state(str(exc)))
        return self._finish(answer.state)

    def _finish(self, state: State) -> State:
        if self.parent_task_run is not None:
            self._mirror_to_parent(state)
        log = self._log()
        if state.is_completed():
            log.info("Finished in state %s", state)
        elif not state.is_paused() and not is_continuing(state):  # suspended or continuing: said when it was
            log.error("Finished in state %s", state)

        flush_logs()
        return state

    def _crash_after_outage(self, exc: ApiOutageExceeded) -> State:
        """The API was away for longer than the window: the run ends CRASHED, reported as soon
        as the API answers again (the report keeps trying for another window)."""
        grace = max(get_settings().api_outage_tolerance, OUTAGE_REPORT_GRACE_SECONDS)
        crashed = State(type=StateType.CRASHED, message=f"{exc}; the flow run was stopped")
        try:
            with patience(grace):
                state = self._report(crashed)
                return self._finish(state)
        except ApiOutageExceeded:
            return crashed  # never reported: the reaper ends the run once its heartbeat stops

    def _crash(self, exc: BaseException) -> State:
        message = f"Flow run was interrupted: {type(exc).__name__}: {exc}".rstrip(": ")
        state = self._report(State(type=StateType.CRASHED, message=message))
        return self._finish(state)


def _deadline_in(futures: list) -> ExecutionDeadline | None:
    """The error of a submitted task run (all are done) that did not start: out of time."""
    for future in futures:
        try:
            future._inner.result()
        except ExecutionDeadline as exc:
            return exc
        except BaseException:  # any other ending is the run's own state
            pass
    return None


def _outage_in(futures: list) -> ApiOutageExceeded | None:
    """The error of a task run (all are done) that gave up because the API was away too long."""
    for future in futures:
        try:
            future._inner.result()
        except ApiOutageExceeded as exc:
            return exc
        except BaseException:  # any other ending is the run's own state
            pass
    return None
