"""DynamoDB partition load: the write and read rate every partition key takes at N flow runs/s.

    python benchmarks/partition_load.py [--flow-runs-per-second 1000] [--tasks 10] [--sample 8]

Nothing here is a hand-written model of the store. `--sample` flow runs of `--tasks` task runs
each run against `OrchestrationService(DynamoDBStore)` on moto's server, started here (or
`--endpoint` / `AWS_ENDPOINT_URL`, moto only: the estimate reads moto's backend), in two shapes:

- ad hoc: a `@flow` called through the SDK (embedded transport on the service, as the API
  serves it; no deferred starts);
- deployed: created SCHEDULED by a deployment (with a tag), found by the due-run query, set
  PENDING and RUNNING by the worker, one heartbeat, its task runs, COMPLETED.

botocore event hooks on the store's client see every request the store sends. For each item
written, the capacity it costs (1 WCU per KB, x2 in a transaction, a condition check billed as a
write of the checked item) lands on its base-table partition key, and each GSI whose copy changes
takes a standard write on the GSI key of the copy (two when the key moves: a delete from the old
partition, a put into the new one). Reads land on the partition they query (1 RCU per 4 KB,
half when eventually consistent).

Keys are then scaled two ways. A key shared by runs (no run id in it) takes N x (its units per
sampled flow run); a write-sharded key (`<PREFIX>.<nn>...`) spreads that over its shards, whose
run-id hash is uniform. A key of one run (`FLOWRUN#<id>`, `TASKRUNS#<flow run id>`...) takes
only that run's writes whatever N is: its rate is its units per flow run spent within
`--flow-seconds` (1 s: ten task runs in a second is a fast flow). DynamoDB serves at most
1,000 WCU/s and 3,000 RCU/s per partition; the verdict asks for half of that.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import tempfile
import threading
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dynamodb_round_trips import deployed_flow_runs, item_size, metered_client, print_table, start_endpoint

WCU_LIMIT, RCU_LIMIT = 1000.0, 3000.0  # per partition, per second (DynamoDB's documented maximum)
GSIS = ("gsi1", "gsi2", "gsi3")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
SHARD = re.compile(r"^([A-Z]+)\.(\d\d)(?=#|$)")
DYNAMIC_KEY = re.compile(r',"[^"]*"\]$')  # a task identity's dynamic key: one class for all


def _units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


class PartitionMeter:
    """Capacity units per partition key (`<table or GSI> <key>`), from the requests sent."""

    def __init__(self, store, table: str):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self.table = table
        self.backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][store.client.meta.region_name]
        self.wcu: defaultdict[str, float] = defaultdict(float)
        self.rcu: defaultdict[str, float] = defaultdict(float)
        self.lock = threading.Lock()
        events = store.client.meta.events
        events.register("provide-client-params.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.wcu.clear()
        self.rcu.clear()

    def _stored(self, key: tuple[str, str]) -> dict | None:
        item = self.backend.get_item(self.table, {"pk": {"S": key[0]}, "sk": {"S": key[1]}})
        return item.to_json()["Attributes"] if item else None

    def _before(self, params, context, model, **_):
        context["partition_params"] = params
        writes = _written(model.name, params)
        if writes is not None:
            context["partition_before"] = [(key, check, self._stored(key)) for key, check in writes]

    def _after(self, parsed, context, model, **_):
        if parsed.get("ResponseMetadata", {}).get("HTTPStatusCode") != 200:
            return
        with self.lock:
            if "partition_before" in context:
                factor = 2 if model.name == "TransactWriteItems" else 1
                for key, check, old in context["partition_before"]:
                    self._write(key, old, None if check else self._stored(key), factor, check)
            else:
                self._read(model.name, context.get("partition_params", {}), parsed)

    def _write(self, key, old: dict | None, new: dict | None, factor: int, check: bool) -> None:
        if check:  # a ConditionCheck: billed as a transactional write of the item, nothing copied
            self.wcu[f"table {key[0]}"] += factor * _units(item_size(old), 1024)
            return
        if old == new:
            return
        self.wcu[f"table {key[0]}"] += factor * _units(max(item_size(old), item_size(new)), 1024)
        for gsi in GSIS:
            old_key = (old or {}).get(f"{gsi}pk", {}).get("S"), (old or {}).get(f"{gsi}sk", {}).get("S")
            new_key = (new or {}).get(f"{gsi}pk", {}).get("S"), (new or {}).get(f"{gsi}sk", {}).get("S")
            if all(old_key) and old_key != new_key:
                self.wcu[f"{gsi} {old_key[0]}"] += _units(item_size(old), 1024)
            if all(new_key):
                self.wcu[f"{gsi} {new_key[0]}"] += _units(item_size(new), 1024)

    def _read(self, api: str, params: dict, parsed: dict) -> None:
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if api == "GetItem":
            self.rcu[f"table {params['Key']['pk']['S']}"] += factor * _units(item_size(parsed.get("Item")), 4096)
        elif api == "Query":
            where = params.get("IndexName", "table")
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.rcu[f"{where} {_query_partition(params)}"] += factor * _units(size, 4096)
        elif api == "BatchGetItem":
            for table in params["RequestItems"].values():
                for key in table["Keys"]:
                    self.rcu[f"table {key['pk']['S']}"] += (1.0 if table.get("ConsistentRead") else 0.5) * _units(
                        item_size(self._stored((key["pk"]["S"], key["sk"]["S"]))), 4096
                    )


def _written(api: str, params: dict) -> list[tuple[tuple[str, str], bool]] | None:
    """(key, is a condition check) of each item a write request names; None for a read."""

    def key(attrs: dict) -> tuple[str, str]:
        return attrs["pk"]["S"], attrs["sk"]["S"]

    if api == "PutItem":
        return [(key(params["Item"]), False)]
    if api in ("UpdateItem", "DeleteItem"):
        return [(key(params["Key"]), False)]
    if api == "BatchWriteItem":
        return [
            (key(r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"]), False)
            for requests in params["RequestItems"].values()
            for r in requests
        ]
    if api == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            ((kind, op),) = entry.items()
            found.append((key(op.get("Item") or op["Key"]), kind == "ConditionCheck"))
        return found
    return None


def _query_partition(params: dict) -> str:
    names, values = params.get("ExpressionAttributeNames", {}), params.get("ExpressionAttributeValues", {})
    for name, value in re.findall(r"(#\w+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(name, "").endswith("pk"):
            return values[value]["S"]
    return "?"


# -- the two shapes of flow run


def ad_hoc(sample: int, tasks: int) -> None:
    from mintaka import flow, task

    @task
    def step(x: int) -> int:
        return x + 1

    @flow(name="bench-ad-hoc")
    def chain(n: int) -> int:
        x = 0
        for _ in range(n):
            x = step(x)
        return x

    for _ in range(sample):
        assert chain(tasks) == tasks


# -- scaling and the verdict


def shard_count(name: str) -> int:
    from mintaka_server.storage.dynamodb import _keys

    return _keys.STATS_SHARDS if name.startswith("RUNSTATS.") else _keys.SHARDS


def scaled(meter: PartitionMeter, sample: int, rate: float, flow_seconds: float) -> list[tuple]:
    """(key class, how it scales, keys, WCU/s per key, RCU/s per key, % of the partition limit)."""
    classes: dict[tuple[str, str], dict] = {}
    for units, column in ((meter.wcu, 0), (meter.rcu, 1)):
        for full, value in units.items():
            where, key = full.split(" ", 1)
            if UUID.search(key):  # one run's key: the busiest instance, within one flow's time
                name, scale = where + " " + DYNAMIC_KEY.sub(',"<n>"]', UUID.sub("<id>", key)), "one run's"
                entry = classes.setdefault((name, scale), {"keys": 1, "per": [defaultdict(float), defaultdict(float)]})
                entry["per"][column][key] += value
                continue
            shards = SHARD.match(key)
            name = f"{where} {SHARD.sub(lambda m: m.group(1) + '.<n>', key)}" if shards else full
            scale = f"shared, {shard_count(key)} shards" if shards else "shared"
            entry = classes.setdefault((name, scale), {"keys": 1, "per": [defaultdict(float), defaultdict(float)]})
            entry["keys"] = shard_count(key) if shards else 1
            entry["per"][column]["all"] += value
    rows = []
    for (name, scale), entry in classes.items():
        wcu_map, rcu_map = entry["per"]
        if scale == "one run's":
            wcu, rcu = max(wcu_map.values(), default=0) / flow_seconds, max(rcu_map.values(), default=0) / flow_seconds
        else:
            per_run = 1 / sample * rate / entry["keys"]
            wcu, rcu = wcu_map["all"] * per_run, rcu_map["all"] * per_run
        share = max(wcu / WCU_LIMIT, rcu / RCU_LIMIT) * 100
        rows.append((name, scale, entry["keys"], wcu, rcu, share))
    return sorted(rows, key=lambda row: -row[5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow-runs-per-second", type=float, default=1000)
    parser.add_argument("--tasks", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--sample", type=int, default=8, help="flow runs measured per shape")
    parser.add_argument("--flow-seconds", type=float, default=1.0, help="time one flow run's own keys spread over")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    args = parser.parse_args()

    os.environ["MINTAKA_HOME"] = tempfile.mkdtemp(prefix="mintaka-bench-")
    os.environ.pop("MINTAKA_API_URL", None)
    os.environ["MINTAKA_LOGGING_LEVEL"] = "WARNING"
    endpoint, server = start_endpoint(args.endpoint)

    from mintaka.client import set_client
    from mintaka.logging import flush_logs
    from mintaka_server.storage.dynamodb import DynamoDBStore

    table = f"mintaka-load-{uuid.uuid4().hex[:8]}"
    store = DynamoDBStore(table, endpoint_url=endpoint)
    store.create_table()
    meter = PartitionMeter(store, table)
    transport = metered_client(store, type("NoMeter", (), {"under": lambda self, name: contextlib.nullcontext()})())
    previous = set_client(transport)
    results = {}
    try:
        # Warm up: each flow created (once per flow, not per run), settings read.
        ad_hoc(1, 1)
        deployed_flow_runs(transport.service, 1, 1)
        flush_logs()
        for label, run in (
            ("ad hoc (SDK through the API's service)", lambda: ad_hoc(args.sample, args.tasks)),
            ("deployed (scheduled, worker)", lambda: deployed_flow_runs(transport.service, args.sample, args.tasks)),
        ):
            meter.reset()
            run()
            flush_logs()
            results[label] = scaled(meter, args.sample, args.flow_runs_per_second, args.flow_seconds)
    finally:
        set_client(previous)
        store.delete_table()
        store.close()
        if server is not None:
            server.stop()

    n, m = args.flow_runs_per_second, args.tasks
    hottest = None
    for label, rows in results.items():
        print(f"\n{label}: {n:g} flow runs/s x {m} task runs, partition keys by load\n")
        table_rows = [
            (name, scale, str(keys), f"{wcu:,.1f}", f"{rcu:,.1f}", f"{share:.1f}%")
            for name, scale, keys, wcu, rcu, share in rows
        ]
        print_table(("partition key", "scales as", "keys", "WCU/s per key", "RCU/s per key", "of limit"), table_rows)
        if hottest is None or rows[0][5] > hottest[5]:
            hottest = rows[0]
    print(
        f"\nLimits per partition: {WCU_LIMIT:,.0f} WCU/s, {RCU_LIMIT:,.0f} RCU/s. A run's own keys: "
        f"its units within {args.flow_seconds:g} s. Verdict: every key under half of its limit: "
        f"{'yes' if hottest[5] < 50 else 'NO'}."
    )
    print(f"at {n:g} flow runs/s x {m} task runs: hottest key {hottest[0]} at {hottest[5]:.1f}% of its partition limit")


if __name__ == "__main__":
    main()
