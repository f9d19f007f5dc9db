"""Log pages for the dashboard: one Query on the run's log partition, read forwards or backwards
from a line's place (its sort key, `<timestamp>#<id>`), so a live tail reads only new lines.
Task run, level and text filters apply to the items read (bigger pages when filtering)."""

from __future__ import annotations

import datetime as dt
import uuid

from pynamodb.models import Model

from mintaka_core.schemas import Log

from . import _keys as keys

FILTER_PAGE = 1000  # items examined per request when a filter drops some
LogPosition = tuple[dt.datetime, uuid.UUID | None]


def _place(position: LogPosition, side: str) -> str:
    """The sort key just at `position`: its line's own key, or (no id) past every line of that
    timestamp on `side` ("after": '$' sorts after '#'; "before": the bare timestamp sorts first)."""
    timestamp, log_id = position
    if log_id is not None:
        return f"{keys.ts(timestamp)}#{log_id.hex}"
    return keys.ts(timestamp) + ("$" if side == "after" else "#")


def read_log_page(
    model: type[Model],
    flow_run_id: uuid.UUID | None,
    *,
    task_run_id: uuid.UUID | None = None,
    limit: int = 1000,
    offset: int = 0,
    min_level: int = 0,
    newest_first: bool = False,
    contains: str | None = None,
    after: LogPosition | None = None,
    before: LogPosition | None = None,
) -> list[Log]:
    partition = keys.logs_of(flow_run_id, None) if flow_run_id is not None else keys.logs_of(None, task_run_id)
    low = _place(after, "after") if after else None
    high = _place(before, "before") if before else None
    if low and high and low >= high:
        return []
    if low and high:
        key = model.sk.between(low, high)
    elif low:
        key = model.sk > low
    elif high:
        key = model.sk < high
    else:
        key = None
    needle = contains.casefold() if contains else None
    filtered = bool(min_level or needle or (task_run_id is not None and flow_run_id is not None))
    wanted = offset + limit
    page = max(wanted, FILTER_PAGE) if filtered else wanted
    logs: list[Log] = []
    items = model.query(partition, key, consistent_read=True, scan_index_forward=not newest_first, page_size=page)
    for item in items:
        if (low and item.sk <= low) or (high and item.sk >= high):
            continue
        log = Log.model_validate_json(item.doc)
        if log.level < min_level or (task_run_id is not None and log.task_run_id != task_run_id):
            continue
        if needle and needle not in log.message.casefold():
            continue
        logs.append(log)
        if len(logs) == wanted:
            break
    return logs[offset:]
