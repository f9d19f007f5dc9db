"""`list_flow_runs`: the most selective index, newest first, FilterExpression for the other
fields, paging on until `limit` matches (or the end). No Scan. Each index key is write-sharded:
its shards (and the unsharded layout's key, see README) are queried in parallel and merged by
sort key (`_merge`), each with a page of about its share of the limit.

Every listing sorts on the same key, `<created>#<run id>`, so the cursor (that key of the last
run returned) continues any of them: the next page is `sort key < cursor`. The time window is a
key condition on the same sort key: `since` inclusive, `until` exclusive.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pynamodb.models import Model

from mintaka_core.schemas import FlowRun, FlowRunFilter, FlowRunPage
from mintaka_core.states import StateType

from . import _keys as keys
from ._codec import load_flow_run
from ._merge import merged

# Few runs are ever in these states at once, so the state index beats the flow index for them.
IN_FLIGHT = frozenset(
    {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED}
)
FACET_BATCH = 100  # BatchGetItem's limit


def _key_range(attribute, lower: str | None, upper: str | None):
    if lower and upper:
        return attribute.between(lower, upper)  # inclusive: the items at the ends are dropped below
    if upper:
        return attribute <= upper
    if lower:
        return attribute >= lower
    return None


def _page_size(want: int, filtered: bool, shards: int = 1) -> int:
    """Items a Query of one of `shards` partitions asks for per page: about twice its share of
    the page (more when a filter drops some); the merge reads a shard's next page if it must."""
    whole = min(max(want * 4, 50), 1000) if filtered else want
    return whole if shards == 1 else min(whole, max(math.ceil(2 * whole / shards), 10))


def _sharded(key: Callable[[int | None], str]) -> list[str]:
    """The partitions of one logical index key: its shards, then the unsharded layout's key."""
    return [key(n) for n in range(keys.SHARDS)] + [key(None)]


def _distinct(runs: Iterator[FlowRun]) -> Iterator[FlowRun]:
    """Each run once (a run being migrated between layouts may be in two partitions briefly)."""
    seen: set = set()
    for run in runs:
        if run.id not in seen:
            seen.add(run.id)
            yield run


@dataclass(frozen=True)
class _Window:
    """The sort keys a page may hold: `lower` inclusive, `after` and `before` exclusive (the
    cursor is one of them, by the page's direction)."""

    lower: str | None
    after: str | None
    before: str | None
    forward: bool

    @property
    def low(self) -> str | None:
        return max((bound for bound in (self.lower, self.after) if bound), default=None)

    def key_range(self, attribute):
        return _key_range(attribute, self.low, self.before)

    def holds(self, sort: str) -> bool:
        return (
            (self.lower is None or sort >= self.lower)
            and (self.after is None or sort > self.after)
            and (self.before is None or sort < self.before)
        )


def list_flow_runs(model: type[Model], flt: FlowRunFilter) -> FlowRunPage:
    lower = keys.ts(flt.since) if flt.since else None
    before = keys.ts(flt.until) if flt.until else None
    after = None
    if flt.cursor:
        cursor = keys.decode_cursor(flt.cursor)
        if flt.oldest_first:
            after = cursor
        else:
            before = min(before, cursor) if before else cursor
    window = _Window(lower, after, before, forward=flt.oldest_first)
    if window.low and before and window.low >= before:
        return FlowRunPage(items=[])
    want = flt.limit + 1
    runs = (run for run in _distinct(_matching_runs(model, flt, window, want)) if flt.matches_text(run))
    found = list(itertools.islice(runs, want))
    next_cursor = None
    if len(found) > flt.limit:
        last = found[flt.limit - 1]
        next_cursor = keys.encode_cursor(keys.run_sort(last.created, last.id))
    return FlowRunPage(items=found[: flt.limit], next_cursor=next_cursor)


def _matching_runs(model: type[Model], flt: FlowRunFilter, window: _Window, want: int) -> Iterator[FlowRun]:
    states = list(dict.fromkeys(flt.state_type or ()))
    tags = list(dict.fromkeys(flt.tag or ()))
    text = bool(flt.name_contains or flt.flow_contains)
    conditions = []
    by_state = states and (all(s in IN_FLIGHT for s in states) or not flt.flow_name)
    if by_state:
        # One query per state on its own index, merged in sort-key order.
        if flt.flow_name:
            conditions.append(model.flow_name == flt.flow_name)
        index, sort_name = model.gsi3, "gsi3sk"
        partitions = [p for s in states for p in _sharded(functools.partial(keys.state_runs, s.value))]
    elif flt.flow_name:
        index, sort_name = model.gsi2, "gsi2sk"
        partitions = _sharded(functools.partial(keys.flow_runs_of, flt.flow_name))
        if states:
            conditions.append(model.state_type.is_in(*(s.value for s in states)))
    elif flt.deployment_name or tags:
        yield from _from_facet(model, flt, window, want)
        return
    else:
        index, sort_name = model.gsi1, "gsi1sk"
        partitions = _sharded(lambda n: keys.LEGACY_ALL_RUNS if n is None else keys.all_runs(n))
    conditions += [model.tags.contains(tag) for tag in tags]
    if flt.deployment_name:
        conditions.append(model.deployment == flt.deployment_name)
    condition = functools.reduce(operator.and_, conditions) if conditions else None
    page_size = _page_size(want, condition is not None or text, keys.SHARDS)
    streams = [
        index.query(
            partition,
            window.key_range(getattr(model, sort_name)),
            filter_condition=condition,
            scan_index_forward=window.forward,
            page_size=page_size,
        )
        for partition in partitions
    ]
    sort_of = operator.attrgetter(sort_name)
    for item in merged(streams, key=sort_of, reverse=not window.forward):
        if window.holds(sort_of(item)):
            yield load_flow_run(item)


def _from_facet(model: type[Model], flt: FlowRunFilter, window: _Window, want: int) -> Iterator[FlowRun]:
    """Runs by tag or deployment: the facet items (keys only, in the base table) in order, the
    runs themselves by BatchGetItem, the rest of the filter checked on the run."""
    tags = list(dict.fromkeys(flt.tag or ()))
    if flt.deployment_name:
        partitions = _sharded(functools.partial(keys.deployment_facet, flt.deployment_name))
    else:
        partitions = _sharded(functools.partial(keys.tag_facet, tags[0]))
    matches: Callable[[FlowRun], bool] = lambda run: (  # noqa: E731
        all(tag in run.tags for tag in tags)
        and (not flt.deployment_name or run.deployment_name == flt.deployment_name)
        and (not flt.state_type or (run.state is not None and run.state.type in flt.state_type))
    )
    batch = min(want, FACET_BATCH)
    streams = [
        model.query(
            partition,
            window.key_range(model.sk),
            scan_index_forward=window.forward,
            page_size=_page_size(batch, False, keys.SHARDS),
        )
        for partition in partitions
    ]
    facets = merged(streams, key=operator.attrgetter("sk"), reverse=not window.forward)
    facets = (item for item in facets if window.holds(item.sk))
    while chunk := list(itertools.islice(facets, batch)):
        found = model.batch_get([(keys.flow_run(item.ref), keys.RUN) for item in chunk])
        by_id = {item.pk: load_flow_run(item) for item in found}
        for item in chunk:
            run = by_id.get(keys.flow_run(item.ref))
            if run is not None and matches(run):
                yield run
