"""Contract for what deployments and work queues need: due SCHEDULED runs, documents, labels
and work-queue fields on runs. Runs against every store adapter."""

from __future__ import annotations

import datetime as dt
import uuid

from mintaka.schemas import FlowRun, FlowRunFilter
from mintaka.states import State, StateType


def scheduled(at_time: dt.datetime) -> State:
    return State(type=StateType.SCHEDULED, timestamp=at_time, state_details={"scheduled_time": at_time})


class TestDueRuns:
    def test_due_runs_earliest_first_and_only_due(self, store, new_flow_run, at):
        late = new_flow_run(state=scheduled(at(10)), expected_start_time=at(10), work_queue_name="q")
        early = new_flow_run(state=scheduled(at(5)), expected_start_time=at(5), work_queue_name="q")
        new_flow_run(state=scheduled(at(100)), expected_start_time=at(100), work_queue_name="q")
        new_flow_run(expected_start_time=at(1), work_queue_name="q")  # PENDING: not due
        assert [r.id for r in store.list_due_flow_runs(at(50))] == [early.id, late.id]
        assert [r.id for r in store.list_due_flow_runs(at(50), limit=1)] == [early.id]
        assert store.list_due_flow_runs(at(4)) == []

    def test_due_runs_page_after_the_last_one_read(self, store, new_flow_run, at):
        runs = [new_flow_run(state=scheduled(at(t)), expected_start_time=at(t), work_queue_name="q") for t in (3, 1, 2)]
        same_time = new_flow_run(state=scheduled(at(2)), expected_start_time=at(2), work_queue_name="q")
        expected = sorted([*runs, same_time], key=lambda r: (r.expected_start_time, str(r.id)))
        pages, after = [], None
        while page := store.list_due_flow_runs(at(50), limit=2, after=after):
            pages.append([r.id for r in page])
            after = page[-1]
        assert pages == [[r.id for r in expected[:2]], [r.id for r in expected[2:]]]
        assert store.list_due_flow_runs(at(50), work_queue_name="q", after=expected[2]) == [expected[3]]

    def test_due_runs_per_work_queue(self, store, new_flow_run, at):
        a = new_flow_run(state=scheduled(at(1)), expected_start_time=at(1), work_queue_name="a")
        b = new_flow_run(state=scheduled(at(1)), expected_start_time=at(1), work_queue_name="b")
        assert [r.id for r in store.list_due_flow_runs(at(2), work_queue_name="a")] == [a.id]
        assert {r.id for r in store.list_due_flow_runs(at(2))} == {a.id, b.id}

    def test_leaving_scheduled_removes_a_run_from_due(self, store, new_flow_run, transition, at):
        run = new_flow_run(state=scheduled(at(1)), expected_start_time=at(1), work_queue_name="q")
        store.commit_transition(transition(run, State(type=StateType.PENDING)))
        assert store.list_due_flow_runs(at(2)) == []

    def test_rescheduling_moves_the_due_time(self, store, new_flow_run, transition, at):
        run = new_flow_run(state=scheduled(at(1)), expected_start_time=at(1), work_queue_name="q")
        store.commit_transition(transition(run, scheduled(at(30))))
        assert store.list_due_flow_runs(at(2)) == []
        [due] = store.list_due_flow_runs(at(31))
        assert due.id == run.id and due.expected_start_time == at(30)


class TestRunFields:
    def test_labels_merge_with_a_transition(self, store, new_flow_run, transition):
        run = new_flow_run(labels={"a": "1"})
        store.commit_transition(transition(run, State(type=StateType.RUNNING), labels={"mintaka.git.commit": "abc"}))
        assert store.read_flow_run(run.id).labels == {"a": "1", "mintaka.git.commit": "abc"}

    def test_deployment_fields_round_trip_and_filter(self, store, new_flow_run, at):
        run = new_flow_run(deployment_name="etl/prod", work_queue_name="q", created=at(1))
        new_flow_run(deployment_name="etl/dev", created=at(2))
        got = store.read_flow_run(run.id)
        assert (got.deployment_name, got.work_queue_name) == ("etl/prod", "q")
        page = store.list_flow_runs(FlowRunFilter(deployment_name="etl/prod"))
        assert [r.id for r in page.items] == [run.id]


