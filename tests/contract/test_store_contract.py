"""The store contract: every adapter (`--store sqlite|dynamodb|all`) must pass this suite.

It pins behaviour the service relies on, never an adapter's internals: idempotent creates,
newest-first pages with a cursor, history order, and transitions that are written whole or not
at all (`VersionConflict`, `SlotsUnavailable`).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRunFilter, LogCreate
from mintaka.states import ResultRef, State, StateDetails, StateType
from mintaka_server.orchestration import CacheInsert
from mintaka_server.storage import SlotsUnavailable, VersionConflict

REF = ResultRef(storage="file:///tmp/results", key="abc123")


def names(states: list[State]) -> list[str]:
    return [s.name for s in states]


def page_ids(store, **filters) -> list[uuid.UUID]:
    """Every run matching `filters`, following cursors to the end."""
    ids, cursor = [], None
    while True:
        page = store.list_flow_runs(FlowRunFilter(cursor=cursor, **filters))
        ids += [run.id for run in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


# -- flows


class TestFlows:
    def test_ensure_flow_is_idempotent(self, store):
        first = store.ensure_flow("etl")
        again = store.ensure_flow("etl")
        assert first.id == again.id
        assert first.name == "etl"
        assert [f.name for f in store.list_flows()] == ["etl"]

    def test_distinct_names_are_distinct_flows(self, store):
        a, b = store.ensure_flow("a"), store.ensure_flow("b")
        assert a.id != b.id
        assert {f.name for f in store.list_flows()} == {"a", "b"}

    def test_list_flows_respects_limit(self, store):
        for i in range(5):
            store.ensure_flow(f"flow-{i}")
        assert len(store.list_flows(limit=3)) == 3


# -- flow runs


class TestFlowRuns:
    def test_create_then_read_round_trips(self, store, new_flow_run, at):
        run = new_flow_run("etl", created=at(5), tags=["a", "b"], parameters={"x": 1, "ys": [1, 2]}, flow_version="v1")
        read = store.read_flow_run(run.id)
        assert read == run
        assert read.state.type is StateType.PENDING
        assert read.state_version == 0
        assert read.run_count == 0
        assert read.created == at(5)
        assert read.flow_id == store.ensure_flow("etl").id

    def test_initial_state_is_the_first_history_entry(self, store, new_flow_run):
        run = new_flow_run()
        assert store.read_state_history("flow_run", run.id) == [run.state]

    def test_idempotency_key_returns_the_existing_run(self, store, new_flow_run, at):
        first = new_flow_run(idempotency_key="deploy-1@2024-05-01", created=at(1))
        again = new_flow_run(idempotency_key="deploy-1@2024-05-01", created=at(2))
        assert again.id == first.id
        assert again.created == first.created
        assert page_ids(store) == [first.id]
        assert len(store.read_state_history("flow_run", first.id)) == 1

    def test_distinct_idempotency_keys_make_distinct_runs(self, store, new_flow_run):
        a = new_flow_run(idempotency_key="k1")
        b = new_flow_run(idempotency_key="k2")
        c, d = new_flow_run(), new_flow_run()  # no key: never deduplicated
        assert len({a.id, b.id, c.id, d.id}) == 4

    def test_read_unknown_ids_is_none_or_empty(self, store):
        unknown = uuid.uuid4()
        assert store.read_flow_run(unknown) is None
        assert store.read_task_run(unknown) is None
        assert store.read_state_history("flow_run", unknown) == []
        assert store.read_state_history("task_run", unknown) == []
        assert store.list_task_runs(unknown) == []
        assert store.read_logs(unknown) == []
        assert store.read_cache("no-such-key", dt.datetime.now(dt.UTC)) is None
        assert store.read_concurrency_limits(["no-such-tag"]) == {}


# -- listing flow runs


class TestListFlowRuns:
    def test_newest_first(self, store, new_flow_run, at):
        runs = [new_flow_run(created=at(i)) for i in (3, 1, 4, 2)]
        expected = [r.id for r in sorted(runs, key=lambda r: r.created, reverse=True)]
        page = store.list_flow_runs(FlowRunFilter())
        assert [r.id for r in page.items] == expected
        assert page.next_cursor is None

    @pytest.mark.parametrize("limit", [1, 7, 25, 30])
    def test_cursor_pages_have_no_duplicates_or_gaps(self, store, new_flow_run, at, limit):
        # Three runs share each timestamp, so the cursor must break ties consistently.
        runs = [new_flow_run(created=at(i // 3)) for i in range(25)]
        pages, cursor = [], None
        while True:
            page = store.list_flow_runs(FlowRunFilter(limit=limit, cursor=cursor))
            assert len(page.items) <= limit
            pages.append([r.id for r in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        ids = [i for p in pages for i in p]
        assert len(ids) == len(set(ids)) == 25
        assert set(ids) == {r.id for r in runs}
        created = [store.read_flow_run(i).created for i in ids]
        assert created == sorted(created, reverse=True)
        assert len(pages) == -(-25 // limit)
        assert all(pages)  # no empty trailing page

    def test_filter_by_flow_name(self, store, new_flow_run, at):
        etl = [new_flow_run("etl", created=at(i)) for i in range(3)]
        new_flow_run("report", created=at(10))
        assert page_ids(store, flow_name="etl") == [r.id for r in reversed(etl)]
        assert page_ids(store, flow_name="nope") == []

    def test_filter_by_state_type_follows_transitions(self, store, new_flow_run, transition, at):
        a, b = new_flow_run(created=at(1)), new_flow_run(created=at(2))
        store.commit_transition(transition(a, State(type=StateType.RUNNING)))
        assert page_ids(store, state_type=StateType.RUNNING) == [a.id]
        assert page_ids(store, state_type=StateType.PENDING) == [b.id]
        store.commit_transition(transition(store.read_flow_run(a.id), State(type=StateType.COMPLETED)))
        assert page_ids(store, state_type=StateType.RUNNING) == []
        assert page_ids(store, state_type=StateType.COMPLETED) == [a.id]

    def test_filter_by_tag(self, store, new_flow_run, at):
        a = new_flow_run(created=at(1), tags=["prod", "daily"])
        b = new_flow_run(created=at(2), tags=["prod"])
        new_flow_run(created=at(3), tags=["dev"])
        new_flow_run(created=at(4))
        assert page_ids(store, tag="prod") == [b.id, a.id]
        assert page_ids(store, tag="daily") == [a.id]
        assert page_ids(store, tag="none") == []

    def test_time_window_is_since_inclusive_until_exclusive(self, store, new_flow_run, at):
        runs = {i: new_flow_run(created=at(i)) for i in range(6)}
        ids = page_ids(store, since=at(2), until=at(4))
        assert ids == [runs[3].id, runs[2].id]
        assert page_ids(store, since=at(4)) == [runs[5].id, runs[4].id]
        assert page_ids(store, until=at(1)) == [runs[0].id]

    def test_filters_combine(self, store, new_flow_run, transition, at):
        want = new_flow_run("etl", created=at(2), tags=["prod"])
        new_flow_run("etl", created=at(3), tags=["dev"])
        new_flow_run("report", created=at(4), tags=["prod"])
        new_flow_run("etl", created=at(9), tags=["prod"])  # outside the window
        other = new_flow_run("etl", created=at(1), tags=["prod"])
        store.commit_transition(transition(other, State(type=StateType.RUNNING)))
        ids = page_ids(store, flow_name="etl", tag="prod", state_type=StateType.PENDING, since=at(0), until=at(5))
        assert ids == [want.id]

    @pytest.mark.parametrize("filters", [{"tag": "t"}, {"flow_name": "etl"}, {"state_type": "PENDING"}])
    def test_cursor_pagination_with_filters(self, store, new_flow_run, at, filters):
        wanted = [new_flow_run("etl", created=at(i // 2), tags=["t"]) for i in range(12)]
        for i in range(5):
            new_flow_run("other", created=at(i), state=State(type=StateType.SCHEDULED))
        ids = page_ids(store, limit=5, **filters)
        assert len(ids) == len(set(ids)) == 12
        assert set(ids) == {r.id for r in wanted}

    def test_runs_created_after_a_cursor_do_not_disturb_the_next_page(self, store, new_flow_run, at):
        runs = [new_flow_run(created=at(i)) for i in range(6)]
        first = store.list_flow_runs(FlowRunFilter(limit=3))
        new_flow_run(created=at(100))
        rest = store.list_flow_runs(FlowRunFilter(limit=3, cursor=first.next_cursor))
        assert [r.id for r in first.items + rest.items] == [r.id for r in reversed(runs)]


# -- task runs


class TestTaskRuns:
    def test_create_then_read_round_trips(self, store, new_flow_run, new_task_run):
        flow_run = new_flow_run()
        task_run = new_task_run(flow_run.id, "extract", "3", tags=["db"], retries=2)
        read = store.read_task_run(task_run.id)
        assert read == task_run
        assert read.empirical_policy.retries == 2
        assert store.read_state_history("task_run", task_run.id) == [task_run.state]

    def test_create_is_idempotent_on_flow_run_task_key_and_dynamic_key(self, store, new_flow_run, new_task_run):
        fr, other_fr = new_flow_run(), new_flow_run()
        first = new_task_run(fr.id, "extract", "0")
        assert new_task_run(fr.id, "extract", "0").id == first.id
        distinct = {
            new_task_run(fr.id, "extract", "1").id,
            new_task_run(fr.id, "load", "0").id,
            new_task_run(other_fr.id, "extract", "0").id,
        }
        assert first.id not in distinct and len(distinct) == 3
        assert len(store.list_task_runs(fr.id)) == 3
        assert len(store.read_state_history("task_run", first.id)) == 1

    def test_task_run_without_a_flow_run(self, store, new_task_run):
        run = new_task_run(None, "standalone")
        assert store.read_task_run(run.id) == run

    def test_list_task_runs_in_creation_order_per_flow_run(self, store, new_flow_run, new_task_run, at):
        fr, other = new_flow_run(), new_flow_run()
        ours = [new_task_run(fr.id, "t", str(i), created=at(i // 2)) for i in range(7)]
        new_task_run(other.id, "t", "0")
        assert [r.id for r in store.list_task_runs(fr.id)] == [r.id for r in ours]

    def test_task_run_state_follows_transitions(self, store, new_flow_run, new_task_run, transition):
        task_run = new_task_run(new_flow_run().id)
        store.commit_transition(transition(task_run, State(type=StateType.RUNNING), run_count=1))
        (listed,) = store.list_task_runs(task_run.flow_run_id)
        assert listed.state.type is StateType.RUNNING
        assert listed.run_count == 1
        assert listed.state_version == 1


# -- state history and transitions


@pytest.fixture(params=["flow_run", "task_run"])
def some_run(request, new_flow_run, new_task_run):
    """A fresh PENDING run of each kind: transitions must behave the same for both."""
    flow_run = new_flow_run()
    return flow_run if request.param == "flow_run" else new_task_run(flow_run.id)


def kind_of(run) -> str:
    return "task_run" if hasattr(run, "task_key") else "flow_run"


def read_run(store, run):
    return store.read_flow_run(run.id) if kind_of(run) == "flow_run" else store.read_task_run(run.id)


class TestCommitTransition:
    def test_writes_state_version_bookkeeping_and_history(self, store, some_run, transition, at):
        running = State(type=StateType.RUNNING, timestamp=at(1))
        store.commit_transition(transition(some_run, running, run_count=1, start_time=at(1)))
        run = read_run(store, some_run)
        assert run.state == running
        assert run.state_version == 1
        assert run.run_count == 1
        assert run.start_time == at(1)
        assert run.end_time is None

        done = State(type=StateType.COMPLETED, timestamp=at(2), data=REF)
        store.commit_transition(transition(run, done, end_time=at(2)))
        run = read_run(store, some_run)
        assert run.state == done and run.state.data == REF
        assert (run.state_version, run.run_count, run.start_time, run.end_time) == (2, 1, at(1), at(2))
        history = store.read_state_history(kind_of(some_run), some_run.id)
        assert history == [some_run.state, running, done]

    def test_history_before_is_written_before_the_new_state(self, store, some_run, transition, at):
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), run_count=1))
        failed = State(type=StateType.FAILED, message="boom", timestamp=at(1))
        awaiting = State(
            type=StateType.SCHEDULED,
            name="AwaitingRetry",
            timestamp=at(1),
            state_details=StateDetails(scheduled_time=at(5)),
        )
        store.commit_transition(transition(read_run(store, some_run), awaiting, history_before=[failed]))
        history = store.read_state_history(kind_of(some_run), some_run.id)
        assert names(history) == ["Pending", "Running", "Failed", "AwaitingRetry"]
        assert history[-1].state_details.scheduled_time == at(5)
        run = read_run(store, some_run)
        assert run.state == awaiting
        assert run.state_version == 2  # one transition, however many history entries

    def test_long_history_keeps_order(self, store, some_run, transition):
        run = some_run
        for i in range(20):
            state_type = StateType.RUNNING if i % 2 == 0 else StateType.PAUSED
            store.commit_transition(transition(run, State(type=state_type, message=str(i))))
            run = read_run(store, some_run)
        history = store.read_state_history(kind_of(some_run), some_run.id)
        assert [s.message for s in history] == [None, *map(str, range(20))]
        assert run.state_version == 20

    @pytest.mark.parametrize("offset", [-1, 1, 5])
    def test_version_conflict_writes_nothing(self, store, some_run, transition, offset):
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), run_count=1))
        before = read_run(store, some_run)
        history_before = store.read_state_history(kind_of(some_run), some_run.id)
        stale = transition(
            before,
            State(type=StateType.FAILED),
            history_before=[State(type=StateType.CRASHED)],
            run_count=7,
            end_time=dt.datetime.now(dt.UTC),
        )
        stale.expected_version = before.state_version + offset
        with pytest.raises(VersionConflict):
            store.commit_transition(stale)
        assert read_run(store, some_run) == before
        assert store.read_state_history(kind_of(some_run), some_run.id) == history_before

    def test_a_stale_writer_loses_to_the_first(self, store, some_run, transition):
        first = transition(some_run, State(type=StateType.RUNNING, message="first"))
        second = transition(some_run, State(type=StateType.RUNNING, message="second"))
        store.commit_transition(first)
        with pytest.raises(VersionConflict):
            store.commit_transition(second)
        assert read_run(store, some_run).state.message == "first"
        assert names(store.read_state_history(kind_of(some_run), some_run.id)) == ["Pending", "Running"]

    def test_version_conflict_does_not_insert_the_cache_entry(self, store, some_run, transition):
        done = State(type=StateType.COMPLETED, data=REF)
        write = transition(some_run, done, cache_insert=CacheInsert("k", done, None))
        write.expected_version += 1
        with pytest.raises(VersionConflict):
            store.commit_transition(write)
        assert store.read_cache("k", dt.datetime.now(dt.UTC)) is None


# -- concurrency slots


class TestConcurrencySlots:
    def test_acquire_counts_and_records_the_held_slot(self, store, some_run, transition):
        store.upsert_concurrency_limit("db", 2)
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), acquire_slots=["db"]))
        assert store.read_concurrency_limits(["db"])["db"].active_slots == 1
        assert read_run(store, some_run).held_slots == ["db"]

    def test_acquire_when_full_raises_and_writes_nothing(self, store, new_flow_run, new_task_run, transition):
        store.upsert_concurrency_limit("db", 1)
        store.upsert_concurrency_limit("api", 5)
        fr = new_flow_run()
        holder, waiter = new_task_run(fr.id, "a"), new_task_run(fr.id, "b")
        store.commit_transition(transition(holder, State(type=StateType.RUNNING), acquire_slots=["db"]))
        limits_before = store.read_concurrency_limits(["db", "api"])
        # "api" has room and comes first: its increment must be rolled back too.
        write = transition(waiter, State(type=StateType.RUNNING), acquire_slots=["api", "db"], run_count=1)
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(write)
        assert store.read_concurrency_limits(["db", "api"]) == limits_before
        assert limits_before["api"].active_slots == 0
        assert store.read_task_run(waiter.id) == waiter
        assert store.read_state_history("task_run", waiter.id) == [waiter.state]

    def test_limit_zero_never_grants_a_slot(self, store, some_run, transition):
        store.upsert_concurrency_limit("frozen", 0)
        with pytest.raises(SlotsUnavailable):
            store.commit_transition(transition(some_run, State(type=StateType.RUNNING), acquire_slots=["frozen"]))
        assert read_run(store, some_run) == some_run

    def test_release_frees_the_slot(self, store, new_flow_run, new_task_run, transition):
        store.upsert_concurrency_limit("db", 1)
        fr = new_flow_run()
        a, b = new_task_run(fr.id, "a"), new_task_run(fr.id, "b")
        store.commit_transition(transition(a, State(type=StateType.RUNNING), acquire_slots=["db"]))
        store.commit_transition(
            transition(store.read_task_run(a.id), State(type=StateType.COMPLETED), release_slots=["db"])
        )
        assert store.read_concurrency_limits(["db"])["db"].active_slots == 0
        assert store.read_task_run(a.id).held_slots == []
        store.commit_transition(transition(b, State(type=StateType.RUNNING), acquire_slots=["db"]))
        assert store.read_concurrency_limits(["db"])["db"].active_slots == 1

    def test_release_and_acquire_several_tags(self, store, some_run, transition):
        for tag in ("a", "b", "c"):
            store.upsert_concurrency_limit(tag, 3)
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), acquire_slots=["a", "b", "c"]))
        assert read_run(store, some_run).held_slots == ["a", "b", "c"]
        run = read_run(store, some_run)
        store.commit_transition(transition(run, State(type=StateType.FAILED), release_slots=["a", "b", "c"]))
        limits = store.read_concurrency_limits(["a", "b", "c"])
        assert {t: lim.active_slots for t, lim in limits.items()} == {"a": 0, "b": 0, "c": 0}
        assert read_run(store, some_run).held_slots == []

    def test_release_never_goes_below_zero(self, store, some_run, transition):
        store.upsert_concurrency_limit("db", 1)
        store.commit_transition(transition(some_run, State(type=StateType.CRASHED), release_slots=["db"]))
        assert store.read_concurrency_limits(["db"])["db"].active_slots == 0

    def test_release_of_a_deleted_limit_is_harmless(self, store, some_run, transition):
        store.upsert_concurrency_limit("db", 1)
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), acquire_slots=["db"]))
        store.delete_concurrency_limit("db")
        run = read_run(store, some_run)
        store.commit_transition(transition(run, State(type=StateType.COMPLETED), release_slots=["db"]))
        assert read_run(store, some_run).state.type is StateType.COMPLETED
        assert store.read_concurrency_limits(["db"]) == {}


# -- cache


class TestCache:
    def _complete_with_cache(self, store, run, transition, key, expiration):
        done = State(
            type=StateType.COMPLETED,
            data=REF,
            state_details=StateDetails(cache_key=key, cache_expiration=expiration),
        )
        store.commit_transition(transition(run, done, cache_insert=CacheInsert(key, done, expiration)))
        return done

    def test_insert_then_read(self, store, some_run, transition, at):
        done = self._complete_with_cache(store, some_run, transition, "k", at(60))
        cached = store.read_cache("k", at(0))
        assert cached == done
        assert cached.data == REF
        assert cached.state_details.cache_expiration == at(60)

    def test_expired_entries_are_not_returned(self, store, some_run, transition, at):
        self._complete_with_cache(store, some_run, transition, "k", at(60))
        assert store.read_cache("k", at(59.999)) is not None
        assert store.read_cache("k", at(60)) is None  # expiration is exclusive
        assert store.read_cache("k", at(3600)) is None

    def test_entry_without_expiration_never_expires(self, store, some_run, transition, at):
        self._complete_with_cache(store, some_run, transition, "forever", None)
        assert store.read_cache("forever", at(10**9)) is not None

    def test_newer_entry_replaces_the_old_one(self, store, new_flow_run, new_task_run, transition, at):
        fr = new_flow_run()
        self._complete_with_cache(store, new_task_run(fr.id, "a"), transition, "k", at(10))
        newer = self._complete_with_cache(store, new_task_run(fr.id, "b"), transition, "k", at(100))
        assert store.read_cache("k", at(50)) == newer

    def test_keys_are_independent(self, store, some_run, transition, at):
        self._complete_with_cache(store, some_run, transition, "k1", None)
        assert store.read_cache("k2", at(0)) is None


# -- concurrency limits


class TestConcurrencyLimits:
    def test_upsert_creates_then_updates_keeping_active_slots(self, store, some_run, transition):
        created = store.upsert_concurrency_limit("db", 2)
        assert (created.tag, created.limit, created.active_slots) == ("db", 2, 0)
        store.commit_transition(transition(some_run, State(type=StateType.RUNNING), acquire_slots=["db"]))
        updated = store.upsert_concurrency_limit("db", 5)
        assert (updated.limit, updated.active_slots) == (5, 1)
        assert updated.created == created.created

    def test_read_returns_only_known_tags(self, store):
        store.upsert_concurrency_limit("a", 1)
        store.upsert_concurrency_limit("b", 2)
        limits = store.read_concurrency_limits(["a", "b", "c"])
        assert {t: lim.limit for t, lim in limits.items()} == {"a": 1, "b": 2}
        assert store.read_concurrency_limits([]) == {}

    def test_list_is_sorted_by_tag(self, store):
        for tag, limit in (("web", 3), ("api", 1), ("db", 0)):
            store.upsert_concurrency_limit(tag, limit)
        assert [(lim.tag, lim.limit) for lim in store.list_concurrency_limits()] == [
            ("api", 1),
            ("db", 0),
            ("web", 3),
        ]

    def test_delete(self, store):
        store.upsert_concurrency_limit("db", 1)
        assert store.delete_concurrency_limit("db") is True
        assert store.delete_concurrency_limit("db") is False
        assert store.read_concurrency_limits(["db"]) == {}
        assert store.list_concurrency_limits() == []


# -- logs


class TestLogs:
    def test_logs_are_read_in_time_order_per_flow_run(self, store, new_flow_run, new_task_run, at):
        a, b = new_flow_run(), new_flow_run()
        task = new_task_run(a.id)
        store.write_logs(
            [
                LogCreate(flow_run_id=a.id, message="a2", timestamp=at(2)),
                LogCreate(flow_run_id=b.id, message="b1", timestamp=at(1)),
                LogCreate(flow_run_id=a.id, task_run_id=task.id, message="a1-task", timestamp=at(1)),
            ]
        )
        store.write_logs([LogCreate(flow_run_id=a.id, message="a0", timestamp=at(0), level=40)])
        logs = store.read_logs(a.id)
        assert [log.message for log in logs] == ["a0", "a1-task", "a2"]
        assert logs[0].level == 40
        assert logs[1].task_run_id == task.id
        assert [log.message for log in store.read_logs(b.id)] == ["b1"]

    def test_equal_timestamps_keep_write_order(self, store, new_flow_run, at):
        run = new_flow_run()
        store.write_logs([LogCreate(flow_run_id=run.id, message=str(i), timestamp=at(0)) for i in range(10)])
        assert [log.message for log in store.read_logs(run.id)] == [str(i) for i in range(10)]

    def test_limit_and_offset(self, store, new_flow_run, at):
        run = new_flow_run()
        store.write_logs([LogCreate(flow_run_id=run.id, message=str(i), timestamp=at(i)) for i in range(10)])
        assert [log.message for log in store.read_logs(run.id, limit=3)] == ["0", "1", "2"]
        assert [log.message for log in store.read_logs(run.id, limit=3, offset=8)] == ["8", "9"]

    def test_writing_nothing_is_fine(self, store):
        store.write_logs([])
