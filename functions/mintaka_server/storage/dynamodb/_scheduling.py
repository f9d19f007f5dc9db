"""DynamoDB storage of what schedulers coordinate through, mixed into `DynamoDBStore`:
versioned documents (schedule cursors, leader leases), each write one PutItem conditional on
the version the writer read; and the index of run leases by expiry that the reaper queries."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from typing import Any

from pynamodb.models import Model

from mintaka_core.exceptions import Conflict

from . import _keys as keys
from ._errors import call
from ._merge import merged


class DynamoDBScheduling:
    """Needs the host's `_model`."""

    def swap_document(self, kind: str, key: str, doc: dict, expected_version: int | None) -> bool:
        model = self._model
        version = (expected_version or 0) + 1
        text = json.dumps({**doc, "version": version}, default=str)
        item = model(keys.documents_of(kind), keys.document_sk(key), doc=text, version=version)
        condition = model.pk.does_not_exist() if expected_version is None else model.version == expected_version
        try:
            call(lambda: item.save(condition=condition), "swap document")
        except Conflict:  # another writer got there first
            return False
        return True


# Leases by expiry, for the reaper: each lease item is also in the sparse gsi2 under one of
# `SHARDS` partitions (from the run id), sorted by expiry, so the reaper queries only expired
# leases (one Query per shard) instead of reading every running run and its lease.
def lease_partition(n: int) -> str:
    return f"LEASES.{n:02d}"


def lease_index(run_id: uuid.UUID | str, expires: dt.datetime) -> dict[str, str]:
    """The gsi2 attributes of a lease item expiring at `expires` (written with its expiration)."""
    return {"gsi2pk": lease_partition(keys.shard(run_id)), "gsi2sk": f"{keys.ts(expires)}#{run_id}"}


def lease_index_actions(model: type[Model], run_id: uuid.UUID | str, expires: dt.datetime) -> list[Any]:
    """The same, as update actions (a renewal moves the lease in the index)."""
    return [getattr(model, name).set(value) for name, value in lease_index(run_id, expires).items()]


class DynamoDBLeaseIndex:
    """Needs the host's `_model`."""

    def list_expired_leases(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        model = self._model
        expired = model.gsi2sk < keys.ts(before) + "$"  # '$' sorts after the '#' that follows the time
        streams = [model.gsi2.query(lease_partition(n), expired) for n in range(keys.SHARDS)]
        prefix = keys.lease("")

        def read() -> list[uuid.UUID]:
            items = itertools.islice(merged(streams, key=lambda item: item.gsi2sk), limit)
            return [uuid.UUID(item.pk.removeprefix(prefix)) for item in items]

        return call(read, "list expired leases")

    def list_expired_suspensions(self, before: dt.datetime, limit: int = 500) -> list[uuid.UUID]:
        """From the suspension items (`_keys.suspended`, kept by the runs' own transitions): one
        Query per shard, `sk < <before>$`, merged by timeout; unexpired suspensions are not read."""
        model = self._model
        expired = model.sk < keys.ts(before) + "$"
        streams = [model.query(keys.suspended(n), expired, consistent_read=True) for n in range(keys.SHARDS)]

        def read() -> list[uuid.UUID]:
            items = itertools.islice(merged(streams, key=lambda item: item.sk), limit)
            return [uuid.UUID(item.ref) for item in items]

        return call(read, "list expired suspensions")