class TestDocuments:
    def test_put_read_list_delete(self, store):
        assert store.read_document("deployment", "etl/prod") is None
        store.put_document("deployment", "etl/prod", {"name": "prod", "n": 1})
        store.put_document("deployment", "etl/dev", {"name": "dev"})
        store.put_document("work_queue", "default", {"name": "default"})
        assert store.read_document("deployment", "etl/prod") == {"name": "prod", "n": 1}
        assert [d["name"] for d in store.list_documents("deployment")] == ["dev", "prod"]
        store.put_document("deployment", "etl/prod", {"name": "prod", "n": 2})
        assert store.read_document("deployment", "etl/prod")["n"] == 2
        assert store.delete_document("deployment", "etl/prod") is True
        assert store.delete_document("deployment", "etl/prod") is False
        assert [d["name"] for d in store.list_documents("deployment")] == ["dev"]
        assert [d["name"] for d in store.list_documents("work_queue")] == ["default"]


class TestSwappedDocuments:
    """What schedulers sharing a store coordinate through: a write conditional on the version read."""

    def test_the_first_write_creates_version_one_and_a_second_create_loses(self, store):
        assert store.swap_document("cursor", "etl/prod", {"last": "a"}, None) is True
        assert store.read_document("cursor", "etl/prod") == {"last": "a", "version": 1}
        assert store.swap_document("cursor", "etl/prod", {"last": "b"}, None) is False
        assert store.read_document("cursor", "etl/prod") == {"last": "a", "version": 1}

    def test_a_write_from_a_stale_read_loses_and_changes_nothing(self, store):
        store.swap_document("cursor", "etl/prod", {"last": "a"}, None)
        assert store.swap_document("cursor", "etl/prod", {"last": "b"}, 1) is True
        assert store.swap_document("cursor", "etl/prod", {"last": "stale"}, 1) is False
        assert store.swap_document("cursor", "etl/other", {"last": "x"}, 1) is False  # no such document
        assert store.read_document("cursor", "etl/prod") == {"last": "b", "version": 2}
        assert store.read_document("cursor", "etl/other") is None
        assert [d["last"] for d in store.list_documents("cursor")] == ["b"]


class TestExpiredLeases:
    """The reaper reads only the runs whose lease has expired, earliest first."""

    def test_only_live_runs_with_expired_leases_earliest_first(self, store, new_flow_run, transition, at):
        def running(lease_until: float):
            run = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
            store.renew_leases([run.id], at(lease_until), create=True)
            return run

        later, earlier, alive = running(20), running(10), running(100)
        ended = running(5)
        store.commit_transition(transition(ended, State(type=StateType.COMPLETED), end_lease=True))
        assert store.list_expired_leases(at(30)) == [earlier.id, later.id]
        assert store.list_expired_leases(at(30), limit=1) == [earlier.id]
        assert store.list_expired_leases(at(15)) == [earlier.id]
        assert store.list_expired_leases(at(9)) == []
        assert alive.id in store.list_expired_leases(at(100))  # expiring exactly then counts

    def test_every_way_of_granting_a_lease_is_indexed_and_a_renewal_moves_it(self, store, new_flow_run, transition, at):
        created = new_flow_run(state=State(type=StateType.RUNNING, timestamp=at(0)))
        store.renew_leases([created.id], at(10), create=True)
        flow = store.ensure_flow("etl")
        born_running = FlowRun(
            id=uuid.uuid4(), flow_id=flow.id, flow_name="etl", name="r", created=at(0),
            state=State(type=StateType.RUNNING, timestamp=at(0)),
        )  # fmt: skip
        store.create_flow_run(born_running, lease_expires=at(20))
        started = new_flow_run()
        store.commit_transition(transition(started, State(type=StateType.RUNNING), lease_expires=at(30)))
        assert store.list_expired_leases(at(40)) == [created.id, born_running.id, started.id]
        store.renew_leases([created.id, started.id], at(50))  # they beat
        assert store.list_expired_leases(at(40)) == [born_running.id]
