"""Key values of the single-table design (see README.md): one function per item type, so the
layout is written down once and the store never spells a key by hand."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid

from mintaka_core.exceptions import InvalidRequest

RUN = "RUN"  # sort key of a flow-run or task-run item
IDENTITY = "IDENTITY"  # sort key of a uniqueness item (idempotency key, task identity)
# Sort keys of the items that are alone in their partition.
FLOW, LIMIT, CACHE, API_KEY, SETTING = "FLOW", "LIMIT", "CACHE", "APIKEY", "SETTING"
LEASE = "LEASE"  # sort key of a run's lease item (alone in its partition)
HOLDER_PREFIX = "HOLDER#"  # sort keys of a limit's slot holders, beside its counter
STATE_PREFIX = "STATE#"  # sort keys of state-history items, under the run's partition
TASK_PREFIX = "TASK#"  # sort keys of a flow run's task-run identity items, under its partition
TASK_LAYOUT = 2  # a flow run whose task runs are listed by identity items in its partition

FLOWS = "FLOWS"  # gsi1: flows by name
LIMITS = "LIMITS"  # base table: one item per concurrency limit, sorted by tag
API_KEYS = "APIKEYS"  # gsi1: API keys, oldest first

# Write sharding. Every partition key a flow run writes into a time-ordered index (all runs, runs
# of a flow, by state, by tag, by deployment, due runs, run counters) carries a shard number taken
# from the run id, so no single key takes every run's writes (one partition serves at most
# 1,000 WCU/s); readers query the shards in parallel and merge by sort key (`_merge`).
# `<PREFIX>.<nn>` never equals a key of the unsharded layout (`<PREFIX>#...` or `<PREFIX>`), which
# readers still query during a migration (LEGACY_* below; see README "Key layout versions").
SHARDS = 16
STATS_SHARDS = 32  # run counters take ~2x the writes of an index key: more shards (tiny reads)
LEGACY_ALL_RUNS = "RUNS"  # the unsharded layout's gsi1 key of every flow run
LEGACY_DUE = "DUE"  # the unsharded layout's due-run partition


def shard(run_id: uuid.UUID | str, shards: int = SHARDS) -> int:
    """The write shard of a run: from the id's random low bits (UUID 4 and 7 alike)."""
    value = run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    return value.int % shards


def _sharded(prefix: str, n: int, rest: str = "") -> str:
    return f"{prefix}.{n:02d}{rest}"


def all_runs(n: int) -> str:
    """gsi1: every flow run of shard `n`, by creation."""
    return _sharded("RUNS", n)


def due(n: int) -> str:
    """Base table: the SCHEDULED flow runs of shard `n`, by expected start."""
    return _sharded("DUE", n)


