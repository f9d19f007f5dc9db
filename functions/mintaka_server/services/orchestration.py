"""The service layer: the one place requests meet the rules engine and the store.

The FastAPI routers and the SDK's embedded transport both call this, so a flow run on a
laptop and one on Lambda go through the same validation, rules and writes.
"""

from __future__ import annotations

import contextlib
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

from mintaka_core.copying import updated
from mintaka_core.exceptions import InvalidRequest, MintakaError, ObjectNotFound
from mintaka_core.ids import new_id
from mintaka_core.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ConcurrencyLimit,
    ConcurrencyLimitCreate,
    Flow,
    FlowCreate,
    FlowRun,
    FlowRunCreate,
    FlowRunDetail,
    FlowRunFilter,
    FlowRunPage,
    FlowRunResume,
    Log,
    LogCreate,
    OrchestrationDetails,
    OrchestrationResult,
    PolicyScope,
    ResultStorageSetting,
    RetryPolicy,
    RetryPolicySet,
    SetStateRequest,
    SetStateStatus,
    TaskRun,
    TaskRunCreate,
)
from mintaka_core.states import State, StateType, utcnow
from mintaka_server.orchestration import (
    Decision,
    RunSnapshot,
    SlotUsage,
    TransitionContext,
    evaluate,
    force,
)
from mintaka_server.orchestration.context import RunKind, lease_expiry, work_queue_slot
from mintaka_server.orchestration.json_schema import remote_reference_problem
from mintaka_server.orchestration.rules import FLOW_RUN_CLOSED, REQUEUED, RESUMING, SLOT_WAIT_SECONDS
from mintaka_server.services._deferred_starts import DEFAULT_DELAY, DeferredStart, DeferredStarts
from mintaka_server.services._leases import LeaseKeeping
from mintaka_server.services.api_keys import ApiKeyService
from mintaka_server.services.retry_policies import RetryPolicyService
from mintaka_server.storage import FlowRunClosed, SlotsUnavailable, Store, TransitionWrite, VersionConflict

Run = TypeVar("Run", FlowRun, TaskRun)

# Server settings: small JSON documents in the store, by name.
RESULT_STORAGE_SETTING = "result_storage"
logger = logging.getLogger(__name__)
_ENDINGS_RETRIED = frozenset({StateType.FAILED, StateType.CRASHED})  # the retry rules' FROM-RUNNING proposals

# A transition that keeps losing races is answered with the run's state as it then stands.
MAX_CONFLICT_RETRIES = 8
# Runs this service wrote last, by id: the next proposal for one skips its read. Safe because
# every write of a run is conditional on its version (a stale entry only costs a conflict).
RECENT_RUNS = 4096


