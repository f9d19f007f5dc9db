"""`list_flow_runs`: one Query on the most selective index, newest first, FilterExpression for
the other fields, paging on until `limit` matches (or the end). No Scan.

Every listing sorts on the same key, `<created>#<run id>`, so the cursor (that key of the last
run returned) continues any of them: the next page is `sort key < cursor`. The time window is a
key condition on the same sort key: `since` inclusive, `until` exclusive.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterator

from pynamodb.models import Model

from mintaka.schemas import FlowRun, FlowRunFilter, FlowRunPage
from mintaka.states import StateType

from . import _keys as keys

# Few runs are ever in these states at once, so the state index beats the flow index for them.
IN_FLIGHT = frozenset(
    {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED}
)
FACET_BATCH = 100  # BatchGetItem's limit


def _key_range(attribute, lower: str | None, upper: str | None):
    if lower and upper:
        return attribute.between(lower, upper)  # inclusive: the item at `upper` is dropped below
    if upper:
        return attribute < upper
    if lower:
        return attribute >= lower
    return None


def _page_size(want: int, filtered: bool) -> int:
    return min(max(want * 4, 50), 1000) if filtered else want


def list_flow_runs(model: type[Model], flt: FlowRunFilter) -> FlowRunPage:
    lower = keys.ts(flt.since) if flt.since else None
    bounds = [keys.ts(flt.until)] if flt.until else []
    if flt.cursor:
        bounds.append(keys.decode_cursor(flt.cursor))
    upper = min(bounds) if bounds else None
    if lower and upper and lower >= upper:
        return FlowRunPage(items=[])
    want = flt.limit + 1
    runs = list(itertools.islice(_matching_runs(model, flt, lower, upper, want), want))
    next_cursor = None
    if len(runs) > flt.limit:
        last = runs[flt.limit - 1]
        next_cursor = keys.encode_cursor(keys.run_sort(last.created, last.id))
    return FlowRunPage(items=runs[: flt.limit], next_cursor=next_cursor)


def _matching_runs(
    model: type[Model], flt: FlowRunFilter, lower: str | None, upper: str | None, want: int
) -> Iterator[FlowRun]:
    state = flt.state_type.value if flt.state_type else None
    conditions = []
    if state and (flt.state_type in IN_FLIGHT or not flt.flow_name):
        index, partition, sort_name = model.gsi3, keys.state_runs(state), "gsi3sk"
        if flt.flow_name:
            conditions.append(model.flow_name == flt.flow_name)
    elif flt.flow_name:
        index, partition, sort_name = model.gsi2, keys.flow_runs_of(flt.flow_name), "gsi2sk"
        if state:
            conditions.append(model.state_type == state)
    elif flt.deployment_name or flt.tag:
        yield from _from_facet(model, flt, lower, upper, want)
        return
    else:
        index, partition, sort_name = model.gsi1, keys.ALL_RUNS, "gsi1sk"
    if flt.tag:
        conditions.append(model.tags.contains(flt.tag))
    if flt.deployment_name:
        conditions.append(model.deployment == flt.deployment_name)
    condition = functools.reduce(operator.and_, conditions) if conditions else None
    items = index.query(
        partition,
        _key_range(getattr(model, sort_name), lower, upper),
        filter_condition=condition,
        scan_index_forward=False,
        page_size=_page_size(want, condition is not None),
    )
    for item in items:
        if upper is None or getattr(item, sort_name) < upper:
            yield FlowRun.model_validate_json(item.doc)


def _from_facet(
    model: type[Model], flt: FlowRunFilter, lower: str | None, upper: str | None, want: int
) -> Iterator[FlowRun]:
    """Runs by tag or deployment: the facet items (keys only, in the base table) in order, the
    runs themselves by BatchGetItem, the other of tag/deployment checked on the run."""
    if flt.deployment_name:
        partition = keys.deployment_facet(flt.deployment_name)
    else:
        partition = keys.tag_facet(flt.tag)
    matches: Callable[[FlowRun], bool] = lambda run: (  # noqa: E731
        (not flt.tag or flt.tag in run.tags) and (not flt.deployment_name or run.deployment_name == flt.deployment_name)
    )
    batch = min(want, FACET_BATCH)
    facets = model.query(
        partition,
        _key_range(model.sk, lower, upper),
        scan_index_forward=False,
        page_size=batch,
    )
    facets = (item for item in facets if upper is None or item.sk < upper)
    while chunk := list(itertools.islice(facets, batch)):
        found = model.batch_get([(keys.flow_run(item.ref), keys.RUN) for item in chunk])
        by_id = {item.pk: FlowRun.model_validate_json(item.doc) for item in found}
        for item in chunk:
            run = by_id.get(keys.flow_run(item.ref))
            if run is not None and matches(run):
                yield run
