"""Contract for the dashboard's next runs: SCHEDULED runs due after a time, soonest first, of
one flow or deployment if asked, however many runs are past due or created since. Runs against
every store adapter (DynamoDB: a Query per due-index shard, from that time on)."""

from __future__ import annotations

from mintaka.states import State, StateType


def scheduled(new_flow_run, at, t: int, **fields):
    state = State(type=StateType.SCHEDULED, timestamp=at(0), state_details={"scheduled_time": at(t)})
    return new_flow_run(state=state, expected_start_time=at(t), **fields)


def test_runs_due_after_a_time_soonest_first(store, new_flow_run, at):
    late = [scheduled(new_flow_run, at, t) for t in range(1, 13)]  # past due: not next
    third, first, second = (scheduled(new_flow_run, at, t) for t in (300, 100, 200))
    new_flow_run(expected_start_time=at(150))  # PENDING: not scheduled
    assert late and [r.id for r in store.list_upcoming_flow_runs(at(50))] == [first.id, second.id, third.id]
    assert [r.id for r in store.list_upcoming_flow_runs(at(50), limit=2)] == [first.id, second.id]
    assert [r.id for r in store.list_upcoming_flow_runs(at(100))] == [second.id, third.id]  # after: strictly
    assert store.list_upcoming_flow_runs(at(300)) == []


def test_runs_due_after_a_time_of_one_deployment_or_flow(store, new_flow_run, at):
    mine = scheduled(new_flow_run, at, 200, deployment_name="etl/nightly")
    for t in range(100, 110):  # sooner, of another deployment and flow
        scheduled(new_flow_run, at, t, flow_name="other", deployment_name="other/hourly")
    assert [r.id for r in store.list_upcoming_flow_runs(at(50), 1, deployment_name="etl/nightly")] == [mine.id]
    assert [r.id for r in store.list_upcoming_flow_runs(at(50), 1, flow_name="etl")] == [mine.id]
    (run,) = store.list_upcoming_flow_runs(at(150), 5)
    assert run == mine