class OrchestrationService(LeaseKeeping):
    """Flows, runs, states, logs and concurrency limits, orchestrated by the core policy."""

    # False only for a start reported after the fact, made while its flow run was open (batch_reports)
    starts_need_open_flow_run = True

    default_result_storage: str | None = None  # e.g. s3://bucket/results; the composition sets it

    def __init__(self, store: Store, clock: Callable = utcnow, rng: random.Random | None = None):
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.api_keys = ApiKeyService(store, clock=clock)
        self.retry_policies = RetryPolicyService(store, clock=clock)
        # Called with a flow run the rules requeued (its executor was lost), so that it reaches
        # its work queue again; the deployment service sets it when its queue needs a message.
        self.on_requeued: Callable[[FlowRun], None] | None = None
        # Oldest first. An OrderedDict, not a dict: a dict's first key after many deletions from
        # the front is found by skipping every deleted slot, thousands of them per write here.
        self._recent: OrderedDict[uuid.UUID, FlowRun | TaskRun] = OrderedDict()
        # One write per short task (the embedded transport turns it on): see `_deferred_starts`.
        self.deferred_starts: DeferredStarts | None = None

    def defer_task_starts(self, delay: float = DEFAULT_DELAY) -> None:
        self.deferred_starts = DeferredStarts(self.store, self._remember, delay)

    def write_deferred_starts(self) -> None:
        """Write every task start still deferred (before any read or decision that may need it)."""
        if self.deferred_starts is not None:
            self.deferred_starts.flush()

    def _remember(self, run: FlowRun | TaskRun) -> None:
        recent = self._recent
        if len(recent) >= RECENT_RUNS:
            with contextlib.suppress(KeyError):  # another thread got there first
                recent.popitem(last=False)
        recent[run.id] = run

    # -- flows
    def create_flow(self, body: FlowCreate) -> Flow:
        return self.store.ensure_flow(body.name)

    def list_flows(self, limit: int = 200) -> list[Flow]:
        return self.store.list_flows(limit)

    # -- flow runs
    def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        return self.create_flow_run_once(body)[0]

    def create_flow_run_once(self, body: FlowRunCreate) -> tuple[FlowRun, bool]:
        """The run, and whether this call created it (False: its idempotency key was taken).

        The run is built and checked before anything is written: a refused run leaves no flow."""
        if body.state is not None:
            _refuse_unusable_input_schema(body.state)
        run_id = new_id()
        state = self._initial_state(body.state, flow_run_id=run_id)
        run = FlowRun(
            id=run_id,
            flow_id=uuid.UUID(int=0),  # the flow's, once it is ensured below
            flow_name=body.flow_name,
            name=body.name or _run_name(),
            parameters=body.parameters,
            tags=body.tags,
            parent_task_run_id=body.parent_task_run_id,
            idempotency_key=body.idempotency_key,
            flow_version=body.flow_version,
            empirical_policy=body.empirical_policy,
            state=state,
            created=state.timestamp,
            deployment_id=body.deployment_id,
            deployment_name=body.deployment_name,
            work_queue_name=body.work_queue_name,
            labels=body.labels,
            expected_start_time=state.state_details.scheduled_time or state.timestamp,
            heartbeat_interval=body.heartbeat_interval if state.type is StateType.RUNNING else None,
            **_initial_bookkeeping(state),
        )
        _check_record_size(self.store, run)
        flow = self.store.ensure_flow(body.flow_name)
        run = run.model_copy(update={"flow_id": flow.id, "flow_name": flow.name})
        if state.type is StateType.RUNNING:  # started at creation: history reads Pending, Running
            pending = State(type=StateType.PENDING, timestamp=state.timestamp, state_details={"flow_run_id": run_id})
            lease = lease_expiry(state.timestamp, body.heartbeat_interval) if body.heartbeat_interval else None
            stored = self.store.create_flow_run(
                run.model_copy(update={"state_version": 1}), history_before=[pending], lease_expires=lease
            )
        else:
            stored = self.store.create_flow_run(run)
        return stored, stored.id == run_id

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun:
        return _found(self.store.read_flow_run(run_id), f"No flow run with id {run_id}")

    def read_flow_run_detail(self, run_id: uuid.UUID) -> FlowRunDetail:
        run = self.read_flow_run(run_id)
        return FlowRunDetail(
            **run.model_dump(),
            states=self.store.read_state_history("flow_run", run_id),
            task_runs=self.store.list_task_runs(run_id),
        )

    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        return self.store.list_flow_runs(flt)

    def set_flow_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        return self._set_state("flow_run", run_id, body)

    def resume_flow_run(self, run_id: uuid.UUID, body: FlowRunResume) -> OrchestrationResult:
        """Resume a paused run, with the input its pause waits for (`run_input`); input its
        schema refuses is an `InvalidRequest` naming the field, and the run stays paused."""
        from .resume import resume_flow_run  # it imports this module

        return resume_flow_run(self, run_id, body)

    def read_flow_run_states(self, run_id: uuid.UUID) -> list[State]:
        # One read: only an empty answer needs to tell "no such run" from "no states yet".
        states = self.store.read_state_history("flow_run", run_id)
        if not states:
            self.read_flow_run(run_id)
        return states

    # -- task runs
    def create_task_run(self, body: TaskRunCreate) -> TaskRun:
        """The store checks the flow run in the same write (missing: `ObjectNotFound`); it is
        never read first."""
        run_id = body.id or new_id()
        state = self._initial_state(body.state, flow_run_id=body.flow_run_id, task_run_id=run_id)
        run = TaskRun(
            id=run_id,
            flow_run_id=body.flow_run_id,
            task_key=body.task_key,
            name=body.name or f"{body.task_key}-{body.dynamic_key}",
            dynamic_key=body.dynamic_key,
            tags=body.tags,
            task_inputs=body.task_inputs,
            empirical_policy=body.empirical_policy,
            state=state,
            created=state.timestamp,
            **_initial_bookkeeping(state),
        )
        if state.type is StateType.RUNNING:
            created = self._create_started_task_run(run)
        else:
            created = self.store.create_task_run(run)
        if created.id == run_id:  # an existing run answered instead may be older than its store row
            self._remember(created)
        return created

    def _create_started_task_run(self, run: TaskRun) -> TaskRun:
        """A task run created straight into RUNNING (one write instead of two) passes the same
        rules as a proposal: cache, concurrency slots, and "no task starts in a finished or
        cancelling flow run", which the store checks in the write itself (`FlowRunClosed`)
        instead of the service reading the flow run first. Its history reads Pending, Running
        as if proposed. Anything but a plain accept creates it PENDING, and the client's next
        proposal gets the full answer (WAIT, ABORT, ...)."""
        proposed = run.state
        ids = {"task_run_id": run.id, "flow_run_id": run.flow_run_id}
        pending = State(type=StateType.PENDING, timestamp=proposed.timestamp, state_details=ids)
        blank = updated(run, state=pending, run_count=0, start_time=None, end_time=None)
        decision = evaluate(self._context("task_run", blank, proposed, read_flow_run=False))
        if not (decision.is_accept and decision.commit) or decision.reclaim:
            # Slots to take back from silent holders: the proposal that follows does it.
            return self.store.create_task_run(blank)
        started = updated(
            blank,
            state=decision.state,
            state_version=1,
            run_count=decision.run_count or 0,
            start_time=decision.start_time,
            end_time=decision.end_time,
            held_slots=list(decision.acquire_slots),
        )
        if self.deferred_starts is not None and not decision.acquire_slots and self._may_start_in(run.flow_run_id):
            self.deferred_starts.add(DeferredStart(started, [pending, *decision.history_before]))
            return started
        try:
            return self.store.create_task_run(
                started,
                history_before=[pending, *decision.history_before],
                acquire_slots=decision.acquire_slots,
                require_open_flow_run=self.starts_need_open_flow_run,
            )
        except (SlotsUnavailable, FlowRunClosed):
            return self.store.create_task_run(blank)

    def read_task_run(self, run_id: uuid.UUID) -> TaskRun:
        return _found(self.store.read_task_run(run_id), f"No task run with id {run_id}")

    def read_task_run_states(self, run_id: uuid.UUID) -> list[State]:
        states = self.store.read_state_history("task_run", run_id)
        if not states:
            self.read_task_run(run_id)
        return states

    def set_task_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        if self.deferred_starts is not None:
            start = self.deferred_starts.take(run_id)
            if start is not None:
                answer = self._end_deferred_start(start, body)
                if answer is not None:
                    return answer
        return self._set_state("task_run", run_id, body)

    def _may_start_in(self, flow_run_id: uuid.UUID | None) -> bool:
        """The flow run exists and starts tasks (what the store checks when it writes a start)."""
        if flow_run_id is None:
            return False
        if not self.starts_need_open_flow_run:
            # A batch's start (`batch_reports`): its flow run was read by the batch (runs are never
            # deleted) and need not be open, so the read per start would answer nothing new.
            return True
        state_type = self.store.read_flow_run_state_type(flow_run_id)
        return state_type is not None and state_type not in FLOW_RUN_CLOSED

    def _end_deferred_start(self, start: DeferredStart, body: SetStateRequest) -> OrchestrationResult | None:
        """A plain ending of a task whose start is unwritten: both in one write. Anything else
        (a refusal, slots, a cache entry, force): the start is written and None returned, for the
        proposal to take the ordinary way."""
        run = start.run
        proposed = _stamped(body.state, "task_run", run, self.clock())
        ctx = self._context("task_run", run, proposed)
        decision = None if body.force else evaluate(ctx)
        if decision is None or not _plain_commit(decision):
            self.deferred_starts.write(start)
            return None
        write = _write_for("task_run", run, decision, body.labels, ctx.now)
        ended = write.updated_run()
        try:
            history = [*start.history, run.state, *decision.history_before]
            self.store.record_ended_task_run(ended, history_before=history)
        except BaseException:
            self.deferred_starts.add(start)  # its start is still written by the next flush
            raise
        self._remember(ended)
        self._after_commit("task_run", run, decision, ctx.now)
        return _answer(decision)

    # -- logs
    def create_logs(self, logs: Sequence[LogCreate]) -> None:
        self.store.write_logs(logs)

    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        """Lines at `min_level` or above, oldest first (newest first: a tail reads only its own)."""
        logs = self.store.read_logs(flow_run_id, limit, offset, min_level=min_level, newest_first=newest_first)
        if not logs:
            self.read_flow_run(flow_run_id)  # an unknown run is a 404, not an empty page
        return logs

    # -- concurrency limits
    def set_concurrency_limit(self, body: ConcurrencyLimitCreate) -> ConcurrencyLimit:
        return self.store.upsert_concurrency_limit(body.tag, body.limit)

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        return _found(self.store.read_concurrency_limits([tag]).get(tag), f"No concurrency limit for tag {tag!r}")

    def list_concurrency_limits(self) -> list[ConcurrencyLimit]:
        return self.store.list_concurrency_limits()

    def delete_concurrency_limit(self, tag: str) -> None:
        if not self.store.delete_concurrency_limit(tag):
            raise ObjectNotFound(f"No concurrency limit for tag {tag!r}")

    # -- API keys (the embedded transport reaches them under the client's method names)
    def create_api_key(self, body: ApiKeyCreate) -> ApiKeyCreated:
        return self.api_keys.create(body)

    def list_api_keys(self) -> list[ApiKey]:
        return self.api_keys.list()

    def revoke_api_key(self, key_id: str) -> None:
        self.api_keys.revoke(key_id)

    # -- retry policies set on the server (the embedded transport reaches them by these names)
    def set_retry_policy(self, scope: PolicyScope, name: str, body: RetryPolicySet) -> RetryPolicy:
        return self.retry_policies.set(scope, name, body)

    def read_retry_policy(self, scope: PolicyScope, name: str) -> RetryPolicy:
        return self.retry_policies.read(scope, name)

    def list_retry_policies(self) -> list[RetryPolicy]:
        return self.retry_policies.list()

    def delete_retry_policy(self, scope: PolicyScope, name: str) -> None:
        self.retry_policies.delete(scope, name)

    # -- server settings
    def read_result_storage(self) -> ResultStorageSetting | None:
        """Where flows persist results unless told otherwise: the setting, else the deployment's
        `default_result_storage` (MINTAKA_RESULTS_BUCKET); None = each client's filesystem."""
        doc = self.store.read_setting(RESULT_STORAGE_SETTING)
        if doc and doc.get("url"):
            return ResultStorageSetting.model_validate(doc)
        return ResultStorageSetting(url=self.default_result_storage) if self.default_result_storage else None

    def set_result_storage(self, body: ResultStorageSetting) -> ResultStorageSetting:
        self.store.write_setting(RESULT_STORAGE_SETTING, body.model_dump(mode="json"))
        return body

    def clear_result_storage(self) -> None:
        self.store.write_setting(RESULT_STORAGE_SETTING, {})  # the port has no delete: empty = unset

    # -- orchestration
    def _initial_state(self, proposed: State | None, **run_ids: uuid.UUID | None) -> State:
        now = self.clock()
        state = proposed or State(type=StateType.PENDING)
        return updated(state, timestamp=now, state_details=updated(state.state_details, **run_ids))

    def _read_run(self, kind: RunKind, run_id: uuid.UUID) -> FlowRun | TaskRun:
        if kind == "flow_run":
            return self.read_flow_run(run_id)
        return self.read_task_run(run_id)

    def _context(
        self,
        kind: RunKind,
        run: FlowRun | TaskRun,
        proposed: State,
        read_flow_run: bool = True,
        heartbeat_interval: float | None = None,
    ) -> TransitionContext:
        """Prefetch exactly the facts the rules may need for this proposal (`read_flow_run`
        False: the store checks the flow run's state in the write instead)."""
        flow_run_state = cached = None
        concurrency: dict[str, SlotUsage] = {}
        if kind == "task_run" and proposed.type is StateType.RUNNING:
            if run.flow_run_id is not None and read_flow_run:
                flow_run = self.store.read_flow_run(run.flow_run_id)
                flow_run_state = flow_run.state if flow_run else None
            if proposed.state_details.cache_key:
                cached = self.store.read_cache(proposed.state_details.cache_key, proposed.timestamp)
            if run.tags:
                concurrency = self._slot_usage(run.tags, lessee=run.flow_run_id)
        if kind == "flow_run" and proposed.type is StateType.RUNNING and run.work_queue_name:
            concurrency = self._slot_usage([work_queue_slot(run.work_queue_name)], lessee=run.id)
        policy = run.empirical_policy
        if run.state is not None and run.state.type is StateType.RUNNING and proposed.type in _ENDINGS_RETRIED:
            policy = self.retry_policies.effective(run)  # one set on the server wins over the code's
        # By kind, not getattr(): a pydantic model answers a missing attribute by raising inside
        # its __getattr__, which cost more than the rest of the snapshot.
        is_flow_run = kind == "flow_run"
        snapshot = RunSnapshot(
            kind=kind,
            state=run.state,
            run_count=run.run_count,
            empirical_policy=policy,
            tags=tuple(run.tags),
            held_slots=tuple(run.held_slots),
            start_time=run.start_time,
            work_queue_name=run.work_queue_name if is_flow_run else None,
            heartbeat_interval=run.heartbeat_interval,
            flow_run_id=None if is_flow_run else run.flow_run_id,
            parent_task_run_id=run.parent_task_run_id if is_flow_run else None,
        )
        return TransitionContext(
            run=snapshot,
            proposed=proposed,
            now=proposed.timestamp,
            flow_run_state=flow_run_state,
            cached_state=cached,
            concurrency=concurrency,
            jitter=self.rng.random(),
            heartbeat_interval=heartbeat_interval,
        )

    def _set_state(self, kind: RunKind, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        _refuse_unusable_input_schema(body.state)
        recent = self._recent.pop(run_id, None)
        for _ in range(MAX_CONFLICT_RETRIES):
            run = recent if recent is not None else self._read_run(kind, run_id)
            proposed = _stamped(body.state, kind, run, self.clock())
            ctx = self._context(kind, run, proposed, heartbeat_interval=body.heartbeat_interval)
            decision = force(ctx) if body.force else evaluate(ctx)
            if not (decision.is_accept and decision.commit):
                if recent is not None:  # answer only from the stored run, never a remembered one
                    recent = None
                    continue
                return _answer(decision)
            write = _write_for(kind, run, decision, body.labels, ctx.now)
            try:
                self.store.commit_transition(write)
            except VersionConflict:
                recent = None
                continue
            except SlotsUnavailable as exc:
                if recent is not None:
                    recent = None
                    continue
                return OrchestrationResult(
                    status=SetStateStatus.WAIT,
                    state=run.state,
                    details=OrchestrationDetails(reason=str(exc), delay_seconds=SLOT_WAIT_SECONDS),
                )
            self._remember(write.updated_run())
            if kind == "flow_run" and _is_requeue(decision.state) and self.on_requeued is not None:
                self._requeue(run.model_copy(update={"state": decision.state}))
            self._after_commit(kind, run, decision, ctx.now)
            return _answer(decision)
        run = self._read_run(kind, run_id)
        return OrchestrationResult(
            status=SetStateStatus.REJECT,
            state=run.state,
            details=OrchestrationDetails(reason="The run kept changing; here is its current state"),
        )

    def _requeue(self, run: FlowRun) -> None:
        try:
            self.on_requeued(run)
        except MintakaError:  # the run is requeued in the store; a worker polling the store finds it
            logger.exception("Flow run %s was requeued but could not be sent to its work queue", run.id)


def _refuse_unusable_input_schema(state: State) -> None:
    """A pause waiting for input that no resume could satisfy (its schema points to another
    document, which the server never fetches) is refused before anything is written."""
    schema = state.state_details.run_input_schema
    if schema is not None:
        problem = remote_reference_problem(schema)
        if problem is not None:
            raise InvalidRequest(f"body.state.state_details.run_input_schema: {problem}")


def _stamped(state: State, kind: RunKind, run: FlowRun | TaskRun, now) -> State:
    """The proposal with the server's timestamp and the run ids it belongs to."""
    if kind == "flow_run":
        ids = {"flow_run_id": run.id}
    else:
        ids = {"task_run_id": run.id, "flow_run_id": run.flow_run_id}
    return updated(state, timestamp=now, state_details=updated(state.state_details, **ids))


def _initial_bookkeeping(state: State) -> dict:
    """A run created already RUNNING (or finished) is booked as if it had moved there, so that
    run_count counts that attempt (the retry rule relies on it) and the times are set."""
    books: dict = {}
    if state.type is StateType.RUNNING:
        books.update(run_count=1, start_time=state.timestamp)
    if state.is_final():
        books.update(end_time=state.timestamp)
    return books


def _write_for(
    kind: RunKind, run: FlowRun | TaskRun, decision: Decision, labels: dict[str, str] | None = None, now=None
) -> TransitionWrite:
    return TransitionWrite(
        reclaim=decision.reclaim,
        now=now,
        lease_expires=decision.lease_expires,
        heartbeat_interval=decision.heartbeat_interval,
        end_lease=decision.end_lease,
        reopened=decision.reopened,
        labels=labels or {},
        kind=kind,
        run=run,
        state=decision.state,
        history_before=decision.history_before,
        run_count=decision.run_count,
        start_time=decision.start_time,
        end_time=decision.end_time,
        acquire_slots=decision.acquire_slots,
        release_slots=decision.release_slots,
        cache_insert=decision.cache_insert,
    )


def _plain_commit(decision: Decision) -> bool:
    """Accepted and written with nothing beside the run and its states."""
    return (
        decision.is_accept
        and decision.commit
        and not (decision.acquire_slots or decision.release_slots or decision.reclaim or decision.cache_insert)
        and decision.lease_expires is None
        and not decision.end_lease
    )


def _answer(decision: Decision) -> OrchestrationResult:
    return OrchestrationResult(
        status=decision.status,
        state=decision.state,
        details=OrchestrationDetails(reason=decision.reason, delay_seconds=decision.delay_seconds),
    )


def _check_record_size(store: Store, run: FlowRun) -> None:
    """Refuse a run its store cannot hold (DynamoDB: 400 KB an item) before anything is written."""
    limit = getattr(store, "max_record_bytes", None)
    if limit is None:
        return
    size = len(run.model_dump_json(exclude_defaults=True).encode())
    if size > limit:
        raise InvalidRequest(
            f"The flow run would take {size} bytes in the store, which holds at most {limit} per run: "
            "pass large parameters by reference (a path or URL) instead of by value"
        )


def _found(value, missing: str) -> object:
    """`value`, or ObjectNotFound saying what is `missing`."""
    if value is None:
        raise ObjectNotFound(missing)
    return value


def _run_name() -> str:
    """An adjective-noun name from coolname's vocabulary (hundreds of thousands of pairs), so
    runs listed side by side rarely share one. Imported on first use (~20 ms of word lists)."""
    import coolname

    return coolname.generate_slug(2)


def _is_requeue(state: State) -> bool:
    """Back to its work queue for any executor: lost (Requeued) or resumed from a suspension."""
    return state.type is StateType.SCHEDULED and state.name in (REQUEUED, RESUMING)
