"""SQLite reads behind the dashboard: filtered flow-run pages, run counts per hour (or minute) and
state, and log pages in either direction.

Mixed into `SQLiteStore` (its `_read()`, `_lock` and `_conn`). Two derived tables, kept by triggers
in the writing transaction (so every process writing the file keeps them, whatever its code):
`flow_run_counts`, runs per creation hour and current state for all runs, each flow and each
deployment (a 30-day chart reads ~6,500 rows, not every run), and `flow_run_names`, a trigram
index of run names (a name search reads the runs it matches, not every run).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sqlite3
import uuid

from mintaka_core.exceptions import InvalidRequest
from mintaka_core.schemas import FlowRun, FlowRunFilter, FlowRunPage, Log
from mintaka_core.states import StateType

from ._sqlite_records import _ts

# A log line's place: its timestamp and (if it has one) its id.
LogPosition = tuple[dt.datetime, uuid.UUID | None]
HOUR_PREFIX = 13  # len("2024-05-01T12"): the hour of a stored timestamp
MINUTE_PREFIX = 16  # len("2024-05-01T12:34")
NAME_CANDIDATES = 2000  # past this many runs matching a name, walking the time index is cheaper

# A run counts once under each scope: all runs (''), its flow ('f:...'), its deployment ('d:...').
_NEW_SCOPES = "SELECT '' AS scope UNION ALL SELECT 'f:' || new.flow_name UNION ALL SELECT 'd:' || new.deployment_name"
_COUNT_ONE = (
    "INSERT INTO flow_run_counts (scope, hour, state_type, n)"
    f" SELECT s.scope, substr(new.created, 1, {HOUR_PREFIX}), new.state_type, 1 FROM ({_NEW_SCOPES}) s"
    " WHERE s.scope IS NOT NULL AND new.state_type IS NOT NULL ON CONFLICT DO UPDATE SET n = n + 1;"
)
_UNCOUNT_OLD = (
    f"UPDATE flow_run_counts SET n = n - 1 WHERE hour = substr(old.created, 1, {HOUR_PREFIX})"
    " AND state_type = old.state_type AND scope IN ('', 'f:' || old.flow_name, 'd:' || old.deployment_name);"
)
VIEW_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS flow_run_counts (scope TEXT NOT NULL, hour TEXT NOT NULL,"
    " state_type TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (scope, hour, state_type)) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE IF NOT EXISTS flow_run_names USING fts5(name, run_id UNINDEXED, tokenize='trigram')",
    # A run's name is fixed when it is created: only inserts index it.
    "CREATE TRIGGER IF NOT EXISTS flow_run_views_insert AFTER INSERT ON flow_runs BEGIN"
    " INSERT INTO flow_run_names (name, run_id) VALUES (json_extract(new.doc, '$.name'), new.id);"
    f" {_COUNT_ONE} END",
    "CREATE TRIGGER IF NOT EXISTS flow_run_views_update AFTER UPDATE OF state_type ON flow_runs"
    f" WHEN old.state_type IS NOT new.state_type BEGIN {_UNCOUNT_OLD} {_COUNT_ONE} END",
    f"CREATE TRIGGER IF NOT EXISTS flow_run_views_delete AFTER DELETE ON flow_runs BEGIN {_UNCOUNT_OLD} END",
]
_BACKFILL = {
    "flow_run_counts": "INSERT INTO flow_run_counts (scope, hour, state_type, n)"
    " SELECT scope, hour, state_type, COUNT(*) FROM ("
    + " UNION ALL ".join(
        f"SELECT {scope} AS scope, substr(created, 1, {HOUR_PREFIX}) AS hour, state_type FROM flow_runs"
        f" WHERE state_type IS NOT NULL AND {scope} IS NOT NULL"
        for scope in ("''", "'f:' || flow_name", "'d:' || deployment_name")
    )
    + ") GROUP BY 1, 2, 3",
    "flow_run_names": "INSERT INTO flow_run_names (name, run_id) SELECT json_extract(doc, '$.name'), id FROM flow_runs",
}


def create_view_tables(conn: sqlite3.Connection) -> None:
    """Create the derived tables and their triggers (in the caller's transaction); a store that
    had runs before them gets them counted and indexed once."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for statement in VIEW_SCHEMA:
        conn.execute(statement)
    for table, backfill in _BACKFILL.items():
        if table not in present:
            conn.execute(backfill)


def _phrase(needle: str) -> str:
    """An FTS5 query matching `needle` as one phrase (for the trigram index: as a substring)."""
    return '"' + needle.replace('"', '""') + '"'


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


def _per_bucket(rows: list[tuple], since: dt.datetime, prefix: int | None) -> dict[dt.datetime, dict[StateType, int]]:
    """{bucket start: {state: count}} from (timestamp prefix, state, count) rows; all under
    `since` without a prefix."""
    counts: dict[dt.datetime, dict[StateType, int]] = {}
    starts: dict[str, dt.datetime] = {}  # each bucket's rows come together: parse its key once
    for key, state_type, n in rows:
        if not prefix:
            start = since
        elif (start := starts.get(key)) is None:  # "2024-05-01T12" or "2024-05-01T12:34"
            start = starts[key] = dt.datetime.fromisoformat(key).replace(tzinfo=dt.UTC)
        counts.setdefault(start, {})[StateType(state_type)] = n
    return counts


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
        types = list(dict.fromkeys(t.value for t in flt.state_type or ()))
        if flt.deployment_name:
            where.append("r.deployment_name = ?")
            params.append(flt.deployment_name)
        if flt.flow_contains:
            where.append(_contains("r.flow_name", flt.flow_contains))
            params.append(flt.flow_contains.casefold())
        if flt.name_contains:
            needle = flt.name_contains
            candidates = self._runs_named_like(needle)
            if candidates is not None:  # few runs match: read only those
                where.append("r.id IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(candidates))
            elif needle.isascii() and needle.isprintable() and not set(needle) & {'"', "\\"}:
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
        order_by = f" ORDER BY {col}created {order}, r.id {order} LIMIT ?"
        if len(types) > 1 and not tags:
            # One ordered walk of the state index per state, merged: for an IN over several
            # states SQLite walks the time index through every run instead (~250 ms at 100k).
            arm = f"SELECT * FROM ({sql} WHERE {' AND '.join(['r.state_type = ?', *where])}{order_by})"
            sql = " UNION ALL ".join([arm] * len(types)) + f" ORDER BY 1 {order}, 2 {order} LIMIT ?"
            params = [value for t in types for value in (t, *params, flt.limit + 1)] + [flt.limit + 1]
        else:
            if types:
                where.append(f"r.state_type IN ({','.join('?' * len(types))})")
                params += types
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += order_by
            params.append(flt.limit + 1)
        rows = self._read(sql, params)
        items = [FlowRun.model_validate_json(doc) for _, _, doc in rows[: flt.limit]]
        next_cursor = None
        if len(rows) > flt.limit:
            created, run_id, _ = rows[flt.limit - 1]
            next_cursor = encode_cursor(created, run_id)
        return FlowRunPage(items=items, next_cursor=next_cursor)

    def count_flow_runs_per_work_queue(
        self, state_types: list[StateType], work_queues: list[str] | None = None
    ) -> dict[str, int]:
        """How many runs of each work queue (of `work_queues`, if given) are in one of
        `state_types` now. Named queues are counted on the (work_queue, state_type) index, a
        seek per queue and state; all queues through the state index."""
        types = [t.value for t in state_types]
        marks = ",".join("?" * len(types))
        if work_queues is None:
            sql = (
                f"SELECT work_queue, COUNT(*) FROM flow_runs INDEXED BY flow_runs_due WHERE state_type IN ({marks})"
                " AND work_queue IS NOT NULL GROUP BY work_queue"
            )
            return dict(self._read(sql, types))
        sql = (
            "SELECT q.value, COUNT(*) FROM json_each(?) q JOIN flow_runs r INDEXED BY flow_runs_queue_due"
            f" ON r.work_queue = q.value AND r.state_type IN ({marks}) GROUP BY q.value"
        )
        return dict(self._read(sql, [json.dumps(list(dict.fromkeys(work_queues))), *types]))

    def _runs_named_like(self, needle: str) -> list[str] | None:
        """The ids of the runs whose name may contain `needle` (a superset: the caller still
        checks each name), from the trigram index; None when it cannot say (a needle under 3
        characters or not ASCII: the index folds case otherwise than Python) or when more than
        NAME_CANDIDATES runs match (a common word: the newest runs hold a page of it anyway)."""
        if len(needle) < 3 or not needle.isascii():
            return None
        rows = self._read(
            "SELECT run_id FROM flow_run_names WHERE flow_run_names MATCH ? LIMIT ?",
            (_phrase(needle), NAME_CANDIDATES + 1),
        )
        return None if len(rows) > NAME_CANDIDATES else [run_id for (run_id,) in rows]

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
        `since` when not `per_hour`), from the hourly counters."""
        if flow_name is not None and deployment_name is not None:  # no counter for the pair
            return self._count_runs(since, until, flow_name, deployment_name, HOUR_PREFIX if per_hour else None)
        scope = f"f:{flow_name}" if flow_name is not None else f"d:{deployment_name}" if deployment_name else ""
        hour = "hour" if per_hour else "NULL"
        rows = self._read(
            f"SELECT {hour} AS bucket, state_type, SUM(n) FROM flow_run_counts"
            " WHERE scope = ? AND hour >= ? AND hour < ? GROUP BY bucket, state_type HAVING SUM(n) > 0",
            (scope, _ts(since)[:HOUR_PREFIX], _ts(until)[:HOUR_PREFIX]),
        )
        return _per_bucket(rows, since, HOUR_PREFIX if per_hour else None)

    def count_flow_runs_per_minute(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        flow_name: str | None = None,
        deployment_name: str | None = None,
    ) -> dict[dt.datetime, dict[StateType, int]]:
        """Runs created in [since, until) by current state, per minute: a range scan of the
        runs themselves, so meant for short ranges (the dashboard asks up to 6 hours)."""
        return self._count_runs(since, until, flow_name, deployment_name, MINUTE_PREFIX)

    def _count_runs(
        self,
        since: dt.datetime,
        until: dt.datetime,
        flow_name: str | None,
        deployment_name: str | None,
        prefix: int | None,
    ) -> dict[dt.datetime, dict[StateType, int]]:
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
        bucket = f"substr(created, 1, {prefix})" if prefix else "NULL"
        rows = self._read(
            f"SELECT {bucket} AS bucket, state_type, COUNT(*) FROM flow_runs"
            f" INDEXED BY {index} WHERE {' AND '.join(where)} GROUP BY bucket, state_type",
            params,
        )
        return _per_bucket(rows, since, prefix)

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
