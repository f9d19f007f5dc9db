"""SQLite reads behind the dashboard: filtered flow-run pages, run counts per hour and state, and
log pages in either direction.

Mixed into `SQLiteStore` (its `_read()`, `_lock` and `_conn`). Nothing here writes: counts are a
GROUP BY over the `(state_type, created)` index every transition keeps anyway, so the hot path
pays nothing for them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid

from mintaka.exceptions import InvalidRequest
from mintaka.schemas import FlowRun, FlowRunFilter, FlowRunPage, Log
from mintaka.states import StateType

from ._sqlite_records import _ts

# A log line's place: its timestamp and (if it has one) its id.
LogPosition = tuple[dt.datetime, uuid.UUID | None]
HOUR_PREFIX = 13  # len("2024-05-01T12"): the hour of a stored timestamp


def _icontains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle in haystack.casefold()


def _contains(column: str, needle: str) -> str:
    """SQL for `column` containing `needle` in any case. An ASCII needle is matched by SQLite's own
    lower() and instr() (~10x faster than a Python callback per row); other text by casefold."""
    if needle.isascii():
        return f"instr(lower({column}), ?) > 0"
    return f"mintaka_icontains({column}, ?)"


def encode_cursor(created: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, run_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        created, run_id = str(created), str(run_id)
        (created + run_id).encode()  # a forged cursor may decode to text SQLite cannot bind
        return created, run_id
    except Exception as exc:
        raise InvalidRequest("cursor: not a cursor this API returned") from exc


def _hour(prefix: str) -> dt.datetime:
    return dt.datetime.strptime(prefix, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)


class SQLiteViews:
    """Flow-run listing and counting; needs the host's `_read()`, `_lock` and `_conn`."""

    def _ensure_functions(self) -> None:
        if not getattr(self, "_view_functions", False):
            with self._lock:
                # Python's casefold, so both stores agree on "any case" (SQLite's lower() is ASCII only).
                self._conn.create_function("mintaka_icontains", 2, _icontains, deterministic=True)
                self._view_functions = True

    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        self._ensure_functions()
        tags = list(dict.fromkeys(flt.tag or ()))
        if tags:
            sql = "SELECT r.created, r.id, r.doc FROM flow_run_tags t JOIN flow_runs r ON r.id = t.run_id"
            where, params, col = ["t.tag = ?"], [tags[0]], "t."
            for tag in tags[1:]:
                where.append(
                    "EXISTS (SELECT 1 FROM flow_run_tags o"
                    " WHERE o.tag = ? AND o.created = r.created AND o.run_id = r.id)"
                )
                params.append(tag)
        else:
            sql, where, params, col = "SELECT r.created, r.id, r.doc FROM flow_runs r", [], [], "r."
        if flt.flow_name:
            where.append("r.flow_name = ?")
            params.append(flt.flow_name)
        if flt.state_type:
            types = list(dict.fromkeys(t.value for t in flt.state_type))
            where.append(f"r.state_type IN ({','.join('?' * len(types))})")
            params += types
        if flt.deployment_name:
            where.append("r.deployment_name = ?")
            params.append(flt.deployment_name)
        if flt.flow_contains:
            where.append(_contains("r.flow_name", flt.flow_contains))
            params.append(flt.flow_contains.casefold())
        if flt.name_contains:
            needle = flt.name_contains
            if needle.isascii() and needle.isprintable() and not set(needle) & {'"', "\\"}:
                # A cheap first pass on the raw document (LIKE ignores ASCII case): most runs
                # are dropped before their JSON is parsed (~30% faster on a search that scans).
                where.append("r.doc LIKE ? ESCAPE '\\'")
                params.append("%" + re.sub(r"([%_\\])", r"\\\1", needle) + "%")
            where.append(_contains("json_extract(r.doc, '$.name')", needle))
            params.append(needle.casefold())
        if flt.since:
            where.append(f"{col}created >= ?")
            params.append(_ts(flt.since))
        if flt.until:
            where.append(f"{col}created < ?")
            params.append(_ts(flt.until))
        after, order = (">", "ASC") if flt.oldest_first else ("<", "DESC")
        if flt.cursor:
            created, run_id = decode_cursor(flt.cursor)
            where.append(f"({col}created {after} ? OR ({col}created = ? AND r.id {after} ?))")
            params += [created, created, run_id]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {col}created {order}, r.id {order} LIMIT ?"
        params.append(flt.limit + 1)
        rows = self._read(sql, params)
        items = [FlowRun.model_validate_json(doc) for _, _, doc in rows[: flt.limit]]
        next_cursor = None
        if len(rows) > flt.limit:
            created, run_id, _ = rows[flt.limit - 1]
            next_cursor = encode_cursor(created, run_id)
        return FlowRunPage(items=items, next_cursor=next_cursor)

    def count_flow_runs(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        flow_name: str | None = None,
        deployment_name: str | None = None,
        per_hour: bool = True,
    ) -> dict[dt.datetime, dict[StateType, int]]:
        """Runs created in [since, until) (whole hours) by current state, per hour (or all under
        `since` when not `per_hour`: half the work)."""
        # `state_type IN (every type)` lets the planner walk the (state_type, created) index once
        # per type: a covering range scan, no table rows read. A flow or deployment narrows on
        # its own index first.
        where, params = ["created >= ?", "created < ?"], [_ts(since), _ts(until)]
        index = "flow_runs_by_state"
        if flow_name is not None:
            where.append("flow_name = ?")
            params.append(flow_name)
            index = "flow_runs_by_flow"
        if deployment_name is not None:
            where.append("deployment_name = ?")
            params.append(deployment_name)
            index = "flow_runs_by_deployment"
        types = [t.value for t in StateType]
        where.append(f"state_type IN ({','.join('?' * len(types))})")
        params += types
        hour = f"substr(created, 1, {HOUR_PREFIX})" if per_hour else "NULL"
        rows = self._read(
            f"SELECT {hour} AS hour, state_type, COUNT(*) FROM flow_runs"
            f" INDEXED BY {index} WHERE {' AND '.join(where)} GROUP BY hour, state_type",
            params,
        )
        counts: dict[dt.datetime, dict[StateType, int]] = {}
        for hour_key, state_type, n in rows:
            counts.setdefault(_hour(hour_key) if per_hour else since, {})[StateType(state_type)] = n
        return counts

    def read_log_page(
        self,
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
        """Log lines of a flow run (or of a task run outside any), only `task_run_id`'s if given,
        at `min_level` or above, whose message contains `contains` (any case), strictly after
        `after` and before `before` (a line's timestamp and id: the live tail's cursor), in time
        order or newest first; `offset` and `limit` count the lines that match."""
        self._ensure_functions()
        if flow_run_id is not None:
            where, params = ["flow_run_id = ?"], [str(flow_run_id)]
        else:
            where, params = ["flow_run_id IS NULL"], []
        if task_run_id is not None:
            where.append("task_run_id = ?")
            params.append(str(task_run_id))
        if min_level > 0:
            where.append("json_extract(doc, '$.level') >= ?")
            params.append(min_level)
        if contains:
            where.append(_contains("json_extract(doc, '$.message')", contains))
            params.append(contains.casefold())
        for position, op in ((after, ">"), (before, "<")):
            if position is not None:
                clause, values = self._log_bound(position, op)
                where.append(clause)
                params += values
        order = "DESC" if newest_first else "ASC"
        rows = self._read(
            f"SELECT doc FROM logs WHERE {' AND '.join(where)}"
            f" ORDER BY timestamp {order}, seq {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [Log.model_validate_json(doc) for (doc,) in rows]

    def _log_bound(self, position: LogPosition, op: str) -> tuple[str, list]:
        timestamp, log_id = position
        if log_id is not None:
            row = self._read("SELECT timestamp, seq FROM logs WHERE json_extract(doc, '$.id') = ?", (str(log_id),))
            if row:  # lines of one timestamp are in write order: continue after that line
                stored, seq = row[0]
                return f"(timestamp {op} ? OR (timestamp = ? AND seq {op} ?))", [stored, stored, seq]
        return f"timestamp {op} ?", [_ts(timestamp)]
