"""Store contract for the dashboard's reads: filtered flow-run pages (several states, all of several
tags, name and flow substrings, oldest first) and run counts per hour and current state."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRunFilter, LogCreate
from mintaka.states import State, StateType


def page_ids(store, **filters) -> list[uuid.UUID]:
    """Every run matching `filters`, following cursors to the end (2 a page, to cross pages)."""
    ids, cursor = [], None
    filters.setdefault("limit", 2)
    while True:
        page = store.list_flow_runs(FlowRunFilter(cursor=cursor, **filters))
        ids += [run.id for run in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


class TestListFilters:
    def test_any_of_several_states(self, store, new_flow_run, transition, at):
        failed = new_flow_run(created=at(1))
        store.commit_transition(transition(failed, State(type=StateType.FAILED)))
        crashed = new_flow_run(created=at(2))
        store.commit_transition(transition(crashed, State(type=StateType.CRASHED)))
        pending = new_flow_run(created=at(3))
        done = new_flow_run(created=at(4))
        store.commit_transition(transition(done, State(type=StateType.COMPLETED)))
        assert page_ids(store, state_type=["FAILED", "CRASHED"]) == [crashed.id, failed.id]
        assert page_ids(store, state_type=["FAILED", "CRASHED"], flow_name="etl") == [crashed.id, failed.id]
        assert page_ids(store, state_type=["PENDING", "COMPLETED"], sort="oldest") == [pending.id, done.id]

    def test_every_tag_must_match(self, store, new_flow_run, at):
        both = new_flow_run(created=at(1), tags=["prod", "nightly"])
        new_flow_run(created=at(2), tags=["prod"])
        new_flow_run(created=at(3), tags=["nightly"])
        both_later = new_flow_run(created=at(4), tags=["nightly", "prod", "eu"])
        assert page_ids(store, tag=["prod", "nightly"]) == [both_later.id, both.id]
        assert page_ids(store, tag=["nightly", "prod"], sort="oldest") == [both.id, both_later.id]
        assert page_ids(store, tag=["prod", "missing"]) == []

    def test_name_and_flow_substrings_ignore_case(self, store, new_flow_run, at):
        a = new_flow_run("Nightly-ETL", name="Brave-Otter", created=at(1))
        b = new_flow_run("etl", name="calm-otter", created=at(2))
        c = new_flow_run("report", name="Otterly-Ünique", created=at(3))
        new_flow_run("report", name="plain", created=at(4))
        assert page_ids(store, name_contains="OTTER") == [c.id, b.id, a.id]
        assert page_ids(store, name_contains="üNIQUE") == [c.id]
        assert page_ids(store, flow_contains="etl") == [b.id, a.id]
        assert page_ids(store, flow_contains="ETL", name_contains="brave") == [a.id]
        assert page_ids(store, name_contains="otter", tag="none") == []
        assert page_ids(store, name_contains="%") == []  # not a wildcard
        odd = new_flow_run("etl", name='50%_off "sale"', created=at(5))
        assert page_ids(store, name_contains="50%_OFF") == [odd.id]
        assert page_ids(store, name_contains='"SALE"') == [odd.id]
        assert page_ids(store, name_contains="0%o") == []

    def test_oldest_first_pages_through_ties_without_gaps(self, store, new_flow_run, at):
        runs = [new_flow_run(created=at(i // 3)) for i in range(10)]
        ids = page_ids(store, sort="oldest", limit=3)
        assert len(ids) == len(set(ids)) == 10
        created = [store.read_flow_run(i).created for i in ids]
        assert created == sorted(created)
        assert set(ids) == {r.id for r in runs}
        assert page_ids(store, sort="newest", limit=3) == list(reversed(ids))

    def test_oldest_first_keeps_the_time_window(self, store, new_flow_run, at):
        runs = {i: new_flow_run(created=at(i), tags=["t"]) for i in range(6)}
        expected = [runs[2].id, runs[3].id]
        assert page_ids(store, sort="oldest", since=at(2), until=at(4), limit=1) == expected
        assert page_ids(store, sort="oldest", since=at(2), until=at(4), tag="t", limit=1) == expected
        assert page_ids(store, sort="oldest", since=at(2), until=at(4), state_type="PENDING", limit=1) == expected


class TestCountFlowRuns:
    def test_counts_per_hour_by_current_state(self, store, new_flow_run, transition, at):
        hour = dt.timedelta(hours=1)
        a = new_flow_run("etl", created=at(0))
        b = new_flow_run("etl", created=at(60))
        new_flow_run("report", created=at(3600 + 5))
        new_flow_run("etl", created=at(2 * 3600), state=State(type=StateType.SCHEDULED))
        store.commit_transition(transition(a, State(type=StateType.RUNNING)))
        store.commit_transition(transition(store.read_flow_run(a.id), State(type=StateType.FAILED)))
        store.commit_transition(transition(b, State(type=StateType.COMPLETED)))
        first = at(0).replace(minute=0, second=0)
        counts = store.count_flow_runs(first, first + 3 * hour)
        assert counts == {
            first: {StateType.FAILED: 1, StateType.COMPLETED: 1},
            first + hour: {StateType.PENDING: 1},
            first + 2 * hour: {StateType.SCHEDULED: 1},
        }
        assert store.count_flow_runs(first, first + 3 * hour, flow_name="etl") == {
            first: {StateType.FAILED: 1, StateType.COMPLETED: 1},
            first + 2 * hour: {StateType.SCHEDULED: 1},
        }
        assert store.count_flow_runs(first + hour, first + 2 * hour) == {first + hour: {StateType.PENDING: 1}}
        assert store.count_flow_runs(first, first + 3 * hour, flow_name="nope") == {}
        totals = {StateType.FAILED: 1, StateType.COMPLETED: 1, StateType.PENDING: 1, StateType.SCHEDULED: 1}
        assert store.count_flow_runs(first, first + 3 * hour, per_hour=False) == {first: totals}

    def test_counts_by_deployment(self, store, new_flow_run, transition, at):
        run = new_flow_run("etl", created=at(0), deployment_name="etl/prod")
        new_flow_run("etl", created=at(1))
        store.commit_transition(transition(run, State(type=StateType.CANCELLED)))
        first = at(0).replace(minute=0, second=0)
        counts = store.count_flow_runs(first, first + dt.timedelta(hours=1), deployment_name="etl/prod")
        assert counts == {first: {StateType.CANCELLED: 1}}

    def test_a_transition_lost_to_a_race_counts_nothing(self, store, new_flow_run, transition, at):
        from mintaka_server.storage import VersionConflict

        run = new_flow_run(created=at(0))
        store.commit_transition(transition(run, State(type=StateType.RUNNING)))
        with pytest.raises(VersionConflict):  # written from the stale read: refused whole
            store.commit_transition(transition(run, State(type=StateType.FAILED)))
        first = at(0).replace(minute=0, second=0)
        assert store.count_flow_runs(first, first + dt.timedelta(hours=1)) == {first: {StateType.RUNNING: 1}}


class TestDashboardService:
    """The dashboard's service over each store: the same answers whichever store serves them."""

    def test_stats_buckets_totals_and_failures(self, store, new_flow_run, transition, at):
        from mintaka_server.services.dashboard import DashboardService

        ok = new_flow_run("etl", created=at(0))
        bad = new_flow_run("etl", created=at(2 * 3600))
        store.commit_transition(transition(ok, State(type=StateType.COMPLETED)))
        store.commit_transition(transition(bad, State(type=StateType.CRASHED, message="killed by signal 9")))
        dashboard = DashboardService(store, clock=lambda: at(3 * 3600))
        stats = dashboard.flow_run_stats(since=at(-3600), bucket_seconds=7200)
        assert [(b.start, b.counts) for b in stats.buckets] == [
            (at(-3600), {StateType.COMPLETED: 1}),
            (at(3600), {StateType.CRASHED: 1}),
        ]
        assert stats.totals == {StateType.COMPLETED: 1, StateType.CRASHED: 1}
        assert [(f.flow_run.id, f.message) for f in stats.recent_failures] == [(bad.id, "killed by signal 9")]
        summary = dashboard.flows_summary()
        assert [(s.name, s.last_run.id, s.run_counts) for s in summary] == [
            ("etl", bad.id, {StateType.COMPLETED: 1, StateType.CRASHED: 1})
        ]

    def test_an_hour_in_minutes_where_the_store_can_else_in_hours(self, store, new_flow_run, transition, at):
        from mintaka_server.services.dashboard import DashboardService

        early = new_flow_run("etl", created=at(5 * 60))
        new_flow_run("etl", created=at(40 * 60))
        store.commit_transition(transition(early, State(type=StateType.COMPLETED)))
        dashboard = DashboardService(store, clock=lambda: at(3600))
        stats = dashboard.flow_run_stats(since=at(0), until=at(3600), bucket_seconds=300)
        counted = [(b.start, b.counts) for b in stats.buckets if b.counts]
        if hasattr(store, "count_flow_runs_per_minute"):
            assert stats.bucket_seconds == 300 and len(stats.buckets) == 12
            assert counted == [(at(300), {StateType.COMPLETED: 1}), (at(2400), {StateType.PENDING: 1})]
        else:  # counted per hour: one bucket, and the answer says so
            assert stats.bucket_seconds == 3600
            assert counted == [(at(0), {StateType.COMPLETED: 1, StateType.PENDING: 1})]
        assert stats.totals == {StateType.COMPLETED: 1, StateType.PENDING: 1}

    def test_saved_views_round_trip_and_a_refused_one_writes_nothing(self, store):
        from mintaka.exceptions import InvalidRequest, ObjectNotFound
        from mintaka_server.services.dashboard import DashboardService, SavedViewBody

        dashboard = DashboardService(store)
        dashboard.put_saved_view("b-failures", SavedViewBody(query="state:failed"))
        dashboard.put_saved_view("a-etl", SavedViewBody(query="flow:etl since:7d"))
        with pytest.raises(InvalidRequest, match="name"):
            dashboard.put_saved_view("x" * 101, SavedViewBody(query="q"))
        with pytest.raises(InvalidRequest, match="name"):
            dashboard.put_saved_view("bad\x00name", SavedViewBody(query="q"))
        assert [(v.name, v.query) for v in dashboard.list_saved_views()] == [
            ("a-etl", "flow:etl since:7d"),
            ("b-failures", "state:failed"),
        ]
        dashboard.delete_saved_view("a-etl")
        with pytest.raises(ObjectNotFound):
            dashboard.delete_saved_view("a-etl")
        assert [v.name for v in dashboard.list_saved_views()] == ["b-failures"]


