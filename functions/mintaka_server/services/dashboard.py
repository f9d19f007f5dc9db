"""What the dashboard reads and keeps: run activity per time bucket, flows with their latest run
and counts, and saved views. Only store reads that are cheap on both stores (index range scans on
SQLite; Query/GetItem on DynamoDB) serve it."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from mintaka_core.bounds import NoNul, Time
from mintaka_core.deployment_schemas import WorkQueue
from mintaka_core.exceptions import Conflict, InvalidRequest, ObjectNotFound
from mintaka_core.schemas import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    FlowRunFilter,
    Log,
    OrchestrationResult,
    SetStateRequest,
)
from mintaka_core.states import State, StateDetails, StateType, utcnow
from mintaka_server.storage import Store

if TYPE_CHECKING:
    from mintaka_server.services import OrchestrationService

MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
MIN_RANGE, MAX_RANGE = HOUR, dt.timedelta(days=30)
MAX_BUCKETS = 720
FINE_RANGE = dt.timedelta(hours=6)  # buckets under an hour: counted from the runs themselves
# The bucket a range gets when none is asked: 12 to 48 bars (a 30-day range: days).
DEFAULT_BUCKETS = [(HOUR, 300), (FINE_RANGE, 900), (dt.timedelta(days=2), 3600), (dt.timedelta(days=8), 6 * 3600)]
DEFAULT_RANGE = dt.timedelta(hours=24)
SUMMARY_WINDOW = dt.timedelta(days=7)
SHOWN = 10  # late runs and recent failures the dashboard lists
SAVED_VIEW = "saved_view"  # document kind
DEPTH_CAP = 1000
RETRYABLE = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
IN_FLIGHT = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]

ViewName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True), NoNul]
ViewQuery = Annotated[str, StringConstraints(max_length=2000), NoNul]
_VIEW_NAME = TypeAdapter(ViewName)


class DashboardStore(Protocol):
    """What both stores add for the dashboard: flow runs counted per creation hour and current
    state, and log pages filtered and read from a line's place in either direction. A store that
    can also count per minute (SQLite) has `count_flow_runs_per_minute`, same arguments less
    `per_hour`; on the others a range's buckets are whole hours."""

    def count_flow_runs(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        flow_name: str | None = None,
        deployment_name: str | None = None,
        per_hour: bool = True,
    ) -> dict[dt.datetime, dict[StateType, int]]: ...

    def read_log_page(self, flow_run_id: uuid.UUID | None, **options) -> list[Log]: ...


class Bucket(BaseModel):
    start: dt.datetime
    counts: dict[StateType, int]


class RunFailure(BaseModel):
    flow_run: FlowRun
    message: str


class FlowRunStats(BaseModel):
    since: dt.datetime
    until: dt.datetime
    bucket_seconds: int
    buckets: list[Bucket]
    totals: dict[StateType, int]
    late: list[FlowRun] = Field(description="SCHEDULED runs past due, earliest first")
    recent_failures: list[RunFailure] = Field(description="FAILED and CRASHED runs in range, newest first")


class FlowSummary(Flow):
    last_run: FlowRun | None
    run_counts: dict[StateType, int] = Field(description="Runs created in the last 7 days, by current state")


class LogQuery(BaseModel):
    """A page of a run's log lines: filters, direction, and the place to continue from."""

    limit: int = Field(1000, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=10_000_000)
    min_level: int = Field(0, ge=0, le=100, description="Only lines at this level or above (10 DEBUG ... 50 CRITICAL)")
    newest_first: bool = Field(False, description="Newest line first")
    task_run_id: uuid.UUID | None = Field(None, description="Only this task run's lines")
    contains: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul] | None = Field(
        None, description="Only lines whose message contains this, any case"
    )
    after: Time | None = Field(None, description="Only lines after this one (its timestamp; with after_id, its id)")
    after_id: uuid.UUID | None = None
    before: Time | None = Field(None, description="Only lines before this one (its timestamp; with before_id, its id)")
    before_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _ids_need_times(self) -> LogQuery:
        if self.after_id is not None and self.after is None:
            raise ValueError("after_id needs after (the line's timestamp)")
        if self.before_id is not None and self.before is None:
            raise ValueError("before_id needs before (the line's timestamp)")
        return self

    @property
    def pages(self) -> bool:
        """Whether this asks more than the original log read could (a cursor or a filter)."""
        return any(v is not None for v in (self.task_run_id, self.contains, self.after, self.before))

    def store_options(self) -> dict:
        return {
            "limit": self.limit,
            "offset": self.offset,
            "min_level": self.min_level,
            "newest_first": self.newest_first,
            "contains": self.contains,
            "after": (self.after, self.after_id) if self.after else None,
            "before": (self.before, self.before_id) if self.before else None,
        }


