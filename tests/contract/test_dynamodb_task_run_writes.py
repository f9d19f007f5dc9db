"""DynamoDB only: a plain task run is two requests, each one item under 1 KB (its history rides in
its item), reads back with every state as written, and a task run stored with history items
(before compact task runs) keeps its whole history. Counted with botocore event hooks on the
store's own client, on moto and DynamoDB Local alike."""

from __future__ import annotations

import uuid

import pytest

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
