"""SQLite storage of small records: API keys, server settings and documents (deployments,
work queues, heartbeats). Mixed into `SQLiteStore`, whose connection and transactions it uses."""

from __future__ import annotations

import datetime as dt
import json

from mintaka_core.exceptions import Conflict

from .port import ApiKeyRecord


def _ts(value: dt.datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts lexicographically in time order."""
    if value.tzinfo is not dt.UTC:
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if value.year < 1000:  # strftime does not pad the year to 4 digits: keep what was always stored
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" -> "Z"; ~4x faster


class SQLiteRecords:
    """API keys, settings and documents; needs the host's `_write()` and `_read()`."""

    # -- API keys
    def create_api_key(self, record: ApiKeyRecord) -> None:
        with self._write() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO api_keys (id, created, doc) VALUES (?, ?, ?)",
                (record.id, _ts(record.created), record.model_dump_json()),
            ).rowcount
            if not inserted:
                raise Conflict(f"An API key with id {record.id!r} already exists")

    def read_api_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = self._read("SELECT doc FROM api_keys WHERE id = ?", (key_id,))
        return ApiKeyRecord.model_validate_json(rows[0][0]) if rows else None

    def list_api_keys(self) -> list[ApiKeyRecord]:
        rows = self._read("SELECT doc FROM api_keys ORDER BY created, id")
        return [ApiKeyRecord.model_validate_json(doc) for (doc,) in rows]

    def revoke_api_key(self, key_id: str, at: dt.datetime) -> bool:
        with self._write() as conn:
            row = conn.execute("SELECT doc FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                return False
            record = ApiKeyRecord.model_validate_json(row[0])
            if record.revoked is None:
                record = record.model_copy(update={"revoked": at})
                conn.execute("UPDATE api_keys SET doc = ? WHERE id = ?", (record.model_dump_json(), key_id))
            return True

    # -- settings
    def read_setting(self, name: str) -> dict | None:
        rows = self._read("SELECT doc FROM settings WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else None

    def write_setting(self, name: str, value: dict) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO settings (name, doc) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                (name, json.dumps(value)),
            )

    # -- documents
    def put_document(self, kind: str, key: str, doc: dict) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO documents (kind, key, doc) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                (kind, key, json.dumps(doc, default=str)),
            )

    def read_document(self, kind: str, key: str) -> dict | None:
        rows = self._read("SELECT doc FROM documents WHERE kind = ? AND key = ?", (kind, key))
        return json.loads(rows[0][0]) if rows else None

    def list_documents(self, kind: str) -> list[dict]:
        rows = self._read("SELECT doc FROM documents WHERE kind = ? ORDER BY key", (kind,))
        return [json.loads(doc) for (doc,) in rows]

    def delete_document(self, kind: str, key: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (kind, key)).rowcount > 0

    def swap_document(self, kind: str, key: str, doc: dict, expected_version: int | None) -> bool:
        text = json.dumps({**doc, "version": (expected_version or 0) + 1}, default=str)
        with self._write() as conn:
            if expected_version is None:
                sql, params = "INSERT OR IGNORE INTO documents (kind, key, doc) VALUES (?, ?, ?)", (kind, key, text)
            else:
                sql = "UPDATE documents SET doc = ? WHERE kind = ? AND key = ? AND json_extract(doc, '$.version') = ?"
                params = (text, kind, key, expected_version)
            return conn.execute(sql, params).rowcount > 0
