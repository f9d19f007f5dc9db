"""Contract: listings merged across write shards.

The DynamoDB store spreads each time-ordered index over shards chosen by run id and merges the
shards' Queries by sort key. Whatever a store does inside, a listing is one order: these runs'
ids are picked to land in every shard (and, in one test, all but one in a single shard), so a
merge that drops, repeats or misorders runs, or a shard page that ends early, shows here.
Runs against every store adapter.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import FlowRun, FlowRunFilter
from mintaka.states import State, StateType

SHARD_SPREAD = 16  # the DynamoDB store's shard count; ids below cover every residue


def run_id(i: int, residue: int | None = None) -> uuid.UUID:
    """A distinct id whose low bits (the shard) cycle out of creation order, or are `residue`."""
    low = (i * 7) % SHARD_SPREAD if residue is None else residue
    return uuid.UUID(int=(uuid.uuid4().int >> 16 << 16) | (i << 8) | low)


@pytest.fixture
def make_run(store, at):
    def make(i: int, *, residue: int | None = None, state: StateType = StateType.PENDING, **fields) -> FlowRun:
        flow_name = fields.pop("flow_name", "etl")
        flow = store.ensure_flow(flow_name)
        created = fields.pop("created", at(i))
        return store.create_flow_run(
            FlowRun(
                id=run_id(i, residue),
                flow_id=flow.id,
                flow_name=flow.name,
                name=f"run-{i}",
                state=fields.pop("state_obj", None) or State(type=state, timestamp=created),
                created=created,
                **fields,
            )
        )

    return make


def pages(store, flt: FlowRunFilter) -> list[list[uuid.UUID]]:
    found, cursor = [], None
    while True:
        page = store.list_flow_runs(flt.model_copy(update={"cursor": cursor}))
        found.append([run.id for run in page.items])
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def newest_first(runs: list[FlowRun]) -> list[uuid.UUID]:
    return [run.id for run in sorted(runs, key=lambda r: (r.created, str(r.id)), reverse=True)]


class TestMergedListing:
    def test_one_order_across_shards_both_ways(self, store, make_run):
        runs = [make_run(i) for i in range(40)]
        assert [r.id for r in store.list_flow_runs(FlowRunFilter(limit=40)).items] == newest_first(runs)
        oldest = store.list_flow_runs(FlowRunFilter(limit=40, sort="oldest")).items
        assert [r.id for r in oldest] == newest_first(runs)[::-1]

    @pytest.mark.parametrize("limit", [1, 16, 17])
    @pytest.mark.parametrize("oldest_first", [False, True])
    def test_pages_concatenate_to_the_whole_order(self, store, make_run, limit, oldest_first):
        runs = [make_run(i) for i in range(40)]
        found = pages(store, FlowRunFilter(limit=limit, sort="oldest" if oldest_first else "newest"))
        expected = newest_first(runs)[::-1] if oldest_first else newest_first(runs)
        assert [i for page in found for i in page] == expected
        assert all(len(page) == limit for page in found[:-1]) and 0 < len(found[-1]) <= limit

    def test_a_crowded_shard_is_read_past_its_first_page(self, store, make_run):
        # 30 runs in one shard, one in each of three others, interleaved in time: the merge must
        # read the crowded shard's later pages before the others' older runs come out.
        runs = [make_run(i, residue=5) for i in range(30)]
        runs += [
            make_run(i, residue=r, created=runs[i].created + dt.timedelta(microseconds=1))
            for i, r in [(3, 1), (15, 2), (28, 9)]
        ]
        assert [i for page in pages(store, FlowRunFilter(limit=25)) for i in page] == newest_first(runs)

    def test_filters_merge_across_shards(self, store, make_run, transition, at):
        runs = [
            make_run(
                i,
                flow_name="a" if i % 2 else "b",
                tags=["t"] if i % 3 else [],
                deployment_name="a/prod" if i % 4 else None,
            )
            for i in range(36)
        ]
        for run in runs[::5]:
            store.commit_transition(transition(run, State(type=StateType.RUNNING, timestamp=at(100))))
        running = {run.id for run in runs[::5]}
        cases = [
            (FlowRunFilter(flow_name="a", limit=4), [r for r in runs if r.flow_name == "a"]),
            (FlowRunFilter(tag=["t"], limit=5), [r for r in runs if r.tags]),
            (FlowRunFilter(deployment_name="a/prod", limit=6), [r for r in runs if r.deployment_name]),
            (FlowRunFilter(state_type=[StateType.RUNNING], limit=2), [r for r in runs if r.id in running]),
            (
                FlowRunFilter(state_type=[StateType.RUNNING, StateType.PENDING], flow_name="b", limit=3),
                [r for r in runs if r.flow_name == "b"],
            ),
        ]
        for flt, expected in cases:
            assert [i for page in pages(store, flt) for i in page] == newest_first(expected), flt

    def test_time_window_and_cursor_across_shards(self, store, make_run, at):
        runs = [make_run(i) for i in range(32)]
        flt = FlowRunFilter(since=at(5), until=at(27), limit=4)
        assert [i for page in pages(store, flt) for i in page] == newest_first(runs[5:27])


class TestMergedDueAndCounts:
    def test_due_runs_earliest_first_across_shards(self, store, make_run, at):
        def scheduled(i: int) -> State:
            return State(type=StateType.SCHEDULED, timestamp=at(0), state_details={"scheduled_time": at(100 - i)})

        runs = [
            make_run(i, state_obj=scheduled(i), expected_start_time=at(100 - i), work_queue_name="q") for i in range(34)
        ]
        earliest = [run.id for run in sorted(runs, key=lambda r: r.expected_start_time)]
        assert [r.id for r in store.list_due_flow_runs(at(200), limit=100)] == earliest
        assert [r.id for r in store.list_due_flow_runs(at(200), limit=5)] == earliest[:5]
        assert [r.id for r in store.list_due_flow_runs(at(80), limit=100)] == earliest[: 34 - 20]
        assert [r.id for r in store.list_due_flow_runs(at(200), work_queue_name="q", limit=3)] == earliest[:3]

    def test_counts_add_up_across_shards(self, store, make_run, transition, at):
        runs = [make_run(i) for i in range(33)]
        for run in runs[:10]:
            store.commit_transition(transition(run, State(type=StateType.RUNNING, timestamp=at(100))))
        hour = at(0).replace(minute=0, second=0)
        counts = store.count_flow_runs(hour, hour + dt.timedelta(hours=1))
        assert counts == {hour: {StateType.RUNNING: 10, StateType.PENDING: 23}}
