"""DynamoDB only: a plain task run is two requests, each one item under 1 KB (its history rides in
its item) and in no index, reads back with every state as written, and a task run stored with
history items (before compact task runs) keeps its whole history. A flow run the store has seen
is not checked again by a create that needs no open flow run; task runs of a flow run written
before the task layout stay unique and listed. Counted with botocore event hooks on the store's
own client, on moto and DynamoDB Local alike."""

from __future__ import annotations

import uuid

import pytest

from mintaka.exceptions import ObjectNotFound
from mintaka.schemas import TaskRun
from mintaka.states import State, StateType
from mintaka_server.storage import TransitionWrite
from mintaka_server.storage.dynamodb import DynamoDBStore, _keys


@pytest.fixture
def dynamodb(store):
    if not isinstance(store, DynamoDBStore):
        pytest.skip("about the DynamoDB store's requests")
    return store


def size(item: dict) -> int:
    """DynamoDB's item size for the string and number attributes a run item has."""
    total = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        total += len(name.encode())
        if kind == "S":
            total += len(raw.encode())
        elif kind == "N":
            total += len(raw) // 2 + 1
        elif kind == "L":
            total += 3 + sum(len(entry["S"].encode()) + 1 for entry in raw)
        else:
            total += sum(len(v.encode()) for v in raw)
    return total


def started_task_run(flow_run_id: uuid.UUID, at) -> tuple[TaskRun, State]:
    ids = {"flow_run_id": flow_run_id}
    running = State(type=StateType.RUNNING, timestamp=at(1), state_details=ids)
    pending = State(type=StateType.PENDING, timestamp=at(1), state_details=ids)
    run = TaskRun(
        id=uuid.uuid4(),
        flow_run_id=flow_run_id,
        task_key="module.extract",
        dynamic_key="12",
        name="extract-12",
        state=running,
        state_version=1,
        run_count=1,
        created=at(1),
        start_time=at(1),
    )
    for state in (running, pending):
        state.state_details.task_run_id = run.id
    return run, pending


def test_a_plain_task_run_is_two_requests_of_one_small_item(dynamodb, new_flow_run, at):
    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    sent: list[str] = []
    store.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: sent.append(model.name))
    run, pending = started_task_run(flow_run.id, at)
    store.create_task_run(run, history_before=[pending], require_open_flow_run=True)
    ids = {"flow_run_id": flow_run.id, "task_run_id": run.id}
    done = State(type=StateType.COMPLETED, timestamp=at(2), message="ok", state_details=ids)
    store.commit_transition(TransitionWrite(kind="task_run", run=run, state=done, end_time=at(2)))
    assert sent == ["TransactWriteItems", "UpdateItem"]

    history = store.read_state_history("task_run", run.id)
    assert history == [pending, run.state, done]
    assert all(s.state_details.task_run_id == run.id and s.state_details.flow_run_id == flow_run.id for s in history)
    stored = store.read_task_run(run.id)
    assert stored.state == done and stored.state_version == 2
    assert [r.id for r in store.list_task_runs(flow_run.id)] == [run.id]
    raw = store.client.get_item(
        TableName=store.table_name, Key={"pk": {"S": _keys.task_run(run.id)}, "sk": {"S": _keys.RUN}}
    )["Item"]
    assert size(raw) < 1024  # one write unit per write


def test_the_same_end_sent_twice_is_written_once(dynamodb, new_flow_run, at):
    # What botocore does when an answer is lost: the update goes again and finds its own write.
    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    run, pending = started_task_run(flow_run.id, at)
    store.create_task_run(run, history_before=[pending])
    end = TransitionWrite(kind="task_run", run=run, state=State(type=StateType.COMPLETED, timestamp=at(2)))
    store.commit_transition(end)
    store.commit_transition(end)
    assert [s.type for s in store.read_state_history("task_run", run.id)] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]


def test_a_task_run_with_history_items_keeps_its_whole_history(dynamodb, new_flow_run, at):
    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    run, pending = started_task_run(flow_run.id, at)
    store.create_task_run(run, history_before=[pending])
    # As the store wrote task runs before: no `hist`, one history item per transition.
    model = store._model
    model(_keys.task_run(run.id), _keys.RUN).update([model.hist.remove()])
    doc = "[" + ",".join(s.model_dump_json() for s in (pending, run.state)) + "]"
    model(_keys.task_run(run.id), _keys.history_sk(1), doc=doc).save()
    failed = State(type=StateType.FAILED, timestamp=at(2))
    store.commit_transition(TransitionWrite(kind="task_run", run=run, state=failed))
    assert store.read_state_history("task_run", run.id) == [pending, run.state, failed]