class TestLogPages:
    def _write(self, store, flow_run_id, task_run_id=None, *, at, count=6, start=0):
        lines = [
            LogCreate(
                id=uuid.uuid4(),
                flow_run_id=flow_run_id,
                task_run_id=task_run_id if i % 2 else None,
                level=40 if i % 3 == 0 else 20,
                message=f"line {start + i}" + (" Traceback: ValueError" if i == 3 else ""),
                timestamp=at(start + i),  # (the order of lines with one timestamp is the store's own)
            )
            for i in range(count)
        ]
        store.write_logs(lines)
        return lines

    def test_filters_and_cursor_in_both_directions(self, store, new_flow_run, new_task_run, at):
        run = new_flow_run()
        task = new_task_run(run.id)
        lines = self._write(store, run.id, task.id, at=at)

        def messages(**options):
            return [log.message for log in store.read_log_page(run.id, **options)]

        assert messages() == [line.message for line in lines]
        assert messages(task_run_id=task.id) == ["line 1", "line 3 Traceback: ValueError", "line 5"]
        assert messages(contains="TRACEBACK") == ["line 3 Traceback: ValueError"]
        assert messages(min_level=40, newest_first=True) == ["line 3 Traceback: ValueError", "line 0"]
        tail = lines[2]
        assert messages(after=(tail.timestamp, tail.id)) == ["line 3 Traceback: ValueError", "line 4", "line 5"]
        assert messages(before=(tail.timestamp, tail.id), newest_first=True) == ["line 1", "line 0"]
        assert messages(after=(lines[0].timestamp, lines[0].id), before=(lines[4].timestamp, lines[4].id)) == [
            "line 1",
            "line 2",
            "line 3 Traceback: ValueError",
        ]
        assert messages(after=(lines[2].timestamp, None)) == ["line 3 Traceback: ValueError", "line 4", "line 5"]
        assert messages(before=(lines[2].timestamp, None)) == ["line 0", "line 1"]
        assert messages(after=(lines[5].timestamp, lines[5].id)) == []

    def test_a_live_tail_reads_only_new_lines(self, store, new_flow_run, at):
        run = new_flow_run()
        first = self._write(store, run.id, at=at, count=3)
        seen = store.read_log_page(run.id, limit=2)
        last = seen[-1]
        more = self._write(store, run.id, at=at, count=3, start=3)
        rest = store.read_log_page(run.id, after=(last.timestamp, last.id))
        assert [log.id for log in seen + rest] == [line.id for line in first + more]