def ts(value: dt.datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts lexicographically in time order (as SQLite's)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> dt.datetime:
    """The time `ts` wrote."""
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


_seq_lock = threading.Lock()
_last_seq = 0


def seq() -> str:
    """A strictly increasing, wall-clock-like number (zero-padded): keeps write order among
    items with equal timestamps (task runs, logs)."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns())
        return f"{_last_seq:020d}"


def run_sort(created: dt.datetime, run_id: uuid.UUID | str) -> str:
    """The sort key every flow-run listing shares (gsi1/2/3 and the facet items)."""
    return f"{ts(created)}#{run_id}"


def flow_run(run_id: uuid.UUID | str) -> str:
    return f"FLOWRUN#{run_id}"


def task_run(run_id: uuid.UUID | str) -> str:
    return f"TASKRUN#{run_id}"


def run_pk(kind: str, run_id: uuid.UUID | str) -> str:
    return flow_run(run_id) if kind == "flow_run" else task_run(run_id)


def history_sk(version: int) -> str:
    """History items sort in insertion order: by the run version their transition wrote."""
    return f"{STATE_PREFIX}{version:010d}"


def flow(name: str) -> str:
    return f"FLOW#{name}"


def flow_runs_of(flow_name: str, n: int | None = None) -> str:
    """gsi2: the runs of a flow in shard `n` (None: the unsharded layout's key)."""
    return f"FLOWRUNS#{flow_name}" if n is None else _sharded("FLOWRUNS", n, f"#{flow_name}")


def state_runs(state_type: str, n: int | None = None) -> str:
    """gsi3: the runs in a state type, in shard `n` (None: the unsharded layout's key)."""
    return f"STATE#{state_type}" if n is None else _sharded("STATE", n, f"#{state_type}")


def task_runs_of(flow_run_id: uuid.UUID | str) -> str:
    """gsi1: the task runs of a flow run created before TASK_LAYOUT (their items carry it)."""
    return f"TASKRUNS#{flow_run_id}"


def tag_facet(tag: str, n: int | None = None) -> str:
    return f"RUNTAG#{tag}" if n is None else _sharded("RUNTAG", n, f"#{tag}")


def deployment_facet(name: str, n: int | None = None) -> str:
    return f"RUNDEPLOYMENT#{name}" if n is None else _sharded("RUNDEPLOYMENT", n, f"#{name}")


def idempotency(key: str) -> str:
    return f"IDEMPOTENCY#{key}"


def task_identity(flow_run_id: uuid.UUID, task_key: str, dynamic_key: str) -> str:
    """A task run's identity item before TASK_LAYOUT (a partition of its own)."""
    # JSON keeps the three parts unambiguous whatever characters they contain.
    return "TASKKEY#" + json.dumps([str(flow_run_id), task_key, dynamic_key], separators=(",", ":"))


def task_identity_sk(task_key: str, dynamic_key: str) -> str:
    """A task run's identity item in its flow run's partition (`flow_run(id)`): unique, and listed."""
    return TASK_PREFIX + json.dumps([task_key, dynamic_key], separators=(",", ":"))


def task_order(created: dt.datetime, run_id: uuid.UUID | str) -> str:
    """What task runs of a flow run sort by: creation time, then write order in this process."""
    return f"{ts(created)}#{seq()}#{run_id}"


def due_sk(expected_start: dt.datetime, run_id: uuid.UUID | str) -> str:
    return f"{ts(expected_start)}#{run_id}"


def suspended(n: int) -> str:
    """Base table: the suspended flow runs (PAUSED, rescheduled) of shard `n`, by pause timeout
    (sort key `due_sk(timeout, id)`): the tick reads only those whose timeout has passed."""
    return _sharded("SUSPENDED", n)


def limit(tag: str) -> str:
    return f"LIMIT#{tag}"


def holder(run_id: uuid.UUID | str) -> str:
    """Sort key of the item saying `run_id` holds a slot (under the limit's partition)."""
    return f"{HOLDER_PREFIX}{run_id}"


def lease(run_id: uuid.UUID | str) -> str:
    return f"LEASE#{run_id}"


def cache(key: str) -> str:
    # A partition key holds at most 2048 bytes; users' cache-key functions may return more.
    if len(key.encode()) > 1024:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return f"CACHE#{key}"


def log_sort(timestamp: dt.datetime, log_id: uuid.UUID | None) -> str:
    """A log line's sort key: in time order; a client-made id makes it the line's own (a
    retried batch puts the same items again), else a write-order number keeps it unique."""
    if log_id is not None:
        return f"{ts(timestamp)}#{log_id.hex}"
    return f"{ts(timestamp)}#{seq()}#{uuid.uuid4().hex[:8]}"


def logs_of(flow_run_id: uuid.UUID | None, task_run_id: uuid.UUID | None) -> str:
    if flow_run_id is not None:
        return f"LOGS#{flow_run_id}"
    return f"LOGS#TASKRUN#{task_run_id}" if task_run_id is not None else "LOGS#NONE"


def api_key(key_id: str) -> str:
    return f"APIKEY#{key_id}"


def setting(name: str) -> str:
    return f"SETTING#{name}"


def documents_of(kind: str) -> str:
    return f"DOC#{kind}"


def document_sk(key: str) -> str:
    return f"DOC#{key}"


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort_key]).encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        (sort_key,) = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(sort_key, str):
            raise TypeError(sort_key)
        sort_key.encode()  # a forged cursor may decode to text botocore cannot send
        return sort_key
    except Exception as exc:
        raise InvalidRequest("cursor: not a cursor this API returned") from exc
