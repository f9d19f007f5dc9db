"""DynamoDB only: a table written by the unsharded key layout (before write sharding) is read by
the sharded store as it was, its runs move to their shards as they change, and `migrate` moves
the rest. The old layout is written here item by item, as the store wrote it then (its README's
table: gsi1 `RUNS`, gsi2 `FLOWRUNS#<flow>`, gsi3 `STATE#<type>`, `RUNTAG#`/`RUNDEPLOYMENT#`
facets, `DUE`, counters `RUNSTATS#<scope>` / `<hour>#<state>#<id mod 4>`)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRun, FlowRunFilter
from mintaka.states import State, StateType
from mintaka_server.storage.dynamodb import DynamoDBStore, _keys, _writes, stats
from mintaka_server.storage.dynamodb.migrate import main as migrate_main
from mintaka_server.storage.dynamodb.migrate import migrate_key_layout


@pytest.fixture
def dynamodb(store):
    if not isinstance(store, DynamoDBStore):
        pytest.skip("about the DynamoDB store's key layout")
    return store


def make(store: DynamoDBStore, at, i: int, state: State | None = None, **fields) -> FlowRun:
    flow = store.ensure_flow("etl")
    return store.create_flow_run(
        FlowRun(
            id=uuid.uuid4(),
            flow_id=flow.id,
            flow_name="etl",
            name=f"run-{i}",
            state=state or State(type=StateType.PENDING, timestamp=at(i)),
            created=at(i),
            **fields,
        )
    )


def to_unsharded(store: DynamoDBStore, run: FlowRun) -> None:
    """Rewrite a run's items as the unsharded layout had them."""
    model, n, sort = store._model, _keys.shard(run.id), _keys.run_sort(run.created, run.id)
    state = run.state.type.value
    model(_keys.flow_run(run.id), _keys.RUN).update(
        [
            model.gsi1pk.set(_keys.LEGACY_ALL_RUNS),
            model.gsi2pk.set(_keys.flow_runs_of(run.flow_name)),
            model.gsi3pk.set(_keys.state_runs(state)),
        ]
    )
    moves = [(_keys.tag_facet(t, n), _keys.tag_facet(t)) for t in run.tags]
    if run.deployment_name:
        moves.append((_keys.deployment_facet(run.deployment_name, n), _keys.deployment_facet(run.deployment_name)))
    for new, old in moves:
        model(new, sort).delete()
        model(old, sort, ref=str(run.id)).save()
    if due := _writes.due_sk(run):
        item = model.get(_keys.due(n), due)
        item.delete()
        model(_keys.LEGACY_DUE, due, doc=item.doc, work_queue=item.work_queue, ref=item.ref).save()
    hour_state = f"{_keys.ts(run.created)[:13]}#{state}"
    for scope in stats._scopes(run):
        model(stats.counter_pk(scope, _keys.shard(run.id, _keys.STATS_SHARDS)), hour_state).update(
            [model.active.add(-1)]
        )
        model(stats.counter_pk(scope, None), f"{hour_state}#{run.id.int % 4}").update([model.active.add(1)])


def ids(store, **flt) -> list[uuid.UUID]:
    return [run.id for run in store.list_flow_runs(FlowRunFilter(**flt)).items]


def legacy_items(store: DynamoDBStore) -> int:
    model = store._model
    partitions = [_keys.LEGACY_DUE, _keys.tag_facet("t"), _keys.deployment_facet("etl/prod")]
    count = sum(len(list(model.query(p))) for p in partitions)
    return count + len(list(model.gsi1.query(_keys.LEGACY_ALL_RUNS)))


def test_old_layout_is_read_moved_by_transitions_and_migrated(dynamodb, transition, at):
    store = dynamodb
    scheduled = State(type=StateType.SCHEDULED, timestamp=at(1), state_details={"scheduled_time": at(5)})
    old = make(store, at, 1, tags=["t"], deployment_name="etl/prod")
    old_due = make(store, at, 2, state=scheduled, expected_start_time=at(5), work_queue_name="q")
    waiting = make(store, at, 3, state=scheduled, expected_start_time=at(6), work_queue_name="q")
    new = make(store, at, 4, tags=["t"], deployment_name="etl/prod")
    for run in (old, old_due, waiting):
        to_unsharded(store, run)
    assert legacy_items(store) == 7  # 3 runs, 2 facets, 2 due items

    # Read as one layout.
    assert ids(store) == [new.id, waiting.id, old_due.id, old.id]
    assert ids(store, flow_name="etl", limit=2) == [new.id, waiting.id]
    assert ids(store, state_type=[StateType.PENDING]) == [new.id, old.id]
    assert ids(store, tag=["t"]) == ids(store, deployment_name="etl/prod") == [new.id, old.id]
    assert [r.id for r in store.list_due_flow_runs(at(10), "q")] == [old_due.id, waiting.id]
    hour = at(0).replace(minute=0, second=0)
    counts = {hour: {StateType.PENDING: 2, StateType.SCHEDULED: 2}}
    assert store.count_flow_runs(hour, hour + dt.timedelta(hours=1)) == counts

    # A transition moves the run to its shard; its old due item is no longer listed.
    store.commit_transition(transition(old_due, State(type=StateType.PENDING, timestamp=at(7))))
    assert [r.id for r in store.list_due_flow_runs(at(10), "q")] == [waiting.id]
    assert ids(store, state_type=[StateType.PENDING]) == [new.id, old_due.id, old.id]
    assert store.count_flow_runs(hour, hour + dt.timedelta(hours=1)) == {
        hour: {StateType.PENDING: 3, StateType.SCHEDULED: 1}
    }

    moved = migrate_key_layout(store)
    assert (moved.runs, moved.facets, moved.due, moved.stale_due) == (2, 2, 1, 1)
    assert legacy_items(store) == 0
    assert ids(store) == [new.id, waiting.id, old_due.id, old.id]
    assert ids(store, tag=["t"]) == ids(store, deployment_name="etl/prod") == [new.id, old.id]
    assert [r.id for r in store.list_due_flow_runs(at(10), "q")] == [waiting.id]
    assert migrate_key_layout(store) == type(moved)()  # nothing left: running it again is a no-op


def test_a_run_suspended_before_timeout_items_is_indexed_by_migrate(dynamodb, transition, at):
    store = dynamodb
    run = make(store, at, 1, state=State(type=StateType.RUNNING, timestamp=at(1)))
    details = {"flow_run_id": run.id, "pause_timeout": at(30), "pause_reschedule": True}
    store.commit_transition(transition(run, State(type=StateType.PAUSED, timestamp=at(2), state_details=details)))
    suspended = store.read_flow_run(run.id)
    store._model(_keys.suspended(_keys.shard(run.id)), _writes.suspension_sk(suspended)).delete()  # as written before
    assert store.list_expired_suspensions(at(60)) == []
    assert migrate_key_layout(store).suspensions == 1
    assert store.list_expired_suspensions(at(60)) == [run.id]
    assert migrate_key_layout(store).suspensions == 0  # indexed once


def test_migrate_command(dynamodb, capsys):
    endpoint = dynamodb._model.Meta.host
    migrate_main([dynamodb.table_name, "--endpoint-url", endpoint])
    assert "moved 0 runs" in capsys.readouterr().out
