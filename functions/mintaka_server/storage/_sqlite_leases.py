"""SQLite storage of leases and slot holders, mixed into `SQLiteStore`.

A concurrency slot is a row in `slot_holders` (tag, holding run, lessee) beside the limit's
counter; a lease is a row in `leases` (run, expiry) that the run's heartbeats push forward.
Taking and giving back a slot is one more statement in the transition's own transaction.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Sequence

from mintaka_server.orchestration.context import SlotHolder, SlotReclaim

from ._sqlite_records import _ts
from .port import SlotsUnavailable

LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (run_id TEXT PRIMARY KEY, expires TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires);
CREATE TABLE IF NOT EXISTS slot_holders (
    tag TEXT NOT NULL, holder TEXT NOT NULL, lessee TEXT NOT NULL, PRIMARY KEY (tag, holder));
"""

# Schema 2 (before leases) kept bare counters: the runs RUNNING with `held_slots` are their holders.
_BACKFILL_HOLDERS = """
INSERT OR IGNORE INTO slot_holders (tag, holder, lessee)
SELECT j.value, t.id, COALESCE(t.flow_run_id, t.id) FROM task_runs t, json_each(t.doc, '$.held_slots') j
WHERE json_extract(t.doc, '$.state.type') = 'RUNNING'
UNION ALL
SELECT j.value, r.id, r.id FROM flow_runs r, json_each(r.doc, '$.held_slots') j WHERE r.state_type = 'RUNNING'
"""


def create_lease_tables(conn: sqlite3.Connection, from_version: int | None) -> None:
    """Create the tables; a store of schema 2 also gets the holders of the slots it counts."""
    for statement in LEASE_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    if from_version == 2:
        conn.execute(_BACKFILL_HOLDERS)


class SQLiteLeases:
    """Leases and slot holders; needs the host's `_write()` and `_read()`."""

    @staticmethod
    def _take_slots(conn: sqlite3.Connection, tags: Sequence[str], holder: uuid.UUID, lessee: uuid.UUID) -> None:
        for tag in tags:
            taken = conn.execute(
                "UPDATE concurrency_limits SET active = active + 1 WHERE tag = ? AND active < lim", (tag,)
            ).rowcount
            if not taken:
                raise SlotsUnavailable(f"No free concurrency slot for tag {tag!r}")
            conn.execute(
                "INSERT OR REPLACE INTO slot_holders (tag, holder, lessee) VALUES (?, ?, ?)",
                (tag, str(holder), str(lessee)),
            )

    @staticmethod
    def _release_slots(conn: sqlite3.Connection, tags: Sequence[str], holder: uuid.UUID) -> None:
        # Only a slot the run still holds is given back: one reclaimed from it is counted no more.
        for tag in tags:
            if conn.execute("DELETE FROM slot_holders WHERE tag = ? AND holder = ?", (tag, str(holder))).rowcount:
                conn.execute("UPDATE concurrency_limits SET active = MAX(active - 1, 0) WHERE tag = ?", (tag,))

    @staticmethod
    def _reclaim_slots(conn: sqlite3.Connection, reclaims: Sequence[SlotReclaim], now: dt.datetime) -> None:
        for reclaim in reclaims:
            row = conn.execute("SELECT lim FROM concurrency_limits WHERE tag = ?", (reclaim.tag,)).fetchone()
            if row is None or row[0] != reclaim.limit:
                raise SlotsUnavailable(f"The concurrency limit for tag {reclaim.tag!r} changed")
            for held in reclaim.holders:
                gone = conn.execute(
                    "DELETE FROM slot_holders WHERE tag = ? AND holder = ? AND lessee = ?"
                    " AND EXISTS (SELECT 1 FROM leases WHERE run_id = ? AND expires <= ?)",
                    (reclaim.tag, str(held.holder), str(held.lessee), str(held.lessee), _ts(now)),
                ).rowcount
                if not gone:  # its lessee beat meanwhile, or it was given back: not ours to take
                    raise SlotsUnavailable(f"A slot of tag {reclaim.tag!r} was renewed or released meanwhile")
                conn.execute("UPDATE concurrency_limits SET active = MAX(active - 1, 0) WHERE tag = ?", (reclaim.tag,))

    @staticmethod
    def _grant_lease(conn: sqlite3.Connection, run_id: uuid.UUID, expires: dt.datetime) -> None:
        conn.execute(
            "INSERT INTO leases (run_id, expires) VALUES (?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET expires = excluded.expires",
            (str(run_id), _ts(expires)),
        )

    @staticmethod
    def _end_lease(conn: sqlite3.Connection, run_id: uuid.UUID) -> None:
        conn.execute("DELETE FROM leases WHERE run_id = ?", (str(run_id),))

    def renew_leases(
        self, run_ids: Sequence[uuid.UUID], expires: dt.datetime, *, create: bool = False
    ) -> list[uuid.UUID]:
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        with self._write() as conn:
            if create:
                conn.executemany(
                    "INSERT OR IGNORE INTO leases (run_id, expires) VALUES (?, ?)",
                    [(str(run_id), _ts(expires)) for run_id in run_ids],
                )
            rows = conn.execute(
                f"UPDATE leases SET expires = MAX(expires, ?) WHERE run_id IN ({marks}) RETURNING run_id",
                [_ts(expires), *map(str, run_ids)],
            ).fetchall()
        return [uuid.UUID(run_id) for (run_id,) in rows]

    def read_leases(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dt.datetime]:
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self._read(f"SELECT run_id, expires FROM leases WHERE run_id IN ({marks})", list(map(str, run_ids)))
        return {uuid.UUID(run_id): _parse_ts(expires) for run_id, expires in rows}

    def list_expired_leases(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        # The expiry index: only expired leases are read, however many runs are running; a row
        # left behind by a run no longer live is passed over, not returned on every tick.
        # Task runs called outside any flow hold leases of their own (their rows are few: a task
        # run in a flow never has one).
        # First the task runs a dead process left uncommitted: those that ended are not reaped.
        self.commit_orphaned_rows()
        rows = self._read(
            "SELECT run_id FROM ("
            " SELECT l.run_id, l.expires FROM leases l JOIN flow_runs r ON r.id = l.run_id"
            " WHERE l.expires <= ? AND r.state_type IN ('RUNNING', 'CANCELLING')"
            " UNION ALL"
            " SELECT l.run_id, l.expires FROM leases l JOIN task_runs t ON t.id = l.run_id"
            " WHERE l.expires <= ? AND t.flow_run_id IS NULL"
            " AND json_extract(t.doc, '$.state.type') IN ('RUNNING', 'CANCELLING')"
            ") ORDER BY expires LIMIT ?",
            (_ts(before), _ts(before), limit),
        )
        return [uuid.UUID(run_id) for (run_id,) in rows]

    def read_slot_holders(self, tag: str) -> list[SlotHolder]:
        rows = self._read("SELECT holder, lessee FROM slot_holders WHERE tag = ? ORDER BY holder", (tag,))
        return [SlotHolder(uuid.UUID(holder), uuid.UUID(lessee)) for holder, lessee in rows]


def _parse_ts(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
