"""Deployments, their schedules and event triggers, and work queues.

Runs of a deployment are ordinary flow runs created SCHEDULED on the deployment's work queue,
each under an idempotency key (deployment + scheduled time, or deployment + event id), so a
repeated schedule tick or event delivery never makes a second run.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from mintaka_core.code_checks import check_code_location
from mintaka_core.deployment_schemas import (
    Deployment,
    DeploymentCreate,
    DeploymentRunCreate,
    EventCreate,
    EventResult,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from mintaka_core.exceptions import InvalidRequest, ObjectNotFound
from mintaka_core.schemas import (
    EmpiricalPolicy,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    SetStateRequest,
    SetStateStatus,
)
from mintaka_core.states import AWAITING_RETRY, LATE, State, StateType
from mintaka_core.vocabulary import DEFAULT_QUEUE, INFRASTRUCTURE_LABEL
from mintaka_server.orchestration.context import lease_expiry, work_queue_slot
from mintaka_server.orchestration.json_schema import schema_problems
from mintaka_server.scheduling.cursors import plan_fires
from mintaka_server.storage.port import suspension_timeout

from ._leases import DEFAULT_HEARTBEAT_INTERVAL
from .orchestration import OrchestrationService
from .trigger_index import TriggerIndex

DEPLOYMENT = "deployment"
WORK_QUEUE = "work_queue"
SCHEDULE_CURSOR = "schedule_cursor"  # per deployment: the fire times that have their run
DEPLOYMENTS_CHANGED = "deployments_changed"  # setting: a new token each time a deployment changes
MAX_PARSED = 20_000  # deployments remembered parsed (by their stored JSON)
REAP_PER_TICK = 500  # runs a tick may end; the rest wait for the next tick
LATE_PAGE = 500  # due runs read at a time when marking runs Late
LATE_PAGES_PER_TICK = 40  # past up to 20,000 due runs (Late ones included) per tick


def awaiting_its_executor(run: FlowRun) -> bool:
    """A run waiting to be retried (AwaitingRetry) belongs to the executor that ran it, which
    retries it itself: no work queue hands it to anyone else."""
    return run.state is not None and run.state.name == AWAITING_RETRY


class ScheduleSync(Protocol):
    """Mirrors deployment schedules into an external scheduler (EventBridge Scheduler)."""

    def check(self, deployment: Deployment) -> None:
        """Raise InvalidRequest if a schedule cannot be mirrored (before anything is stored)."""

    def sync(self, deployment: Deployment) -> None: ...

    def remove(self, deployment: Deployment) -> None: ...


class RunDispatcher(Protocol):
    """Hands a created run to its work queue's transport (SQS in the cloud)."""

    def dispatch(self, run: FlowRun) -> None: ...

    def check_queue(self, work_queue: str) -> None:
        """Raise (a 4xx naming the command that creates it) if the queue is not provisioned."""


def validate_parameters(schema: dict[str, Any] | None, parameters: dict[str, Any]) -> None:
    """Check parameters against the flow's JSON schema; the error names the bad parameter."""
    if not schema:
        return
    problems = schema_problems(schema, parameters, "parameters")
    if problems:
        raise InvalidRequest(f"Invalid parameters: {problems}")


