"""DynamoDB only: a flow run's item leaves out what its keys and attributes say, so a deployed
run's item (and each of its GSI copies) stays under 1 KB, one write unit, from SCHEDULED to
COMPLETED; a run created with no states before its first writes no history item; and a run
written whole before (every field in its document, each history item holding the state its
transition set) reads back the same and keeps its whole history once transitioned."""

from __future__ import annotations

import json

import pytest

from mintaka.schemas import FlowRunFilter
from mintaka.states import State, StateType
from mintaka_server.storage import TransitionWrite
from mintaka_server.storage.dynamodb import DynamoDBStore, _keys


@pytest.fixture
def dynamodb(store):
    if not isinstance(store, DynamoDBStore):
        pytest.skip("about the DynamoDB store's items")
    return store


def size(item: dict) -> int:
    """DynamoDB's item size for a run item's attributes (strings, numbers, a string set)."""
    total = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        total += len(name.encode())
        if kind == "S":
            total += len(content.encode())
        elif kind == "N":
            total += len(content) // 2 + 1
        else:
            total += sum(len(v.encode()) for v in content)
    return total


def raw(store: DynamoDBStore, pk: str) -> list[dict]:
    """The items of one partition as DynamoDB holds them."""
    answer = store.client.query(
        TableName=store.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )
    return answer["Items"]


def test_a_deployed_run_stays_one_write_unit_and_records_every_state(dynamodb, new_flow_run, at):
    store = dynamodb
    scheduled = State(type=StateType.SCHEDULED, timestamp=at(0), state_details={"scheduled_time": at(60)})
    run = new_flow_run(
        "nightly-report",
        state=scheduled,
        tags=["nightly"],
        deployment_name="nightly-report/production",
        work_queue_name="default",
        expected_start_time=at(60),
    )
    pk = _keys.flow_run(run.id)
    assert [item["sk"]["S"] for item in raw(store, pk)] == ["RUN"]  # no history item: nothing came before
    states = [scheduled]
    for i, (state_type, fields) in enumerate(
        [
            (StateType.PENDING, {}),
            (StateType.RUNNING, {"start_time": at(61), "heartbeat_interval": 30.0}),
            (StateType.COMPLETED, {"end_time": at(62)}),
        ],
        start=1,
    ):
        current = store.read_flow_run(run.id)
        new = State(type=state_type, timestamp=at(60 + i), state_details={"flow_run_id": run.id})
        store.commit_transition(TransitionWrite(kind="flow_run", run=current, state=new, **fields))
        states.append(new)
        (item,) = [item for item in raw(store, pk) if item["sk"]["S"] == "RUN"]
        assert size(item) < 1024, (state_type, size(item))
        assert json.loads(item["doc"]["S"]).keys().isdisjoint({"id", "flow_name", "deployment_name"})

    finished = store.read_flow_run(run.id)
    assert finished.id == run.id and finished.flow_name == "nightly-report"
    assert finished.deployment_name == "nightly-report/production" and finished.work_queue_name == "default"
    assert finished.tags == ["nightly"] and finished.state.state_details.flow_run_id == run.id
    assert finished.state.name == "Completed"
    history = store.read_state_history("flow_run", run.id)
    assert [s.id for s in history] == [s.id for s in states]
    assert all(s.state_details.flow_run_id == run.id for s in history[1:])
    # Read back from a GSI copy too (the state index), the left-out fields from its attributes.
    (listed,) = store.list_flow_runs(FlowRunFilter(state_type=[StateType.COMPLETED])).items
    assert listed == finished


def test_a_run_written_whole_before_reads_the_same_and_keeps_its_history(dynamodb, new_flow_run, at):
    store = dynamodb
    run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(1)), deployment_name="etl/daily")
    pending = State(type=StateType.PENDING, timestamp=at(0), state_details={"flow_run_id": run.id})
    # As the store wrote flow runs before: the whole document, and a history item with the state
    # its transition set.
    model = store._model
    model(_keys.flow_run(run.id), _keys.RUN).update([model.doc.set(run.model_dump_json(exclude_defaults=True))])
    doc = "[" + ",".join(s.model_dump_json() for s in (pending, run.state)) + "]"
    model(_keys.flow_run(run.id), _keys.history_sk(run.state_version), doc=doc).save()
    assert store.read_flow_run(run.id) == run
    done = State(type=StateType.COMPLETED, timestamp=at(2))
    store.commit_transition(TransitionWrite(kind="flow_run", run=run, state=done, end_time=at(2)))
    assert [s.id for s in store.read_state_history("flow_run", run.id)] == [pending.id, run.state.id, done.id]
    assert store.read_flow_run(run.id).deployment_name == "etl/daily"
