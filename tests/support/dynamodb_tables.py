"""DynamoDB tables for tests: created once per session (so once per xdist worker) and reused.

Creating the store's table (three GSIs, TTL) and deleting it again costs 0.15-0.35 s on moto or
DynamoDB Local, and some 500 tests of the full suite each want a fresh one. A test takes a table
from its endpoint's `TablePool` instead: the table is empty, as a new one would be, so a test that
lists, counts or scans sees only its own items; given back, the pool deletes the items the test
wrote (a scan and batch deletes: ~0.02 s for the few items most tests write) and hands the table
to the next test, until `RECYCLE_AFTER` items have been deleted from it; then (or when a test
left more than that) it is dropped, and a new one made when needed. The store cannot share a table
between tests by key prefix: its listings (all runs, all flows, limits, API keys) read global
partitions.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

# Past this many deleted items, a table is dropped rather than emptied: deleting more costs more
# than a new table, and moto keeps an empty entry for every partition key a table ever had and
# deep-copies the table for each item of each transaction, so a long-reused table slows every
# later test down. A table serves some 5-10 tests.
RECYCLE_AFTER = 200
BATCH = 25  # DynamoDB's BatchWriteItem limit


@dataclass
class Table:
    """A table named as the server names it: `{prefix}mintaka` (MINTAKA_TABLE_PREFIX=prefix)."""

    prefix: str
    name: str
    deleted: int = 0  # items deleted from it so far


class TablePool:
    """Empty tables of the store's layout on one endpoint, reused by one session's tests."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._free: list[Table] = []
        self._lock = threading.Lock()

    @contextmanager
    def table(self) -> Iterator[Table]:
        """An empty table for the block; emptied (or dropped) after it."""
        table = self.take()
        try:
            yield table
        finally:
            self.give_back(table)

    def take(self) -> Table:
        while True:
            with self._lock:
                if not self._free:
                    break
                table = self._free.pop()
            # A thread of an earlier test (a log shipper, a server still answering) may have
            # written after the table was emptied: such a table is dropped, never handed on.
            if self._is_empty(table):
                return table
            self._drop(table)
        from mintaka.settings import TABLE_BASE_NAME

        prefix = f"t{uuid.uuid4().hex[:10]}-"
        table = Table(prefix, f"{prefix}{TABLE_BASE_NAME}")
        store = self._store(table)
        store.create_table()
        store.close()
        return table

    def give_back(self, table: Table) -> None:
        """Empties the table for the next test, or drops it if that would pass RECYCLE_AFTER."""
        if self._empty(table):
            with self._lock:
                self._free.append(table)
        else:
            self._drop(table)

    def close(self) -> None:
        """Drops every table the pool holds (at the end of the session)."""
        with self._lock:
            tables, self._free = self._free, []
        for table in tables:
            self._drop(table)

    # -- plumbing
    def _store(self, table: Table) -> Any:
        from mintaka_server.storage.dynamodb import DynamoDBStore

        return DynamoDBStore(table.name, endpoint_url=self.endpoint)

    @property
    def client(self) -> Any:
        from mintaka._aws import aws_client

        return aws_client("dynamodb", endpoint_url=self.endpoint)

    def _is_empty(self, table: Table) -> bool:
        try:
            page = self.client.scan(TableName=table.name, Limit=1, ConsistentRead=True)
        except self.client.exceptions.ResourceNotFoundException:
            return False
        return not page["Items"]

    def _empty(self, table: Table) -> bool:
        """Deletes every item; False (nothing deleted) if that would take the table past RECYCLE_AFTER."""
        name, limit = table.name, RECYCLE_AFTER - table.deleted
        keys: list[dict] = []
        scan: dict = {"TableName": name, "ProjectionExpression": "pk, sk", "ConsistentRead": True}
        while True:
            try:
                page = self.client.scan(**scan, Limit=limit + 1 - len(keys))
            except self.client.exceptions.ResourceNotFoundException:
                return False  # the test deleted it
            keys += page["Items"]
            if len(keys) > limit:
                return False
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for start in range(0, len(keys), BATCH):
            pending: dict | None = {name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH]]}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None
        table.deleted += len(keys)
        return True

    def _drop(self, table: Table) -> None:
        with suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_table(TableName=table.name)