def event_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge-style matching: each pattern key must match; a list means "any of";
    a nested dict matches a nested object."""
    for key, expected in pattern.items():
        actual = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not event_matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True


class DeploymentService:
    def __init__(
        self,
        orchestration: OrchestrationService,
        schedule_sync: ScheduleSync | None = None,
        dispatcher: RunDispatcher | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.orchestration = orchestration
        self.store = orchestration.store
        self.schedule_sync = schedule_sync
        self.dispatcher = dispatcher
        self.clock = clock or orchestration.clock  # one clock, unless told otherwise (a tick's time)
        self.triggers = TriggerIndex(self.store)
        self._parsed_documents: dict[str, Deployment] = {}
        self._listing: tuple[dict | None, list[Deployment]] | None = None  # (change marker, deployments)
        self._cursors: dict[str, dict] | None = None  # schedule cursors as this service last read or wrote them
        if dispatcher is not None:  # runs the rules requeue need a message too, whoever crashed them
            orchestration.on_requeued = dispatcher.dispatch

    # -- deployments
    def upsert_deployment(self, body: DeploymentCreate) -> Deployment:
        validate_parameters(body.parameter_schema, body.parameters)
        check_code_location(body)  # what the executor would hand to git or import: refused here first
        key = f"{body.flow_name}/{body.name}"
        existing = self.store.read_document(DEPLOYMENT, key)
        now = self.clock()
        deployment = Deployment(
            **body.model_dump(),
            id=existing["id"] if existing else uuid.uuid4(),
            created=existing["created"] if existing else now,
            updated=now,
        )
        if self.schedule_sync is not None:
            self.schedule_sync.check(deployment)  # a refused schedule fails the deploy, storing nothing
        if self.dispatcher is not None:
            self.dispatcher.check_queue(deployment.work_queue_name)  # so does a queue never provisioned
        self.store.ensure_flow(body.flow_name)
        self.store.put_document(DEPLOYMENT, key, deployment.model_dump(mode="json"))
        self._deployments_changed()
        self.triggers.update(key, Deployment.model_validate(existing) if existing else None, deployment)
        if body.work_queue_name != DEFAULT_QUEUE and self.store.read_document(WORK_QUEUE, body.work_queue_name) is None:
            self._save_queue(WorkQueue(name=body.work_queue_name))  # a deployment's queue exists once it does
        if self.schedule_sync is not None:
            self.schedule_sync.sync(deployment)
        return deployment

    def read_deployment(self, flow_name: str, name: str) -> Deployment:
        doc = self.store.read_document(DEPLOYMENT, f"{flow_name}/{name}")
        if doc is None:
            raise ObjectNotFound(f"No deployment {flow_name}/{name}")
        return Deployment.model_validate(doc)

    def list_deployments(self) -> list[Deployment]:
        return [self._parsed(doc) for doc in self.store.list_documents(DEPLOYMENT)]

    def _deployments_changed(self) -> None:
        """Say that a deployment changed (after the change is stored), so schedulers list them again."""
        self.store.write_setting(DEPLOYMENTS_CHANGED, {"token": uuid.uuid4().hex})

    def _scheduled_deployments(self) -> list[Deployment]:
        """Every deployment, for a tick: listed again only when a deployment changed since the last
        listing (one small read), not on every tick."""
        seen = self.store.read_setting(DEPLOYMENTS_CHANGED)
        if seen is None:  # a store from before the marker: start one
            self._deployments_changed()
            seen = self.store.read_setting(DEPLOYMENTS_CHANGED)
        if self._listing is None or self._listing[0] != seen:
            self._listing = (seen, self.list_deployments())  # the marker is read first: no change is missed
        return self._listing[1]

    def _parsed(self, doc: dict[str, Any]) -> Deployment:
        """The deployment a stored document holds. Validating one costs ~1 ms (its crons are
        parsed) and every scheduler tick lists them all, so an unchanged document is parsed once."""
        text = json.dumps(doc, sort_keys=True)
        cached = self._parsed_documents.get(text)
        if cached is None:
            if len(self._parsed_documents) > MAX_PARSED:
                self._parsed_documents.clear()
            cached = self._parsed_documents[text] = Deployment.model_validate(doc)
        return cached

    def delete_deployment(self, flow_name: str, name: str) -> None:
        deployment = self.read_deployment(flow_name, name)
        self.store.delete_document(DEPLOYMENT, deployment.full_name)
        self._deployments_changed()
        self.store.delete_document(SCHEDULE_CURSOR, deployment.full_name)
        if self._cursors is not None:
            self._cursors.pop(deployment.full_name, None)
        self.triggers.update(deployment.full_name, deployment, None)
        if self.schedule_sync is not None:
            self.schedule_sync.remove(deployment)

    def set_deployment_schedule_paused(self, flow_name: str, name: str, paused: bool) -> Deployment:
        deployment = self.read_deployment(flow_name, name).model_copy(
            update={"schedule_paused": paused, "updated": self.clock()}
        )
        self.store.put_document(DEPLOYMENT, deployment.full_name, deployment.model_dump(mode="json"))
        self._deployments_changed()
        if self.schedule_sync is not None:
            self.schedule_sync.sync(deployment)
        return deployment

    def create_deployment_run(self, flow_name: str, name: str, body: DeploymentRunCreate) -> FlowRun:
        deployment = self.read_deployment(flow_name, name)
        return self._create_run(deployment, body)

    def _create_run(self, deployment: Deployment, body: DeploymentRunCreate, redispatch: bool = True) -> FlowRun:
        """Create (or find, by idempotency key) the run and hand it to its queue's transport:
        always when `redispatch` (a send that failed after the run was created is not lost), else
        only when this call created it."""
        parameters = {**deployment.parameters, **body.parameters}
        validate_parameters(deployment.parameter_schema, parameters)
        if self.dispatcher is not None:  # no run that could never be sent
            self.dispatcher.check_queue(deployment.work_queue_name)
        due = body.scheduled_time or self.clock()
        run, created = self.orchestration.create_flow_run_once(
            FlowRunCreate(
                flow_name=deployment.flow_name,
                name=body.name,
                parameters=parameters,
                tags=sorted({*deployment.tags, *body.tags}),
                idempotency_key=body.idempotency_key,
                flow_version=deployment.version,
                empirical_policy=EmpiricalPolicy(
                    retries=deployment.retries, retry_delay_seconds=deployment.retry_delay_seconds
                ),
                state=State(type=StateType.SCHEDULED, state_details={"scheduled_time": due}),
                deployment_id=deployment.id,
                deployment_name=deployment.full_name,
                work_queue_name=deployment.work_queue_name,
                labels={INFRASTRUCTURE_LABEL: deployment.infrastructure},
            )
        )
        if self.dispatcher is not None and (created or redispatch) and run.state.type is StateType.SCHEDULED:
            self.dispatcher.dispatch(run)
        return run

    # -- schedules (the embedded scheduler and the cloud's minute tick call these)
    def schedule_runs(
        self, horizon: dt.timedelta = dt.timedelta(hours=1), max_runs: int = 10, only_rrule: bool = False
    ) -> list[FlowRun]:
        """Create the SCHEDULED runs due within `horizon` (at most `max_runs` ahead per schedule)
        whose fire times no tick has created yet, and return them. Each deployment's schedule
        cursor says which fire times have their run, and a deployment with nothing new costs no
        write. A cursor moves by a conditional write after its runs exist, so a tick that dies in
        between, or a second scheduler, only repeats idempotent creations (keyed by deployment +
        scheduled time). Cursors and deployments are kept between ticks: cursors are read again
        when a write finds one moved by someone else (a stale one can only repeat a creation),
        deployments when the change marker says one changed."""
        now = self.clock()
        if self._cursors is None:
            self._cursors = {doc.get("deployment"): doc for doc in self.store.list_documents(SCHEDULE_CURSOR)}
        cursors, created = self._cursors, []
        for deployment in self._scheduled_deployments():
            if deployment.schedule_paused:
                continue
            cursor = cursors.get(deployment.full_name)
            plan = plan_fires(deployment, cursor, now, horizon, max_runs, only_rrule)
            if not plan.changed:
                continue
            created += [self.run_for_fire_time(deployment, fire, redispatch=False) for fire in plan.fires]
            expected = cursor.get("version") if cursor else None
            if self.store.swap_document(SCHEDULE_CURSOR, deployment.full_name, plan.cursor, expected):
                cursors[deployment.full_name] = {**plan.cursor, "version": (expected or 0) + 1}
            else:  # another scheduler moved it: read them all again next tick
                self._cursors = None
        return created

    def run_for_fire_time(self, deployment: Deployment, fire: dt.datetime, redispatch: bool = True) -> FlowRun:
        """The run of one schedule tick, keyed by (deployment, scheduled time)."""
        key = f"schedule:{deployment.id}:{fire.astimezone(dt.UTC).isoformat()}"
        body = DeploymentRunCreate(idempotency_key=key, scheduled_time=fire)
        return self._create_run(deployment, body, redispatch=redispatch)

    def mark_late_runs(self, grace: dt.timedelta = dt.timedelta(seconds=15)) -> int:
        """SCHEDULED runs not started `grace` after their time are renamed "Late". The due runs
        are read a page at a time, earliest first, past those already Late (which stay due until
        a worker takes them), up to `LATE_PAGES_PER_TICK` pages."""
        late, after, before = 0, None, self.clock() - grace
        for _ in range(LATE_PAGES_PER_TICK):
            page = self.store.list_due_flow_runs(before, limit=LATE_PAGE, after=after)
            for run in page:
                if run.state is None or run.state.name != "Scheduled":
                    continue
                proposal = State(type=StateType.SCHEDULED, name=LATE, state_details=run.state.state_details)
                answer = self.orchestration.set_flow_run_state(run.id, SetStateRequest(state=proposal))
                late += answer.status is SetStateStatus.ACCEPT  # a run claimed meanwhile stays claimed
            if len(page) < LATE_PAGE:
                break
            after = page[-1]
        return late

    def reap_stale_runs(self) -> int:
        """RUNNING (or CANCELLING) flow runs whose lease has expired, i.e. whose executor has not
        heartbeat for `LEASE_INTERVALS` of the intervals it declared, are ended CRASHED (and their
        unfinished task runs with them, freeing their slots): the executor was lost (killed, its
        machine gone). With retries left the rules requeue a deployment's run instead (and
        `on_requeued` sends it to its queue); a CANCELLING run ends CANCELLED. A run that never
        declared an interval (a client that only reports states) holds no lease and is not judged."""
        now = self.clock()
        # Only the runs whose lease expired are read (by an index on lease expiry where the
        # store has one), not every running run.
        reaped = sum(
            self.orchestration.end_silent_run(run_id, "found by the reaper", now)
            for run_id in self.store.list_expired_leases(now, limit=REAP_PER_TICK)
        )
        return reaped + self.fail_expired_suspensions(now)

    def fail_expired_suspensions(self, now: dt.datetime | None = None) -> int:
        """Suspended runs (no executor waits for them) not resumed before their timeout end
        FAILED, as a paused run's own executor ends it at its timeout. Only suspensions whose
        timeout has passed are read (by the store's index on it), up to `REAP_PER_TICK` a tick,
        earliest first. Returns how many ended."""
        now, failed = now or self.clock(), 0
        for run_id in self.store.list_expired_suspensions(now, limit=REAP_PER_TICK):
            run = self.store.read_flow_run(run_id)
            timeout = suspension_timeout(run) if run is not None else None
            if timeout is None or timeout > now:  # resumed (or suspended again) meanwhile
                continue
            message = f"The flow run was not resumed before its suspension timed out ({timeout})"
            answer = self.orchestration.set_flow_run_state(
                run_id, SetStateRequest(state=State(type=StateType.FAILED, message=message))
            )
            failed += answer.status is SetStateStatus.ACCEPT
        return failed

    def resume_leases(self) -> int:
        """Give every live lease one fresh term (never shorten one): for a server starting up, which
        cannot know whether the runs' executors were beating for it while it was down. Without this
        a restart longer than three intervals would reap runs whose processes are alive and only
        waiting for the API, and hand their slots to others. Returns how many leases it extended."""
        now, resumed = self.clock(), 0
        for run, _ in self._leased_runs():
            every = run.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
            resumed += len(self.store.renew_leases([run.id], lease_expiry(now, every)))
        return resumed

    def _leased_runs(self) -> Iterator[tuple[FlowRun, dt.datetime]]:
        """RUNNING and CANCELLING flow runs holding a lease, with its expiry, page by page."""
        for state_type in (StateType.RUNNING, StateType.CANCELLING):
            cursor = None
            while True:
                page = self.store.list_flow_runs(FlowRunFilter(state_type=state_type, limit=200, cursor=cursor))
                leases = self.store.read_leases([run.id for run in page.items])
                yield from ((run, leases[run.id]) for run in page.items if run.id in leases)
                if not page.next_cursor:
                    break
                cursor = page.next_cursor

    # -- events
    def create_event(self, body: EventCreate) -> EventResult:
        """A run for each deployment with a trigger matching the event (its first matching
        trigger), idempotent per event id. Only the deployments the trigger index lists for the
        event's source are read."""
        event = body.model_dump(mode="json")
        run_ids = []
        for full_name in self.triggers.candidates(body.source, self.list_deployments):
            doc = self.store.read_document(DEPLOYMENT, full_name)
            if doc is None:  # deleted since it was listed
                continue
            deployment = Deployment.model_validate(doc)
            for trigger in deployment.triggers:
                if event_matches(trigger.match, event):
                    run = self._create_run(
                        deployment,
                        DeploymentRunCreate(
                            parameters={trigger.parameter: event}, idempotency_key=f"event:{deployment.id}:{body.id}"
                        ),
                    )
                    run_ids.append(run.id)
                    break
        return EventResult(flow_run_ids=run_ids)

    # -- heartbeats
    def heartbeat_flow_run(self, run_id: uuid.UUID, interval: float | None = None) -> FlowRun:
        """Renew the run's lease for `LEASE_INTERVALS` x `interval` (default: the interval the run
        declared). A running run without a lease (its executor declared none when it started)
        gets one: its executor beats, so the reaper may judge it. The answer is the run."""
        run = self.orchestration.read_flow_run(run_id)
        if run.state_type in (StateType.RUNNING, StateType.CANCELLING):
            every = interval or run.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
            self.store.renew_leases([run_id], lease_expiry(self.clock(), every), create=True)
        return run

    # -- work queues
    def create_work_queue(self, body: WorkQueueCreate) -> WorkQueue:
        existing = self.store.read_document(WORK_QUEUE, body.name)
        queue = WorkQueue(
            **body.model_dump(), **({"id": existing["id"], "created": existing["created"]} if existing else {})
        )
        self._save_queue(queue)
        return queue

    def read_work_queue(self, name: str) -> WorkQueue:
        doc = self.store.read_document(WORK_QUEUE, name)
        if doc is None:
            if name == DEFAULT_QUEUE:  # the default queue always exists
                return WorkQueue(name=DEFAULT_QUEUE)
            raise ObjectNotFound(f"No work queue {name!r}")
        return WorkQueue.model_validate(doc)

    def list_work_queues(self) -> list[WorkQueue]:
        queues = [WorkQueue.model_validate(doc) for doc in self.store.list_documents(WORK_QUEUE)]
        if all(q.name != DEFAULT_QUEUE for q in queues):
            queues.insert(0, WorkQueue(name=DEFAULT_QUEUE))
        return sorted(queues, key=lambda q: (q.priority, q.name))

    def update_work_queue(self, name: str, body: WorkQueueUpdate) -> WorkQueue:
        queue = self.read_work_queue(name).model_copy(update=body.model_dump(exclude_unset=True))
        self._save_queue(queue)
        return queue

    def _save_queue(self, queue: WorkQueue) -> None:
        slot = work_queue_slot(queue.name)
        if queue.concurrency_limit is None:
            self.store.delete_concurrency_limit(slot)
        else:
            self.store.upsert_concurrency_limit(slot, queue.concurrency_limit)
        self.store.put_document(WORK_QUEUE, queue.name, queue.model_dump(mode="json"))

    def get_work_queue_runs(self, name: str, limit: int = 10) -> list[FlowRun]:
        queue = self.read_work_queue(name)
        if queue.paused:
            return []
        if queue.concurrency_limit is not None:
            usage = self.store.read_concurrency_limits([work_queue_slot(name)]).get(work_queue_slot(name))
            limit = min(limit, max(queue.concurrency_limit - (usage.active_slots if usage else 0), 0))
        if limit <= 0:
            return []
        runs = []
        for run in self.store.list_due_flow_runs(self.clock(), work_queue_name=name, limit=limit * 4 + 10):
            if queue.deployments and run.deployment_name not in queue.deployments:
                continue
            if queue.tags and not set(queue.tags) <= set(run.tags):
                continue
            if awaiting_its_executor(run):
                continue
            runs.append(run)
            if len(runs) >= limit:
                break
        return runs