def sent_items(store) -> list[dict]:
    """Every write request the store sends from now on: its API and the items it names."""
    sent: list[dict] = []

    def record(model, params, **_):
        if model.name == "TransactWriteItems":
            sent.append({"api": model.name, "items": [next(iter(entry)) for entry in params["TransactItems"]]})
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            sent.append({"api": model.name, "items": [model.name]})

    store.client.meta.events.register("provide-client-params.dynamodb.*", record)
    return sent


def test_a_task_run_is_in_no_index_and_listed_from_its_flow_runs_partition(dynamodb, new_flow_run, at):
    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    runs = []
    for key in ("b", "a", "c"):  # listed in creation order, not by task key
        run, pending = started_task_run(flow_run.id, at)
        run = run.model_copy(update={"task_key": key})
        runs.append(store.create_task_run(run, history_before=[pending], require_open_flow_run=True))
    item = store.client.get_item(
        TableName=store.table_name, Key={"pk": {"S": _keys.task_run(runs[0].id)}, "sk": {"S": _keys.RUN}}
    )["Item"]
    assert not [name for name in item if name.startswith("gsi")]  # no index copy to write, ever
    assert [r.id for r in store.list_task_runs(flow_run.id)] == [r.id for r in runs]
    done = State(type=StateType.COMPLETED, timestamp=at(2))
    store.commit_transition(TransitionWrite(kind="task_run", run=runs[1], state=done))
    assert [r.id for r in store.list_unfinished_task_runs(flow_run.id)] == [runs[0].id, runs[2].id]


def test_a_flow_run_the_store_has_seen_is_not_checked_again_unless_it_must_be_open(dynamodb, new_flow_run, at):
    # Flow runs are never deleted: once seen, a create that needs no open flow run writes two
    # items (the run and its identity); a start that needs it open still checks it.
    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    sent = sent_items(store)
    run, pending = started_task_run(flow_run.id, at)
    store.create_task_run(run, history_before=[pending])
    started, pending = started_task_run(flow_run.id, at)
    store.create_task_run(started.model_copy(update={"dynamic_key": "13"}), [pending], require_open_flow_run=True)
    assert sent == [
        {"api": "TransactWriteItems", "items": ["Put", "Put"]},
        {"api": "TransactWriteItems", "items": ["ConditionCheck", "Put", "Put"]},
    ]
    again, _ = started_task_run(flow_run.id, at)  # the same task key and dynamic key: the first run
    assert store.create_task_run(again, history_before=[pending]).id == run.id


def test_a_task_run_in_a_flow_run_the_store_has_not_seen_checks_it(dynamodb, at):
    store = dynamodb
    run, pending = started_task_run(uuid.uuid4(), at)
    with pytest.raises(ObjectNotFound):
        store.create_task_run(run, history_before=[pending])
    assert store.read_task_run(run.id) is None


def test_task_runs_of_a_flow_run_from_before_the_task_layout_stay_unique_and_listed(dynamodb, new_flow_run, at):
    # A flow run written by the release before: no task layout mark, its task runs in gsi1 and
    # their identity items in partitions of their own. It keeps that layout to its end.
    from mintaka_server.storage.dynamodb import _writes

    store = dynamodb
    flow_run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
    model = store._model
    model(_keys.flow_run(flow_run.id), _keys.RUN).update([model.task_layout.remove()])
    store._seen_flow_runs.clear()  # another server, or one started before
    old, pending = started_task_run(flow_run.id, at)
    _writes.create_task_run(model, old, [pending], (), legacy=True).commit()

    again, pending = started_task_run(flow_run.id, at)  # same identity, new id: the old run answers
    assert store.create_task_run(again, [pending], require_open_flow_run=True).id == old.id
    new, pending = started_task_run(flow_run.id, at)
    new = new.model_copy(update={"dynamic_key": "13", "created": at(2)})
    assert store.create_task_run(new, [pending], require_open_flow_run=True).id == new.id
    assert store.create_task_run(new.model_copy(update={"id": uuid.uuid4()}), [pending]).id == new.id
    assert [r.id for r in store.list_task_runs(flow_run.id)] == [old.id, new.id]
    identity = store.client.get_item(
        TableName=store.table_name,
        Key={"pk": {"S": _keys.task_identity(flow_run.id, new.task_key, new.dynamic_key)}, "sk": {"S": _keys.IDENTITY}},
    )
    assert identity["Item"]["ref"]["S"] == str(new.id)  # written as the layout before writes it
