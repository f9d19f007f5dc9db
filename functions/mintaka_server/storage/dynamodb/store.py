"""DynamoDB adapter of the store port: one table, pynamodb models (table design: README.md).

Reads are GetItem / Query / BatchGetItem (never Scan); every run write is one
TransactWriteItems built in `_writes`; every request goes through `_errors.call`, the one place
vendor errors are translated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import json
import uuid
from collections.abc import Sequence

from pydantic import TypeAdapter
from pynamodb.models import Model

from mintaka_core.exceptions import Conflict
from mintaka_core.schemas import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    FlowRunFilter,
    FlowRunPage,
    Log,
    LogCreate,
    TaskRun,
)
from mintaka_core.states import TERMINAL_STATE_TYPES, State, StateType, utcnow
from mintaka_server.orchestration.context import SlotHolder
from mintaka_server.orchestration.rules import FLOW_RUN_CLOSED

from ..port import ApiKeyRecord, FlowRunClosed, Store, TransitionWrite, VersionConflict, flow_run_not_found
from . import _codec, _log_pages, _writes, stats
from . import _keys as keys
from ._errors import AlreadyExists, FlowRunCheckFailed, NothingToRelease, call
from ._listing import list_flow_runs
from ._merge import all_pages, merged, parallel
from ._models import build_item_model, connect, dump
from ._scheduling import DynamoDBLeaseIndex, DynamoDBScheduling, lease_index_actions

DEFAULT_LOG_RETENTION = dt.timedelta(days=30)
_FLOW_RUN_CHECKS = 4  # attempts at creating a task run whose flow run a check found closed, then open
# Items a filtered log read examines per request (a filter applies after DynamoDB's Limit).
LOG_FILTER_PAGE = 1000
_STATES = TypeAdapter(list[State])  # a history item: the states one transition recorded
SEEN_FLOW_RUNS = 4096  # flow runs a store remembers it has seen (their task runs' creates check less)


class DynamoDBStore(DynamoDBScheduling, DynamoDBLeaseIndex, Store):
    """Store on one DynamoDB table (keys `pk`/`sk`, GSIs `gsi1`..`gsi3`, TTL `expires_at`).

    `endpoint_url` points at an emulator or LocalStack (None: AWS); `region` None lets botocore
    resolve it (AWS_REGION on Lambda). The botocore client is built here, once per store, on the
    process's one botocore session (`mintaka._aws`), and is safe to share between threads."""

    # A run's item: its document plus keys and facets, under DynamoDB's 400 KB (the service checks it).
    max_record_bytes = 380_000

    def __init__(
        self,
        table_name: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        log_retention: dt.timedelta | None = DEFAULT_LOG_RETENTION,
    ):
        self.table_name = table_name
        self.log_retention = log_retention
        self._model: type[Model] = build_item_model(table_name, endpoint_url, region)
        # Flows are written once and never change or go away: each store remembers those it saw,
        # which saves ensure_flow's GetItem on every flow run after the first.
        self._flows: dict[str, Flow] = {}
        # Flow runs this store has seen, by id: True in the task layout (`_keys.TASK_LAYOUT`),
        # False before it. Flow runs are never deleted, so a task run created without needing
        # an open flow run needs no check of it (one item less in its transaction: 2 WCU).
        self._seen_flow_runs: dict[uuid.UUID, bool] = {}
        # The botocore client (for event hooks, e.g. counting round trips in benchmarks).
        self.client = connect(self._model)

    # -- plumbing
    def create_table(self) -> None:
        """Create the table, its GSIs and TTL (tests and local development; AWS uses template.yaml)."""
        call(lambda: self._model.create_table(wait=True), "create table")

    def ensure_table(self) -> None:
        """Create the table unless it exists (local development against an emulator)."""
        if not call(self._model.exists, "describe table"):
            self.create_table()

    def delete_table(self) -> None:
        call(self._model.delete_table, "delete table")

    def close(self) -> None:
        self.client.close()

    def _get(self, pk: str, sk: str, what: str) -> Model | None:
        def get() -> Model | None:
            try:
                return self._model.get(pk, sk, consistent_read=True)
            except self._model.DoesNotExist:
                return None

        return call(get, what)

    def _query(self, what: str, partition: str, sort_condition=None, index=None, **options) -> list[Model]:
        """Every item of one partition (all pages), in sort-key order unless told otherwise."""
        source = index or self._model
        if index is None:
            options.setdefault("consistent_read", True)
        return call(lambda: list(source.query(partition, sort_condition, **options)), what)

    # -- flows
    def ensure_flow(self, name: str) -> Flow:
        if name not in self._flows:
            self._flows[name] = self._read_or_create_flow(name)
        return self._flows[name]

    def _read_or_create_flow(self, name: str) -> Flow:
        item = self._get(keys.flow(name), keys.FLOW, "read flow")
        if item is not None:
            return Flow.model_validate_json(item.doc)
        flow = Flow(id=uuid.uuid4(), name=name, created=utcnow())
        model = self._model
        new = model(keys.flow(name), keys.FLOW, doc=dump(flow), gsi1pk=keys.FLOWS, gsi1sk=name)
        try:
            call(lambda: new.save(condition=model.pk.does_not_exist()), "create flow")
            return flow
        except Conflict:  # created by someone else meanwhile: theirs is the flow
            return Flow.model_validate_json(self._get(keys.flow(name), keys.FLOW, "read flow").doc)

    def list_flows(self, limit: int = 200) -> list[Flow]:
        items = self._query("list flows", keys.FLOWS, index=self._model.gsi1, limit=limit)
        return [Flow.model_validate_json(item.doc) for item in items]

    # -- flow runs
    def create_flow_run(
        self, run: FlowRun, history_before: Sequence[State] = (), *, lease_expires: dt.datetime | None = None
    ) -> FlowRun:
        try:
            _writes.create_flow_run(self._model, run, history_before, lease_expires).commit()
        except AlreadyExists as taken:
            ref = taken.ref or self._ref(keys.idempotency(run.idempotency_key))
            existing = self.read_flow_run(uuid.UUID(ref))
            if existing is None:
                raise Conflict(f"idempotency key {run.idempotency_key!r} is taken by a missing run") from taken
            return existing
        self._saw_flow_run(run.id, True)
        return run

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun | None:
        item = self._read_flow_run_item(run_id)
        return _codec.load_flow_run(item) if item else None

    def _read_flow_run_item(self, run_id: uuid.UUID) -> Model | None:
        item = self._get(keys.flow_run(run_id), keys.RUN, "read flow run")
        if item is not None:
            self._saw_flow_run(run_id, item.task_layout == keys.TASK_LAYOUT)
        return item

    def _saw_flow_run(self, run_id: uuid.UUID, task_layout: bool) -> None:
        seen = self._seen_flow_runs
        if run_id not in seen and len(seen) >= SEEN_FLOW_RUNS:
            with contextlib.suppress(KeyError, StopIteration, RuntimeError):  # another thread got there first
                del seen[next(iter(seen))]
        seen[run_id] = task_layout

    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        return call(lambda: list_flow_runs(self._model, flt), "list flow runs")

    def count_flow_runs(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        flow_name: str | None = None,
        deployment_name: str | None = None,
        per_hour: bool = True,
    ) -> dict[dt.datetime, dict[StateType, int]]:
        """Runs created in [since, until) (whole hours), per hour and current state: counters, no Scan."""
        return call(
            lambda: stats.count_flow_runs(self._model, since, until, flow_name, deployment_name, per_hour), "count runs"
        )

    def list_due_flow_runs(
        self,
        before: dt.datetime,
        work_queue_name: str | None = None,
        limit: int = 100,
        after: FlowRun | None = None,
    ) -> list[FlowRun]:
        model = self._model
        start = None
        if after is not None and after.expected_start_time is not None:
            start = keys.due_sk(after.expected_start_time, after.id)
        options = {
            "consistent_read": True,
            "filter_condition": (model.work_queue == work_queue_name) if work_queue_name is not None else None,
            "limit": limit + (start is not None),  # the `after` run itself, if still due, comes back first
        }
        shards = [keys.due(n) for n in range(keys.SHARDS)] + [keys.LEGACY_DUE]
        end = keys.ts(before) + "$"  # '$' sorts after the '#' that follows the time
        due = model.sk < end if start is None else model.sk.between(start, end)

        def read() -> list[Model]:
            pages = all_pages(model, shards, due, **options)
            legacy = self._still_due(pages.pop())
            items = heapq.merge(*pages, legacy, key=lambda item: item.sk)
            if start is not None:
                items = (item for item in items if item.sk > start)
            return list(itertools.islice(_first_of_each(items, lambda item: item.ref), limit))

        return [_codec.load_flow_run(item) for item in call(read, "list due flow runs")]

    def list_upcoming_flow_runs(
        self, after: dt.datetime, limit: int = 10, *, flow_name: str | None = None, deployment_name: str | None = None
    ) -> list[FlowRun]:
        """The due index's shards read from `after` on (`sk > <after>$`), each a Query paged as
        the merge needs it, soonest first; flow and deployment checked on the runs read."""
        model, page = self._model, min(max(limit, 10), 100)
        upcoming = model.sk > keys.ts(after) + "$"  # '$' sorts after the '#' that follows the time
        streams = [
            model.query(partition, upcoming, consistent_read=True, page_size=page)
            for partition in [*(keys.due(n) for n in range(keys.SHARDS)), keys.LEGACY_DUE]
        ]

        def read() -> list[FlowRun]:
            runs = []
            for item in merged(streams, key=lambda item: item.sk):
                if item.pk == keys.LEGACY_DUE and not self._still_due([item]):
                    continue
                run = _codec.load_flow_run(item)
                if (flow_name is None or run.flow_name == flow_name) and (
                    deployment_name is None or run.deployment_name == deployment_name
                ):
                    runs.append(run)
                    if len(runs) == limit:
                        break
            return runs

        return call(read, "list upcoming flow runs")

    def _still_due(self, items: list[Model]) -> list[Model]:
        """Due items of the unsharded layout whose run still waits. A transition deletes the due
        item in the run's shard only, so one written before sharding may outlive its wait; it is
        read against the run (rare: only until `migrate_key_layout` has run) and dropped if stale."""
        if not items:
            return []
        runs = {
            item.pk: _codec.load_flow_run(item)
            for item in self._model.batch_get([(keys.flow_run(i.ref), keys.RUN) for i in items], consistent_read=True)
        }
        kept = []
        for item in items:
            run = runs.get(keys.flow_run(item.ref))
            if run is not None and _writes.due_sk(run) == item.sk:
                kept.append(
                    item.__class__(item.pk, item.sk, doc=_codec.dump_flow_run(run, in_run_item=False), ref=item.ref)
                )
        return kept

    def _ref(self, pk: str, sk: str = keys.IDENTITY) -> str:
        item = self._get(pk, sk, "read identity")
        if item is None:
            raise Conflict(f"{pk} was taken, then vanished")
        return item.ref

    # -- task runs
    def create_task_run(
        self,
        run: TaskRun,
        history_before: Sequence[State] = (),
        acquire_slots: Sequence[str] = (),
        *,
        require_open_flow_run: bool = False,
    ) -> TaskRun:
        seen = self._seen_flow_runs.get(run.flow_run_id) if run.flow_run_id is not None else None
        for _ in range(_FLOW_RUN_CHECKS):
            try:
                _writes.create_task_run(
                    self._model,
                    run,
                    history_before,
                    acquire_slots,
                    require_open_flow_run,
                    flow_run_seen=seen is not None,
                    legacy=seen is False,
                ).commit()
                return run
            except AlreadyExists as taken:
                ref = taken.ref or self._task_identity_ref(run, legacy=seen is False)
                existing = self.read_task_run(uuid.UUID(ref))
                if existing is None:
                    raise Conflict(f"task run {run.task_key}/{run.dynamic_key} is taken by a missing run") from taken
                return existing
            except FlowRunCheckFailed as failed:
                # Rare: only now is the flow run read, to tell a missing run from a closed one
                # (or from one of the layout before, whose task runs are then written as it was).
                item = self._read_flow_run_item(run.flow_run_id)
                if item is None:
                    raise flow_run_not_found(run.flow_run_id) from failed
                seen = self._seen_flow_runs.get(run.flow_run_id, item.task_layout == keys.TASK_LAYOUT)
                flow_run = _codec.load_flow_run(item)
                state_type = flow_run.state.type if flow_run.state else None
                if require_open_flow_run and state_type in FLOW_RUN_CLOSED:
                    raise FlowRunClosed(run.flow_run_id, state_type) from failed
                # Open again (an operator forced it back), or of the layout before: write again.
        raise Conflict(f"flow run {run.flow_run_id} kept changing while a task run was created in it")

    def read_task_run(self, run_id: uuid.UUID) -> TaskRun | None:
        item = self._get(keys.task_run(run_id), keys.RUN, "read task run")
        return _codec.load_task_run(item.doc) if item else None

    def _task_identity_ref(self, run: TaskRun, legacy: bool) -> str:
        if legacy:
            return self._ref(keys.task_identity(run.flow_run_id, run.task_key, run.dynamic_key))
        return self._ref(keys.flow_run(run.flow_run_id), keys.task_identity_sk(run.task_key, run.dynamic_key))

    def list_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        return call(lambda: self._task_runs(flow_run_id), "list task runs")

    def list_unfinished_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        runs = call(lambda: self._task_runs(flow_run_id, unfinished=True), "list task runs")
        return [run for run in runs if run.state is None or not run.state.is_final()]

    def _task_runs(self, flow_run_id: uuid.UUID, unfinished: bool = False) -> list[TaskRun]:
        """Identity items in the flow run's partition, then their runs (BatchGetItem), in creation
        order; at once, gsi1's copies of task runs of the layout before (a flow run has one or
        the other: not queried for a flow run this store has seen in the task layout). A listing
        reads the runs eventually consistent (half the read units; a run too new to be answered
        is read again strongly); the unfinished ones, which a flow run's end acts on, strongly."""
        model = self._model
        # Task-run items carry their state type (legacy items written before they did pass it).
        legacy_filter = ~model.state_type.is_in(*(t.value for t in TERMINAL_STATE_TYPES)) if unfinished else None
        reads = [
            lambda: list(
                model.query(keys.flow_run(flow_run_id), model.sk.startswith(keys.TASK_PREFIX), consistent_read=True)
            )
        ]
        if not self._seen_flow_runs.get(flow_run_id):
            reads.append(lambda: list(model.gsi1.query(keys.task_runs_of(flow_run_id), filter_condition=legacy_filter)))
        identities, *rest = parallel(reads)
        legacy = rest[0] if rest else []
        wanted = [(keys.task_run(item.ref), keys.RUN) for item in identities]
        found = {item.pk: item for item in model.batch_get(wanted, consistent_read=unfinished)} if wanted else {}
        if missing := [key for key in wanted if key[0] not in found]:  # too new for an eventual read
            found.update((item.pk, item) for item in model.batch_get(missing, consistent_read=True))
        ordered = [(item.created, found[pk]) for item, (pk, _) in zip(identities, wanted, strict=True) if pk in found]
        ordered += [(item.gsi1sk, item) for item in legacy]
        ordered.sort(key=lambda pair: pair[0])
        seen: set[str] = set()
        return [_codec.load_task_run(item.doc) for _, item in ordered if not (item.pk in seen or seen.add(item.pk))]

    # -- states
    def read_state_history(self, kind, run_id: uuid.UUID) -> list[State]:
        partition = keys.run_pk(kind, run_id)
        if kind == "flow_run":
            # The run item (its current state) and its history items (the states before), in one
            # Query: "RUN" sorts just before "STATE#...", and "STATE$" after them. History items
            # written before also hold the state their transition set: ids drop the overlap.
            model = self._model
            items = self._query(
                "read state history", partition, model.sk.between(keys.RUN, keys.STATE_PREFIX[:-1] + "$")
            )
            run_items = [item for item in items if item.sk == keys.RUN]
            states = [state for item in items if item.sk != keys.RUN for state in _STATES.validate_json(item.doc)]
            states += [run.state for run in map(_codec.load_flow_run, run_items) if run.state]
            seen_ids: set[uuid.UUID] = set()
            return [state for state in states if not (state.id in seen_ids or seen_ids.add(state.id))]
        # A task run's history is in its item (`hist`, then its current state); history items
        # (STATE#...) are those of task runs written before, read first. Ids drop the overlap.
        items = self._query("read state history", partition)
        run_items = [item for item in items if item.sk == keys.RUN]
        states = [state for item in items if item.sk != keys.RUN for state in _STATES.validate_json(item.doc)]
        for item in run_items:
            run = _codec.load_task_run(item.doc)
            states += _codec.load_states(item.hist or [], run)
            states += [run.state] if run.state else []
        seen: set[uuid.UUID] = set()
        return [state for state in states if not (state.id in seen or seen.add(state.id))]

    def commit_transition(self, write: TransitionWrite) -> None:
        release = list(write.release_slots)
        while True:
            try:
                _writes.commit_transition(self._model, write, release).commit()
                return
            except VersionConflict:
                if write.kind == "task_run" and self._already_written(write):
                    return
                raise
            except NothingToRelease as noop:
                # Those counters are at zero or their limit is gone: commit without them.
                remaining = [tag for tag in release if tag not in noop.tags]
                if len(remaining) == len(release):
                    raise Conflict(f"releasing {noop.tags} failed") from noop
                release = remaining

    def _already_written(self, write: TransitionWrite) -> bool:
        """Whether a task run's write that lost to a version conflict is in fact the one stored: a
        single conditional update (a plain end) carries no request token, so botocore sending it
        again after a lost answer finds its own write (a transaction's token makes DynamoDB answer
        it instead, as for every flow-run write)."""
        stored, new = self.read_task_run(write.run_id), write.updated_run()
        return (
            stored is not None
            and stored.state_version == new.state_version
            and stored.state is not None
            and stored.state.id == write.state.id
        )

    # -- cache
    def read_cache(self, key: str, now: dt.datetime) -> State | None:
        item = self._get(keys.cache(key), keys.CACHE, "read cache")
        if item is None or (item.expiration is not None and item.expiration <= keys.ts(now)):
            return None
        return State.model_validate_json(item.doc)

    # -- concurrency limits
    @staticmethod
    def _limit(item: Model) -> ConcurrencyLimit:
        tag = item.pk.removeprefix(keys.limit(""))
        return ConcurrencyLimit(tag=tag, limit=int(item.lim), active_slots=int(item.active), created=item.created)

    def upsert_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        model = self._model
        # The tag's entry in the LIMITS partition (for listing) comes first, so a counter is never
        # unlisted; the counter item itself is in no index, so taking a slot writes no GSI copy.
        call(model(keys.LIMITS, tag).save, "set concurrency limit")
        counter = model(keys.limit(tag), keys.LIMIT)
        actions = [
            model.lim.set(limit),
            model.active.set(model.active | 0),  # if_not_exists: the counter survives updates
            model.created.set(model.created | keys.ts(utcnow())),
        ]
        call(lambda: counter.update(actions), "set concurrency limit")  # answers ALL_NEW: no read
        return self._limit(counter)

    def read_concurrency_limits(self, tags: Sequence[str]) -> dict[str, ConcurrencyLimit]:
        if not tags:
            return {}
        wanted = [(keys.limit(tag), keys.LIMIT) for tag in dict.fromkeys(tags)]
        items = call(lambda: list(self._model.batch_get(wanted, consistent_read=True)), "read concurrency limits")
        return {limit.tag: limit for limit in map(self._limit, items)}

    def list_concurrency_limits(self) -> list[ConcurrencyLimit]:
        listed = [item.sk for item in self._query("list concurrency limits", keys.LIMITS)]
        found = self.read_concurrency_limits(listed) if listed else {}
        return [found[tag] for tag in listed if tag in found]

    def delete_concurrency_limit(self, tag: str) -> bool:
        deleted = self._delete(keys.limit(tag), keys.LIMIT, "delete concurrency limit")
        for held in self._holder_items(tag):  # a limit made again later starts with no holders
            call(held.delete, "delete concurrency limit")
        call(self._model(keys.LIMITS, tag).delete, "delete concurrency limit")
        return deleted

    # -- leases and slot holders
    def renew_leases(
        self, run_ids: Sequence[uuid.UUID], expires: dt.datetime, *, create: bool = False
    ) -> list[uuid.UUID]:
        model, until = self._model, keys.ts(expires)
        # Never shortens a lease (two executors may beat for one run, at different intervals).
        later = model.expiration < until
        if create:
            later |= model.pk.does_not_exist()
        renewed = []
        for run_id in dict.fromkeys(run_ids):
            item = model(keys.lease(run_id), keys.LEASE)
            try:
                moved = [model.expiration.set(until), *lease_index_actions(model, run_id, expires)]
                call(lambda item=item, moved=moved: item.update(moved, condition=later), "renew lease")
            except Conflict:
                if self._get(keys.lease(run_id), keys.LEASE, "read lease") is None:
                    continue  # no lease: the run is not running (or has ended)
            renewed.append(run_id)
        return renewed

    def read_leases(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dt.datetime]:
        if not run_ids:
            return {}
        wanted = [(keys.lease(run_id), keys.LEASE) for run_id in dict.fromkeys(run_ids)]
        items = call(lambda: list(self._model.batch_get(wanted, consistent_read=True)), "read leases")
        prefix = keys.lease("")
        return {uuid.UUID(item.pk.removeprefix(prefix)): keys.parse_ts(item.expiration) for item in items}

    def read_slot_holders(self, tag: str) -> list[SlotHolder]:
        return [
            SlotHolder(uuid.UUID(item.sk.removeprefix(keys.HOLDER_PREFIX)), uuid.UUID(item.ref))
            for item in self._holder_items(tag)
        ]

    def _holder_items(self, tag: str) -> list[Model]:
        return self._query("read slot holders", keys.limit(tag), self._model.sk.startswith(keys.HOLDER_PREFIX))

    def _delete(self, pk: str, sk: str, what: str) -> bool:
        model = self._model
        try:
            call(lambda: model(pk, sk).delete(condition=model.pk.exists()), what)
        except Conflict:
            return False
        return True

    # -- logs
    def write_logs(self, logs: Sequence[LogCreate]) -> None:
        if not logs:
            return
        model = self._model
        expires = utcnow() + self.log_retention if self.log_retention else None
        items = [
            model(
                keys.logs_of(log.flow_run_id, log.task_run_id),
                keys.log_sort(log.timestamp, log.id),
                doc=dump(log),
                level=log.level,
                expires_at=expires,
            )
            for log in logs
        ]

        # A record with an id has a key of its own: sent again, it overwrites itself (stored once).
        def write() -> None:  # BatchWriteItem, 25 at a time; puts of fixed keys are safe to resend
            with model.batch_write() as batch:
                for item in items:
                    batch.save(item)

        call(write, "write logs")

    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        # No OFFSET in DynamoDB: the skipped items are read too (the API pages logs rarely).
        # Newest first is the same Query read backwards, so a tail reads only its own lines.
        model, wanted = self._model, offset + limit
        options: dict = {"consistent_read": True, "scan_index_forward": not newest_first, "page_size": wanted}
        if min_level > 0:
            # A filter applies after each request's Limit: examine bigger pages.
            options["filter_condition"] = (model.level >= min_level) | model.level.does_not_exist()
            options["page_size"] = max(wanted, LOG_FILTER_PAGE)

        def read() -> list[Log]:
            logs: list[Log] = []
            for item in model.query(keys.logs_of(flow_run_id, None), **options):
                log = Log.model_validate_json(item.doc)
                if log.level >= min_level:  # lines stored before items carried a level are judged here
                    logs.append(log)
                    if len(logs) == wanted:
                        break
            return logs

        return call(read, "read logs")[offset:]

    def read_log_page(self, flow_run_id: uuid.UUID | None, **options) -> list[Log]:
        """As `SQLiteStore.read_log_page`: filtered, in either direction, from a line's place."""
        return call(lambda: _log_pages.read_log_page(self._model, flow_run_id, **options), "read logs")

    # -- API keys
    def create_api_key(self, record: ApiKeyRecord) -> None:
        model = self._model
        item = model(
            keys.api_key(record.id),
            keys.API_KEY,
            doc=dump(record),
            revoked=record.revoked.isoformat() if record.revoked else None,
            gsi1pk=keys.API_KEYS,
            gsi1sk=f"{keys.ts(record.created)}#{record.id}",
        )
        call(lambda: item.save(condition=model.pk.does_not_exist()), "create API key")

    @staticmethod
    def _api_key(item: Model) -> ApiKeyRecord:
        record = ApiKeyRecord.model_validate_json(item.doc)
        if item.revoked:  # kept beside the document so revoking is one conditional update
            record = record.model_copy(update={"revoked": dt.datetime.fromisoformat(item.revoked)})
        return record

    def read_api_key(self, key_id: str) -> ApiKeyRecord | None:
        item = self._get(keys.api_key(key_id), keys.API_KEY, "read API key")
        return self._api_key(item) if item else None

    def list_api_keys(self) -> list[ApiKeyRecord]:
        return [self._api_key(item) for item in self._query("list API keys", keys.API_KEYS, index=self._model.gsi1)]

    def revoke_api_key(self, key_id: str, at: dt.datetime) -> bool:
        model = self._model
        item = model(keys.api_key(key_id), keys.API_KEY)
        action = model.revoked.set(model.revoked | at.isoformat())  # revoking twice keeps the first time
        try:
            call(lambda: item.update([action], condition=model.pk.exists()), "revoke API key")
        except Conflict:
            return False
        return True

    # -- documents
    def put_document(self, kind: str, key: str, doc: dict) -> None:
        item = self._model(keys.documents_of(kind), keys.document_sk(key), doc=json.dumps(doc, default=str))
        call(item.save, "put document")

    def read_document(self, kind: str, key: str) -> dict | None:
        item = self._get(keys.documents_of(kind), keys.document_sk(key), "read document")
        return json.loads(item.doc) if item else None

    def list_documents(self, kind: str) -> list[dict]:
        return [json.loads(item.doc) for item in self._query("list documents", keys.documents_of(kind))]

    def delete_document(self, kind: str, key: str) -> bool:
        return self._delete(keys.documents_of(kind), keys.document_sk(key), "delete document")

    # -- server settings
    def read_setting(self, name: str) -> dict | None:
        item = self._get(keys.setting(name), keys.SETTING, "read setting")
        return json.loads(item.doc) if item else None

    def write_setting(self, name: str, value: dict) -> None:
        call(self._model(keys.setting(name), keys.SETTING, doc=json.dumps(value)).save, "write setting")


def _first_of_each(items, key):
    """`items` less any whose `key` came before (a run's due item in both layouts)."""
    seen = set()
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            yield item