class WorkQueueStatus(WorkQueue):
    depth: int = Field(description=f"Due SCHEDULED runs waiting for a worker (counted up to {DEPTH_CAP})")
    running: int = Field(description="Runs of the queue PENDING, RUNNING or CANCELLING now")


class ConcurrencyLimitStatus(ConcurrencyLimit):
    holders: list[uuid.UUID] = Field(description="The runs (task runs, or flow runs of a queue) holding its slots")


class SavedViewBody(BaseModel):
    model_config = {"extra": "forbid"}
    query: ViewQuery


class SavedView(BaseModel):
    name: str
    query: str
    created: dt.datetime


def _floor(value: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return value - (value - epoch) % unit


def _ceil(value: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    floor = _floor(value, unit)
    return floor if floor == value else floor + unit


def stats_window(
    since: dt.datetime | None,
    until: dt.datetime | None,
    bucket_seconds: int | None,
    now: dt.datetime,
    per_minute: bool = True,
) -> tuple[dt.datetime, dt.datetime, int]:
    """The range rounded out to whole buckets and the bucket size; `InvalidRequest` says what is
    wrong with a range or bucket size that cannot be counted. Buckets start at `since` rounded
    down to the hour (to the minute when they are shorter than an hour), and buckets of whole
    days at midnight UTC. Without `per_minute` (a store counting per hour) buckets shorter than
    an hour become hours. The limits apply to the range asked for: rounding it out may add a
    bucket (30 days from now in days: 31)."""
    until = until or now
    since = since or until - DEFAULT_RANGE
    span = until - since
    if span < MIN_RANGE or span > MAX_RANGE:
        raise InvalidRequest(
            f"since/until: the range must be 1 hour to 30 days (got {span}, from {since.isoformat()}"
            f" to {until.isoformat()})"
        )
    bucket = bucket_seconds or next((b for limit, b in DEFAULT_BUCKETS if span <= limit), 86_400)
    if bucket % 60:
        raise InvalidRequest(f"bucket_seconds: runs are counted per minute; use a multiple of 60 (got {bucket})")
    if bucket % 3600 and span > FINE_RANGE:
        raise InvalidRequest(
            f"bucket_seconds: buckets under an hour are for ranges up to {FINE_RANGE}; use a multiple of 3600"
            f" (got {bucket})"
        )
    if math.ceil(span.total_seconds() / bucket) > MAX_BUCKETS:
        raise InvalidRequest(
            f"bucket_seconds: at most {MAX_BUCKETS} buckets (got {math.ceil(span.total_seconds() / bucket)})"
        )
    if bucket % 3600 and not per_minute:
        bucket = 3600
    step = dt.timedelta(seconds=bucket)
    unit = DAY if bucket % 86_400 == 0 else HOUR if bucket % 3600 == 0 else MINUTE
    start, end = _floor(since, unit), _ceil(until, unit)
    return start, start + math.ceil((end - start) / step) * step, bucket


UPCOMING_GRACE = dt.timedelta(seconds=60)  # a run due a moment ago is still "next" (it is starting)


class DashboardService:
    """Aggregates for the dashboard over a store; `clock` says what "now" is (late runs)."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime] = utcnow):
        self.store = store
        self.clock = clock

    @property
    def _views(self) -> DashboardStore:
        return self.store  # type: ignore[return-value]

    # -- what runs next
    def upcoming_runs(
        self, flow_name: str | None = None, deployment_name: str | None = None, limit: int = 5
    ) -> list[FlowRun]:
        """SCHEDULED runs due from a minute ago on, soonest first: read from the due index (a
        bounded read whatever the number of scheduled runs; the newest-created ones are the
        furthest away when schedules create runs ahead)."""
        after = self.clock() - UPCOMING_GRACE
        return self.store.list_upcoming_flow_runs(after, limit, flow_name=flow_name, deployment_name=deployment_name)

    # -- activity
    def flow_run_stats(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        bucket_seconds: int | None = None,
        flow_name: str | None = None,
        deployment_name: str | None = None,
    ) -> FlowRunStats:
        per_minute = getattr(self.store, "count_flow_runs_per_minute", None)
        since, until, bucket = stats_window(since, until, bucket_seconds, self.clock(), per_minute is not None)
        count = per_minute if bucket % 3600 else self._views.count_flow_runs
        counts = count(since, until, flow_name=flow_name, deployment_name=deployment_name)
        step = dt.timedelta(seconds=bucket)
        buckets = [Bucket(start=since + i * step, counts={}) for i in range(-(-(until - since) // step))]
        totals: dict[StateType, int] = {}
        for hour, per_state in counts.items():
            target = buckets[(hour - since) // step].counts
            for state, n in per_state.items():
                target[state] = target.get(state, 0) + n
                totals[state] = totals.get(state, 0) + n
        failures = self.store.list_flow_runs(
            FlowRunFilter(
                state_type=[StateType.FAILED, StateType.CRASHED],
                flow_name=flow_name,
                deployment_name=deployment_name,
                since=since,
                until=until,
                limit=SHOWN,
            )
        ).items
        return FlowRunStats(
            since=since,
            until=until,
            bucket_seconds=bucket,
            buckets=buckets,
            totals=totals,
            late=self._late(flow_name, deployment_name),
            recent_failures=[RunFailure(flow_run=run, message=_message(run)) for run in failures],
        )

    def _late(self, flow_name: str | None, deployment_name: str | None) -> list[FlowRun]:
        filtered = flow_name is not None or deployment_name is not None
        due = self.store.list_due_flow_runs(self.clock(), limit=100 if filtered else SHOWN)
        return [
            run
            for run in due
            if (flow_name is None or run.flow_name == flow_name)
            and (deployment_name is None or run.deployment_name == deployment_name)
        ][:SHOWN]

    def flows_summary(self) -> list[FlowSummary]:
        until = _ceil(self.clock(), HOUR)
        since = until - SUMMARY_WINDOW
        summaries = []
        for flow in self.store.list_flows():
            counts = self._views.count_flow_runs(since, until, flow_name=flow.name, per_hour=False)
            totals: dict[StateType, int] = {}
            for per_state in counts.values():
                for state, n in per_state.items():
                    totals[state] = totals.get(state, 0) + n
            last = self.store.list_flow_runs(FlowRunFilter(flow_name=flow.name, limit=1)).items
            summaries.append(FlowSummary(**flow.model_dump(), last_run=last[0] if last else None, run_counts=totals))
        return summaries

    # -- logs
    def read_flow_run_logs(self, flow_run_id: uuid.UUID, query: LogQuery) -> list[Log]:
        """A page of the run's lines (its tasks' included, or one task's with `task_run_id`)."""
        logs = self._views.read_log_page(flow_run_id, task_run_id=query.task_run_id, **query.store_options())
        if not logs and self.store.read_flow_run(flow_run_id) is None:  # unknown run: 404, not an empty page
            raise ObjectNotFound(f"No flow run with id {flow_run_id}")
        return logs

    def read_task_run_logs(self, task_run_id: uuid.UUID, query: LogQuery) -> list[Log]:
        """A page of one task run's lines (`query.task_run_id` is ignored)."""
        run = self.store.read_task_run(task_run_id)
        if run is None:
            raise ObjectNotFound(f"No task run with id {task_run_id}")
        return self._views.read_log_page(run.flow_run_id, task_run_id=task_run_id, **query.store_options())

    # -- work queues and concurrency limits
    def work_queue_status(self, queues: list[WorkQueue]) -> list[WorkQueueStatus]:
        """Each queue with its waiting and running runs: one due-run read per queue and one read
        of the runs in flight (few at any time), never a count over every run."""
        now = self.clock()
        count = getattr(self.store, "count_flow_runs_per_work_queue", None)  # SQLite: without reading runs
        if count is not None:
            in_flight = count(IN_FLIGHT, [queue.name for queue in queues])
        else:
            in_flight = {}
            for run in self.store.list_flow_runs(FlowRunFilter(state_type=IN_FLIGHT, limit=500)).items:
                if run.work_queue_name:
                    in_flight[run.work_queue_name] = in_flight.get(run.work_queue_name, 0) + 1
        statuses = []
        for queue in queues:
            due = self.store.list_due_flow_runs(now, work_queue_name=queue.name, limit=DEPTH_CAP)
            depth = sum(
                1
                for run in due
                if (not queue.deployments or run.deployment_name in queue.deployments)
                and set(queue.tags) <= set(run.tags)
            )
            statuses.append(WorkQueueStatus(**queue.model_dump(), depth=depth, running=in_flight.get(queue.name, 0)))
        return statuses

    def with_holders(self, limits: list[ConcurrencyLimit]) -> list[ConcurrencyLimitStatus]:
        return [
            ConcurrencyLimitStatus(
                **limit.model_dump(), holders=[held.holder for held in self.store.read_slot_holders(limit.tag)]
            )
            for limit in limits
        ]

    # -- actions
    def retry_flow_run(self, service: OrchestrationService, run_id: uuid.UUID) -> OrchestrationResult:
        """Schedule a finished deployment run again, due now: its work queue releases it to a worker.
        Terminal states are final to the rules, so this is the one sanctioned way back."""
        run = service.read_flow_run(run_id)
        state = run.state.type if run.state else None
        if state not in RETRYABLE:
            raise Conflict(
                f"Flow run {run_id} is {state.value if state else 'without a state'}; only "
                f"{', '.join(sorted(t.value for t in RETRYABLE))} runs can be retried"
            )
        if not run.deployment_name:
            raise Conflict(f"Flow run {run_id} has no deployment: no worker would pick it up; run its flow again")
        now = self.clock()
        # Plain "Scheduled", not "AwaitingRetry": that name leaves a run to the executor that
        # ran it (no work queue releases it), and that executor is gone.
        again = State(
            type=StateType.SCHEDULED,
            name="Scheduled",
            message=f"Retried (was {run.state.name if run.state else state})",
            state_details=StateDetails(scheduled_time=now),
        )
        return service.set_flow_run_state(run_id, SetStateRequest(state=again, force=True))

    # -- saved views
    def list_saved_views(self) -> list[SavedView]:
        return [SavedView.model_validate(doc) for doc in self.store.list_documents(SAVED_VIEW)]

    def put_saved_view(self, name: str, body: SavedViewBody) -> SavedView:
        name = _view_name(name)
        existing = self.store.read_document(SAVED_VIEW, name)
        created = SavedView.model_validate(existing).created if existing else self.clock()
        view = SavedView(name=name, query=body.query, created=created)
        self.store.put_document(SAVED_VIEW, name, view.model_dump(mode="json"))
        return view

    def delete_saved_view(self, name: str) -> None:
        if not self.store.delete_document(SAVED_VIEW, _view_name(name)):
            raise ObjectNotFound(f"No saved view named {name!r}")


def _view_name(name: str) -> str:
    try:
        return _VIEW_NAME.validate_python(name)
    except ValidationError:
        raise InvalidRequest("name: a saved view's name is 1 to 100 characters (no NUL)") from None


def _message(run: FlowRun) -> str:
    state = run.state
    return (state.message if state is not None and state.message else "") or (state.name if state else "")
