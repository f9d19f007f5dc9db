"""SQLite adapter of the store port: one WAL-mode file shared safely by several processes.

Runs are stored as JSON documents beside the indexed columns the queries need. Writes take
`BEGIN IMMEDIATE` (the write lock up front, so two writers never deadlock on an upgrade) and a
generous busy timeout, so scripts running side by side with `mintaka server start` queue for
the lock instead of failing with "database is locked".
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mintaka_core.exceptions import MintakaError
from mintaka_core.schemas import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    Log,
    LogCreate,
    TaskRun,
)
from mintaka_core.states import TERMINAL_STATE_TYPES, State, StateType, utcnow
from mintaka_server.orchestration.rules import FLOW_RUN_CLOSED

from ._sqlite_codec import INSERT_TASK_RUN, _doc, _history, _read_history, task_run_row
from ._sqlite_groups import SQLiteGroupCommit
from ._sqlite_leases import SQLiteLeases, create_lease_tables
from ._sqlite_records import SQLiteRecords, _ts
from ._sqlite_views import SQLiteViews, create_view_tables
from .port import FlowRunClosed, Store, TransitionWrite, VersionConflict, flow_run_not_found, lessee_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flow_runs (
    id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, state_type TEXT, created TEXT NOT NULL,
    version INTEGER NOT NULL, idempotency_key TEXT UNIQUE, expected_start TEXT, work_queue TEXT,
    deployment_name TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS flow_runs_due ON flow_runs (state_type, expected_start);
CREATE INDEX IF NOT EXISTS flow_runs_queue_due ON flow_runs (work_queue, state_type, expected_start, id);
CREATE INDEX IF NOT EXISTS flow_runs_by_deployment ON flow_runs (deployment_name, created DESC, id DESC);
CREATE TABLE IF NOT EXISTS documents (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS flow_runs_by_created ON flow_runs (created DESC, id DESC);
CREATE INDEX IF NOT EXISTS flow_runs_by_flow ON flow_runs (flow_name, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS flow_runs_by_state ON flow_runs (state_type, created DESC, id DESC);
CREATE TABLE IF NOT EXISTS flow_run_tags (
    tag TEXT NOT NULL, created TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (tag, created, run_id));
CREATE TABLE IF NOT EXISTS task_runs (
    id TEXT PRIMARY KEY, flow_run_id TEXT, task_key TEXT NOT NULL, dynamic_key TEXT NOT NULL,
    created TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL, history TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS task_runs_identity ON task_runs (flow_run_id, task_key, dynamic_key);
CREATE TABLE IF NOT EXISTS states (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS states_by_run ON states (run_id, seq);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, expiration TEXT, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS concurrency_limits (
    tag TEXT PRIMARY KEY, lim INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, flow_run_id TEXT, task_run_id TEXT, timestamp TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_flow_run ON logs (flow_run_id, timestamp, seq);
CREATE UNIQUE INDEX IF NOT EXISTS logs_by_id ON logs (json_extract(doc, '$.id'));
CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, created TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""

BUSY_TIMEOUT_MS = 60_000
SCHEMA_VERSION = 4
MIGRATES_FROM = frozenset({2, 3})  # older schemas this one upgrades in place when it opens them


def _move_task_run_history(conn: sqlite3.Connection) -> None:
    """Schema 4 keeps a task run's states in its own row (one b-tree less per write): move
    them there from the `states` table, where schema 3 and older kept them."""
    if "history" not in {row[1] for row in conn.execute("PRAGMA table_info(task_runs)")}:
        conn.execute("ALTER TABLE task_runs ADD COLUMN history TEXT")
    rows = conn.execute(
        "SELECT s.run_id, s.doc FROM states s JOIN task_runs t ON t.id = s.run_id ORDER BY s.run_id, s.seq"
    )
    histories: dict[str, list[str]] = {}
    for run_id, doc in rows:
        histories.setdefault(run_id, []).append(doc)
    moved = [(",".join(docs), run_id) for run_id, docs in histories.items()]
    conn.executemany("UPDATE task_runs SET history = ? WHERE id = ?", moved)
    conn.execute("DELETE FROM states WHERE run_id IN (SELECT id FROM task_runs)")


class SQLiteStore(SQLiteGroupCommit, SQLiteViews, SQLiteRecords, SQLiteLeases, Store):
    """Store on one SQLite file (WAL). Safe across threads and processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._in_batch = False  # set only by the thread holding the lock
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives a crash of the process; only an OS crash may lose
        # the last transactions. FULL would fsync on every state (~10x slower per task).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint (and fsync) every ~40 MB of WAL rather than every 4 MB: ~25% less per write.
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._conn.execute("PRAGMA cache_size=-16384")
        self._conn.execute("PRAGMA foreign_keys=OFF")
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if has_tables and version != SCHEMA_VERSION and version not in MIGRATES_FROM:
                raise MintakaError(
                    f"{self.path} was written by another Mintaka version (schema {version}, "
                    f"this one reads {SCHEMA_VERSION}); move it aside to start a new store"
                )
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            create_lease_tables(conn, version if has_tables else None)
            if has_tables and version in MIGRATES_FROM:
                _move_task_run_history(conn)
            create_view_tables(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # Flow runs seen to exist (none is ever deleted): a task run written in one needs no read
        # to check it exists, only to check it is open.
        self._flow_runs_seen: set[str] = set()
        self._init_groups()

    # -- plumbing
    # Every operation but `read_flow_run_state_type` first commits the ended task runs waiting
    # for their group (`_sqlite_groups`), so that it reads and decides on everything written.
    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._lock:
            if self._in_batch:
                yield
                return
            self.commit_grouped()
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_batch = True
            try:
                yield
            except BaseException:
                self._in_batch = False
                self._conn.execute("ROLLBACK")
                raise
            self._in_batch = False
            self._conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._in_batch:  # a write inside a batch: its own savepoint, committed with the batch
                with self._savepoint():
                    yield self._conn
                return
            self.commit_grouped()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _one_statement(self) -> Iterator[sqlite3.Connection]:
        """For a write of one statement, atomic by itself: no BEGIN and COMMIT around it (SQLite
        commits it alone), no savepoint in a batch (a failed statement undoes only itself)."""
        with self._lock:
            self.commit_grouped()
            yield self._conn

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT write")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO write")
            self._conn.execute("RELEASE write")
            raise
        self._conn.execute("RELEASE write")

    def _read(self, sql: str, params: Sequence = (), *, sees_task_runs: bool = True) -> list[tuple]:
        with self._lock:
            if sees_task_runs:
                self.commit_grouped()
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            try:
                self._close_groups()
            finally:
                self._conn.close()

    # -- flows
    def ensure_flow(self, name: str) -> Flow:
        rows = self._read("SELECT id, name, created FROM flows WHERE name = ?", (name,))
        if not rows:
            with self._write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO flows (id, name, created) VALUES (?, ?, ?)",
                    (str(uuid.uuid4()), name, _ts(utcnow())),
                )
            rows = self._read("SELECT id, name, created FROM flows WHERE name = ?", (name,))
        flow_id, flow_name, created = rows[0]
        return Flow(id=flow_id, name=flow_name, created=created)

    def list_flows(self, limit: int = 200) -> list[Flow]:
        rows = self._read("SELECT id, name, created FROM flows ORDER BY name LIMIT ?", (limit,))
        return [Flow(id=i, name=n, created=c) for i, n, c in rows]

    # -- flow runs
    def create_flow_run(
        self, run: FlowRun, history_before: Sequence[State] = (), *, lease_expires: dt.datetime | None = None
    ) -> FlowRun:
        run_id, created = str(run.id), _ts(run.created)
        with self._write() as conn:
            if run.idempotency_key:
                existing = conn.execute(
                    "SELECT doc FROM flow_runs WHERE idempotency_key = ?", (run.idempotency_key,)
                ).fetchone()
                if existing:
                    return FlowRun.model_validate_json(existing[0])
            conn.execute(
                "INSERT INTO flow_runs (id, flow_name, state_type, created, version, idempotency_key,"
                " expected_start, work_queue, deployment_name, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    run.flow_name,
                    run.state.type.value if run.state else None,
                    created,
                    run.state_version,
                    run.idempotency_key,
                    _ts(run.expected_start_time) if run.expected_start_time else None,
                    run.work_queue_name,
                    run.deployment_name,
                    _doc(run),
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO flow_run_tags (tag, created, run_id) VALUES (?, ?, ?)",
                [(tag, created, run_id) for tag in set(run.tags)],
            )
            if run.state:
                self._append_states(conn, run_id, [*history_before, run.state])
            if lease_expires is not None:
                self._grant_lease(conn, run.id, lease_expires)
        return run

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun | None:
        rows = self._read("SELECT doc FROM flow_runs WHERE id = ?", (str(run_id),))
        return FlowRun.model_validate_json(rows[0][0]) if rows else None

    def read_flow_run_state_type(self, run_id: uuid.UUID) -> StateType | None:
        # Asked before each task starts: a flow run's state needs no task run committed first.
        rows = self._read("SELECT state_type FROM flow_runs WHERE id = ?", (str(run_id),), sees_task_runs=False)
        if not rows:
            return None
        self._saw_flow_run(str(run_id))
        return StateType(rows[0][0]) if rows[0][0] else None

    def _saw_flow_run(self, run_id: str) -> None:
        seen = self._flow_runs_seen
        if len(seen) >= 1024:  # a bound, not a cache policy: reading again is always correct
            seen.clear()
        seen.add(run_id)

    def list_due_flow_runs(
        self,
        before: dt.datetime,
        work_queue_name: str | None = None,
        limit: int = 100,
        after: FlowRun | None = None,
    ) -> list[FlowRun]:
        where, params = ["expected_start <= ?"], [_ts(before)]
        if work_queue_name is not None:
            where.append("work_queue = ?")
            params.append(work_queue_name)
        if after is not None and after.expected_start_time is not None:
            where.append("(expected_start, id) > (?, ?)")
            params += [_ts(after.expected_start_time), str(after.id)]
        return self._scheduled_runs(where, params, limit)

    def list_upcoming_flow_runs(
        self, after: dt.datetime, limit: int = 10, *, flow_name: str | None = None, deployment_name: str | None = None
    ) -> list[FlowRun]:
        where, params = ["expected_start > ?"], [_ts(after)]
        for column, value in (("flow_name", flow_name), ("deployment_name", deployment_name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self._scheduled_runs(where, params, limit)

    def _scheduled_runs(self, where: list[str], params: list, limit: int) -> list[FlowRun]:
        """SCHEDULED flow runs matching `where`, soonest first: the due index (state_type, expected_start)."""
        sql = "SELECT doc FROM flow_runs WHERE state_type = 'SCHEDULED' AND " + " AND ".join(where)
        rows = self._read(sql + " ORDER BY expected_start, id LIMIT ?", [*params, limit])
        return [FlowRun.model_validate_json(doc) for (doc,) in rows]

    def list_expired_suspensions(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        # The state index finds the PAUSED runs (few at any time) inside SQLite, which checks
        # each one's timeout: one bounded query, no run read into Python but the expired ones.
        # julianday() reads the timeout whatever its offset (JSON keeps the one it was given).
        rows = self._read(
            "SELECT id FROM ("
            " SELECT id, julianday(json_extract(doc, '$.state.state_details.pause_timeout')) AS timeout"
            " FROM flow_runs WHERE state_type = 'PAUSED'"
            " AND json_extract(doc, '$.state.state_details.pause_reschedule')"
            ") WHERE timeout <= julianday(?) ORDER BY timeout, id LIMIT ?",
            (_ts(before), limit),
        )
        return [uuid.UUID(run_id) for (run_id,) in rows]

    # -- task runs
    def create_task_run(
        self,
        run: TaskRun,
        history_before: Sequence[State] = (),
        acquire_slots: Sequence[str] = (),
        *,
        require_open_flow_run: bool = False,
    ) -> TaskRun:
        flow_run_id = str(run.flow_run_id) if run.flow_run_id else None
        check_flow_run = flow_run_id is not None and (require_open_flow_run or flow_run_id not in self._flow_runs_seen)
        # The common write, a task run of a flow run this store has seen, is one INSERT.
        with self._write() if check_flow_run or acquire_slots else self._one_statement() as conn:
            history = _history([*history_before, run.state]) if run.state else None
            inserted = conn.execute(INSERT_TASK_RUN, task_run_row(run, _doc(run), history)).rowcount
            if not inserted:  # the same run (by identity, or by the client's id) exists: return it
                existing = conn.execute(
                    "SELECT doc FROM task_runs WHERE (flow_run_id IS ? AND task_key = ? AND dynamic_key = ?) OR id = ?",
                    (flow_run_id, run.task_key, run.dynamic_key, str(run.id)),
                ).fetchone()
                return TaskRun.model_validate_json(existing[0])
            # In this transaction: raising rolls the insert back.
            if check_flow_run:
                self._check_flow_run(conn, run.flow_run_id, require_open_flow_run)
                self._saw_flow_run(flow_run_id)
            self._take_slots(conn, acquire_slots, run.id, lessee_of(run))
        return run

    @staticmethod
    def _check_flow_run(conn: sqlite3.Connection, flow_run_id: uuid.UUID, require_open: bool) -> None:
        row = conn.execute("SELECT state_type FROM flow_runs WHERE id = ?", (str(flow_run_id),)).fetchone()
        if row is None:
            raise flow_run_not_found(flow_run_id)
        state_type = StateType(row[0]) if row[0] else None
        if require_open and state_type in FLOW_RUN_CLOSED:
            raise FlowRunClosed(flow_run_id, state_type)

    def read_task_run(self, run_id: uuid.UUID) -> TaskRun | None:
        rows = self._read("SELECT doc FROM task_runs WHERE id = ?", (str(run_id),))
        return TaskRun.model_validate_json(rows[0][0]) if rows else None

    def list_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        rows = self._read(
            "SELECT doc FROM task_runs WHERE flow_run_id = ? ORDER BY created, rowid", (str(flow_run_id),)
        )
        return [TaskRun.model_validate_json(doc) for (doc,) in rows]

    def list_unfinished_task_runs(self, flow_run_id: uuid.UUID) -> list[TaskRun]:
        finished = ",".join(f"'{t.value}'" for t in TERMINAL_STATE_TYPES)
        rows = self._read(
            "SELECT doc FROM task_runs WHERE flow_run_id = ?"
            f" AND COALESCE(json_extract(doc, '$.state.type'), '') NOT IN ({finished}) ORDER BY created, rowid",
            (str(flow_run_id),),
        )
        return [TaskRun.model_validate_json(doc) for (doc,) in rows]

    # -- states
    @staticmethod
    def _append_states(conn: sqlite3.Connection, run_id: str, states: list[State]) -> None:
        """A flow run's states (a task run's live in its row). seq is the table's rowid:
        increasing across the whole file, so history sorts by it."""
        conn.executemany("INSERT INTO states (run_id, doc) VALUES (?, ?)", [(run_id, _doc(s)) for s in states])

    def read_state_history(self, kind, run_id: uuid.UUID) -> list[State]:
        if kind == "task_run":
            rows = self._read("SELECT history FROM task_runs WHERE id = ?", (str(run_id),))
            return _read_history(rows[0][0]) if rows else []
        rows = self._read("SELECT doc FROM states WHERE run_id = ? ORDER BY seq", (str(run_id),))
        return [State.model_validate_json(doc) for (doc,) in rows]

    def commit_transition(self, write: TransitionWrite) -> None:
        run_id = str(write.run_id)
        run = write.updated_run()
        with self._write() as conn:
            if write.reclaim:
                self._reclaim_slots(conn, write.reclaim, write.now)
            self._take_slots(conn, write.acquire_slots, write.run_id, lessee_of(write.run))
            self._release_slots(conn, write.release_slots, write.run_id)
            if write.lease_expires is not None:
                self._grant_lease(conn, write.run_id, write.lease_expires)
            elif write.end_lease:
                self._end_lease(conn, write.run_id)
            if write.kind == "flow_run":
                due = write.state.state_details.scheduled_time if write.state.type is StateType.SCHEDULED else None
                updated = conn.execute(
                    "UPDATE flow_runs SET version = ?, doc = ?, state_type = ?,"
                    " expected_start = COALESCE(?, expected_start)"
                    " WHERE id = ? AND version = ?",
                    (
                        run.state_version,
                        _doc(run),
                        write.state.type.value,
                        _ts(due) if due else None,
                        run_id,
                        write.expected_version,
                    ),
                ).rowcount
            else:
                updated = conn.execute(
                    "UPDATE task_runs SET version = ?, doc = ?, history = COALESCE(history || ',', '') || ?"
                    " WHERE id = ? AND version = ?",
                    (
                        run.state_version,
                        _doc(run),
                        _history([*write.history_before, write.state]),
                        run_id,
                        write.expected_version,
                    ),
                ).rowcount
            if not updated:
                raise VersionConflict(f"{write.kind} {run_id} changed since it was read")
            if write.kind == "flow_run":
                self._append_states(conn, run_id, [*write.history_before, write.state])
            if write.cache_insert:
                entry = write.cache_insert
                conn.execute(
                    "INSERT OR REPLACE INTO cache (key, expiration, doc) VALUES (?, ?, ?)",
                    (
                        entry.key,
                        _ts(entry.expiration) if entry.expiration else None,
                        entry.state.model_dump_json(),
                    ),
                )

    # -- cache
    def read_cache(self, key: str, now: dt.datetime) -> State | None:
        rows = self._read("SELECT expiration, doc FROM cache WHERE key = ?", (key,))
        if not rows:
            return None
        expiration, doc = rows[0]
        if expiration is not None and expiration <= _ts(now):
            return None
        return State.model_validate_json(doc)

    # -- concurrency limits
    @staticmethod
    def _limit(row: tuple) -> ConcurrencyLimit:
        tag, lim, active, created = row
        return ConcurrencyLimit(tag=tag, limit=lim, active_slots=active, created=created)

    def upsert_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO concurrency_limits (tag, lim, active, created) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (tag) DO UPDATE SET lim = excluded.lim",
                (tag, limit, _ts(utcnow())),
            )
        return self.read_concurrency_limits([tag])[tag]

    def read_concurrency_limits(self, tags: Sequence[str]) -> dict[str, ConcurrencyLimit]:
        if not tags:
            return {}
        marks = ",".join("?" * len(tags))
        rows = self._read(
            f"SELECT tag, lim, active, created FROM concurrency_limits WHERE tag IN ({marks})", list(tags)
        )
        return {row[0]: self._limit(row) for row in rows}

    def list_concurrency_limits(self) -> list[ConcurrencyLimit]:
        rows = self._read("SELECT tag, lim, active, created FROM concurrency_limits ORDER BY tag")
        return [self._limit(row) for row in rows]

    def delete_concurrency_limit(self, tag: str) -> bool:
        with self._write() as conn:
            conn.execute("DELETE FROM slot_holders WHERE tag = ?", (tag,))
            return conn.execute("DELETE FROM concurrency_limits WHERE tag = ?", (tag,)).rowcount > 0

    # -- logs
    def write_logs(self, logs: Sequence[LogCreate]) -> None:
        if not logs:
            return
        with self._write() as conn:
            conn.executemany(
                # A record sent again (its id is taken) is ignored: each line is stored once.
                "INSERT OR IGNORE INTO logs (flow_run_id, task_run_id, timestamp, doc) VALUES (?, ?, ?, ?)",
                [
                    (
                        str(log.flow_run_id) if log.flow_run_id else None,
                        str(log.task_run_id) if log.task_run_id else None,
                        _ts(log.timestamp),
                        log.model_dump_json(),
                    )
                    for log in logs
                ],
            )

    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        # The index on (flow_run_id, timestamp, seq) serves both directions; the level is read
        # from the document of the run's lines only.
        level = " AND json_extract(doc, '$.level') >= ?" if min_level > 0 else ""
        order = "DESC" if newest_first else "ASC"
        rows = self._read(
            f"SELECT doc FROM logs WHERE flow_run_id = ?{level}"
            f" ORDER BY timestamp {order}, seq {order} LIMIT ? OFFSET ?",
            (str(flow_run_id), *([min_level] if level else []), limit, offset),
        )
        return [Log.model_validate_json(doc) for (doc,) in rows]
