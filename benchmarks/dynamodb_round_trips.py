"""DynamoDB round trips and capacity units per task run and per flow run, and what they cost.

    python benchmarks/dynamodb_round_trips.py [--tasks 50] [--flows 5] [--endpoint URL]

Runs a flow of N sequential tasks through the SDK, in-process, against
`OrchestrationService(DynamoDBStore)` on moto's server (started here on a free loopback port) or
on `--endpoint` / `AWS_ENDPOINT_URL`. botocore event hooks on the store's client count every
DynamoDB request by the SDK call that caused it, ask for `ReturnConsumedCapacity=TOTAL`, and sum
what comes back. moto answers a flat 1.0 (or 0.5) per request whatever the items, so against
moto the benchmark also *estimates* capacity from the stored items' sizes with DynamoDB's billing
rules (writes: 1 WCU per KB, x2 in a transaction, plus one standard write per GSI whose copy
changes, two when its key changes; reads: 1 RCU per 4 KB, half when eventually consistent).
Against a real table the reported units are the truth and the estimate is left out.

A third scenario is a deployed run as the cloud path makes it: created SCHEDULED (the trigger),
found by the due-run query, set PENDING and RUNNING by the Lambda worker, one heartbeat,
COMPLETED; its task runs are the plain ones above. A fourth reports plain task runs in batches
of 10 (each run's start and end), applied as `POST /api/task_runs/batch` applies them
(`TaskRunReporting`), and measures their requests and units. The last table prices a million task runs and
a million flow runs from the measured units and on-demand prices (PRICES, dated), through the
API (API Gateway HTTP API + one API Lambda invocation per call) and inside the Lambda worker (no
API: the worker's process calls the service), next to Step Functions.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager

# On-demand prices, us-east-1, as published on 2026-12-02 (USD).
PRICES_DATE = "2026-12-02"
WRU = 0.625e-6  # DynamoDB write request unit (was 1.25e-6 before 2024-11-01)
RRU = 0.125e-6  # DynamoDB read request unit (was 0.25e-6 before 2024-11-01)
WRU_BEFORE_2024_11, RRU_BEFORE_2024_11 = 1.25e-6, 0.25e-6
LAMBDA_REQUEST = 0.20e-6
LAMBDA_GB_SECOND = 0.0000133334  # arm64, as template.yaml deploys (x86: 0.0000166667)
API_GATEWAY_HTTP_REQUEST = 1.00e-6  # HTTP API, first 300 M a month
SQS_REQUEST = 0.40e-6  # standard queue; a worker's message is sent, received and deleted
STEP_FUNCTIONS_STANDARD_TRANSITION = 25e-6
STEP_FUNCTIONS_EXPRESS_REQUEST = 1.00e-6
STEP_FUNCTIONS_EXPRESS_GB_SECOND = 0.00001667  # billed per 100 ms, 64 MB at least
API_MEMORY_GB, WORKER_MEMORY_GB = 0.5, 1.0  # template.yaml's FunctionMemorySize / WorkerMemorySize
# A DynamoDB request inside AWS's region answers in single-digit milliseconds; a Lambda waits that
# long per round trip (moto on this machine takes ~30 ms, which says nothing about AWS).
DYNAMODB_MS_IN_REGION = 8.0

GSIS = ("gsi1", "gsi2", "gsi3")
WRITE_APIS = {"PutItem", "UpdateItem", "DeleteItem"}
DATA_APIS = WRITE_APIS | {"GetItem", "Query", "BatchGetItem", "BatchWriteItem", "TransactWriteItems"}
TASK_OPS = {"create_task_run", "set_task_run_state", "read_task_run"}
DEPLOYED_OPS = ("create_flow_run", "list_due_flow_runs", "set_flow_run_state", "heartbeat")


def item_size(attrs: dict | None) -> int:
    """DynamoDB's item size: attribute names plus values (numbers ~ digits/2 + 1)."""

    def value_size(value: dict) -> int:
        (kind, raw), *_ = value.items()
        if kind == "S":
            return len(raw.encode())
        if kind == "N":
            return len(raw.lstrip("-").replace(".", "")) // 2 + 1
        if kind in ("SS", "NS", "BS"):
            return sum(value_size({kind[0]: v}) for v in raw)
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in raw)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
        return 1

    return sum(len(name.encode()) + value_size(value) for name, value in (attrs or {}).items())


class Meter:
    """Counts requests per (SDK operation, DynamoDB API) and sums capacity units."""

    def __init__(self, store, table: str, estimate: bool):
        self.table, self.estimate = table, estimate
        self.local = threading.local()
        self.calls: Counter = Counter()  # SDK operation -> calls
        self.requests: Counter = Counter()  # (operation, api) -> requests
        self.reported: Counter = Counter()  # operation -> capacity units DynamoDB reported
        self.wcu: Counter = Counter()  # operation -> estimated write units
        self.rcu: Counter = Counter()  # operation -> estimated read units
        self.seconds: Counter = Counter()  # api -> time spent waiting for DynamoDB
        self.by_api: Counter = Counter()  # api -> requests
        events = store.client.meta.events
        events.register("provide-client-params.dynamodb.*", self._before)
        events.register("before-call.dynamodb.*", self._count)
        events.register("after-call.dynamodb.*", self._after)
        if estimate:
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.dynamodb.models import dynamodb_backends

            self.backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][store.client.meta.region_name]

    def reset(self) -> None:
        for counter in (self.calls, self.requests, self.reported, self.wcu, self.rcu, self.seconds, self.by_api):
            counter.clear()

    @property
    def operation(self) -> str:
        # The store's pool threads (sharded reads) have no label of their own: they work for the
        # call under way (calls are made one at a time here).
        return getattr(self.local, "operation", None) or getattr(self, "current", None) or "other"

    @contextmanager
    def under(self, operation: str):
        outer = getattr(self.local, "operation", None)
        if outer is None:
            self.local.operation = self.current = operation
            self.calls[operation] += 1
        try:
            yield
        finally:
            if outer is None:
                del self.local.operation
                self.current = None

    # -- botocore hooks
    def _before(self, params, context, model, **_):
        if model.name not in DATA_APIS:
            return
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if self.estimate and model.name in WRITE_APIS | {"TransactWriteItems", "BatchWriteItem"}:
            context["bench_before"] = {key: self._stored(key) for key in self._written_keys(model.name, params)}
        context["bench_params"] = params

    def _count(self, model, context, **_):
        self.requests[(self.operation, model.name)] += 1
        self.by_api[model.name] += 1
        context["bench_started"] = time.perf_counter()

    def _after(self, parsed, context, model, **_):
        self.seconds[model.name] += time.perf_counter() - context.get("bench_started", time.perf_counter())
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.reported[self.operation] += entry.get("CapacityUnits", 0)
        if self.estimate and parsed.get("ResponseMetadata", {}).get("HTTPStatusCode") == 200:
            params = context.get("bench_params", {})
            if "bench_before" in context:
                self.wcu[self.operation] += self._write_units(model.name, context["bench_before"])
            else:
                self.rcu[self.operation] += self._read_units(model.name, params, parsed)

    # -- estimates
    @staticmethod
    def _written_keys(api: str, params: dict) -> list[tuple[str, str]]:
        def key(attrs: dict) -> tuple[str, str]:
            return attrs["pk"]["S"], attrs["sk"]["S"]

        if api == "PutItem":
            return [key(params["Item"])]
        if api in ("UpdateItem", "DeleteItem"):
            return [key(params["Key"])]
        if api == "BatchWriteItem":
            return [
                key(r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"])
                for requests in params["RequestItems"].values()
                for r in requests
            ]
        keys = []
        for entry in params["TransactItems"]:
            ((_, op),) = entry.items()
            keys.append(key(op.get("Item") or op["Key"]))
        return keys

    def _stored(self, key: tuple[str, str]) -> dict | None:
        item = self.backend.get_item(self.table, {"pk": {"S": key[0]}, "sk": {"S": key[1]}})
        return item.to_json()["Attributes"] if item else None

    def _write_units(self, api: str, before: dict) -> float:
        factor = 2 if api == "TransactWriteItems" else 1
        units = 0.0
        for key, old in before.items():
            new = self._stored(key)
            if old == new:  # a condition check: nothing written (billed as a write of the item)
                units += factor * max(1, math.ceil(item_size(old) / 1024))
                continue
            units += factor * max(1, math.ceil(max(item_size(old), item_size(new)) / 1024))
            for gsi in GSIS:
                old_key = (old or {}).get(f"{gsi}pk"), (old or {}).get(f"{gsi}sk")
                new_key = (new or {}).get(f"{gsi}pk"), (new or {}).get(f"{gsi}sk")
                in_old, in_new = all(old_key), all(new_key)
                if in_old and in_new and old_key != new_key:
                    units += max(1, math.ceil(item_size(old) / 1024)) + max(1, math.ceil(item_size(new) / 1024))
                elif in_old or in_new:
                    units += max(1, math.ceil(item_size(new if in_new else old) / 1024))
        return units

    @staticmethod
    def _read_units(api: str, params: dict, parsed: dict) -> float:
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if api == "GetItem":
            return factor * max(1, math.ceil(item_size(parsed.get("Item")) / 4096))
        if api == "Query":
            sizes = [item_size(i) for i in parsed.get("Items", [])]
            scanned, returned = parsed.get("ScannedCount", len(sizes)), max(1, len(sizes))
            read = sum(sizes) * scanned / returned if sizes else 1024 * scanned
            return factor * max(1, math.ceil(read / 4096))
        if api == "BatchGetItem":
            wanted = sum(len(t["Keys"]) for t in params["RequestItems"].values())
            found = [i for items in parsed.get("Responses", {}).values() for i in items]
            per_item = [max(1, math.ceil(item_size(i) / 4096)) for i in found]
            factors = {t.get("ConsistentRead") for t in params["RequestItems"].values()}
            factor = 1.0 if factors == {True} else 0.5
            return factor * (sum(per_item) + (wanted - len(found)))
        return 0.0


def metered_client(store, meter: Meter):
    """The SDK's embedded transport on `OrchestrationService(store)`, each call labelled."""
    from mintaka.client import MintakaClient
    from mintaka.client.embedded import EmbeddedTransport
    from mintaka_server.services import OrchestrationService

    class MeteredTransport(EmbeddedTransport):
        def __init__(self) -> None:
            self.database = None
            self.service = OrchestrationService(store)
            try:
                from mintaka_server.services.deployments import DeploymentService

                self.deployments = DeploymentService(self.service)
            except ImportError:
                pass

        def close(self) -> None:
            store.close()

    def labelled(name: str):
        inner = getattr(EmbeddedTransport, name)

        def method(self, *args, **kwargs):
            with meter.under(name):
                return inner(self, *args, **kwargs)

        method.__name__ = name
        return method

    names = set(MintakaClient.__abstractmethods__) | {
        n for n in vars(EmbeddedTransport) if not n.startswith("_") and callable(getattr(EmbeddedTransport, n))
    }
    for name in names - {"close"}:
        setattr(MeteredTransport, name, labelled(name))
    return MeteredTransport()


def deployed_flow_runs(service, count: int, tasks: int = 0, meter: Meter | None = None) -> None:
    """`count` deployed runs as the cloud path makes them (trigger, due query, worker), each
    with `tasks` plain task runs; each step labelled on `meter` (if any) by what it is."""
    import datetime as dt

    from mintaka.schemas import FlowRunCreate, SetStateRequest, TaskRunCreate
    from mintaka.states import State, StateType, utcnow

    def step(label: str):
        return meter.under(label) if meter is not None else contextlib.nullcontext()

    now = utcnow()
    for _ in range(count):
        with step("create_flow_run"):
            service.create_flow_run(
                FlowRunCreate(
                    flow_name="bench-deployed",
                    deployment_name="bench-deployed/prod",
                    work_queue_name="default",
                    tags=["nightly"],
                    state=State(type=StateType.SCHEDULED, state_details={"scheduled_time": now}),
                )
            )
    with step("list_due_flow_runs"):
        due = service.store.list_due_flow_runs(now + dt.timedelta(seconds=1), "default", limit=count)
    for run in due:
        with step("set_flow_run_state"):
            service.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.PENDING)))
        with step("set_flow_run_state"):
            running = State(type=StateType.RUNNING)
            service.set_flow_run_state(run.id, SetStateRequest(state=running, heartbeat_interval=30))
        with step("heartbeat"):
            service.store.renew_leases([run.id], utcnow() + dt.timedelta(seconds=90))
        for i in range(tasks):
            with step("create_task_run"):
                created = service.create_task_run(
                    TaskRunCreate(
                        flow_run_id=run.id, task_key="step", dynamic_key=str(i), state=State(type=StateType.RUNNING)
                    )
                )
            with step("set_task_run_state"):
                service.set_task_run_state(created.id, SetStateRequest(state=State(type=StateType.COMPLETED)))
        with step("set_flow_run_state"):
            service.set_flow_run_state(run.id, SetStateRequest(state=State(type=StateType.COMPLETED)))


def measure_deployed(endpoint: str, estimate: bool, count: int) -> dict:
    """Per deployed flow run (no task runs): requests, units, and the calls a worker makes."""
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.dynamodb import DynamoDBStore

    table = f"mintaka-bench-{uuid.uuid4().hex[:8]}"
    store = DynamoDBStore(table, endpoint_url=endpoint)
    store.create_table()
    meter = Meter(store, table, estimate=estimate)
    service = OrchestrationService(store)
    deployed_flow_runs(service, 1)  # warm up: the flow created once
    meter.reset()
    started = time.perf_counter()
    deployed_flow_runs(service, count, meter=meter)
    elapsed = time.perf_counter() - started
    store.delete_table()
    store.close()
    polls = sum(c for (op, _), c in meter.requests.items() if op == "list_due_flow_runs")
    return {
        # One due-run query per poll finds every due run (up to its limit): not a per-run cost.
        "round trips": (sum(meter.requests.values()) - polls) / count,
        "poll requests": polls,
        "WCU": sum(meter.wcu.values()) / count,
        "RCU": sum(meter.rcu.values()) / count,
        "calls": {op: meter.calls[op] / count for op in DEPLOYED_OPS},
        "by op": {op: sum(c for (o, _), c in meter.requests.items() if o == op) / count for op in DEPLOYED_OPS},
        "apis": {
            op: ", ".join(f"{api} {c / count:g}" for (o, api), c in sorted(meter.requests.items()) if o == op)
            for op in DEPLOYED_OPS
        },
        "op WCU": {op: meter.wcu[op] / count for op in DEPLOYED_OPS},
        "cpu ms": (elapsed - sum(meter.seconds.values())) / count * 1000,
    }


BATCH = 10  # task runs per `POST /api/task_runs/batch` (issue 12 item 3's bound: <= 0.1 calls per task run)


def measure_batched(endpoint: str, estimate: bool, n: int, batch: int = BATCH) -> dict:
    """Per task run reported write-behind: `n` plain task runs of one RUNNING flow run, each
    batch holding `batch` runs' start and end, applied as `POST /api/task_runs/batch` applies it
    (`TaskRunReporting`, same rules and writes). The batch's own reads of its flow run count."""
    from mintaka.batch_schemas import TaskRunReports, TaskRunStarted, TaskRunStateReported
    from mintaka.schemas import FlowRunCreate, TaskRunCreate
    from mintaka.states import State, StateType, utcnow
    from mintaka_server.services import OrchestrationService
    from mintaka_server.services.batch_reports import TaskRunReporting
    from mintaka_server.storage.dynamodb import DynamoDBStore

    table = f"mintaka-bench-{uuid.uuid4().hex[:8]}"
    store = DynamoDBStore(table, endpoint_url=endpoint)
    store.create_table()
    meter = Meter(store, table, estimate=estimate)
    service = OrchestrationService(store)
    flow_run = service.create_flow_run(FlowRunCreate(flow_name="bench-batched", state=State(type=StateType.RUNNING)))
    reporting = TaskRunReporting(service)

    def reports(first: int) -> TaskRunReports:
        started, ended = [], []
        for i in range(first, first + batch):
            run_id = uuid.uuid4()
            body = TaskRunCreate(
                id=run_id, flow_run_id=flow_run.id, task_key="inc", dynamic_key=str(i), state=State(type="RUNNING")
            )
            done = State(type=StateType.COMPLETED, timestamp=utcnow(), state_details={"idempotency_key": str(i)})
            started.append(TaskRunStarted(task_run=body))
            ended.append(TaskRunStateReported(task_run_id=run_id, state=done))
        return TaskRunReports(flow_run_id=flow_run.id, reports=[*started, *ended])

    reporting.apply(reports(0))  # warm up
    meter.reset()
    batches = [reports(first) for first in range(batch, batch + n, batch)]
    cpu_started = time.thread_time()
    with meter.under("report_task_runs"):
        for body in batches:
            answers = reporting.apply(body).answers
            assert all(answer.status.value == "ACCEPT" for answer in answers), answers
    cpu = time.thread_time() - cpu_started
    count = len(batches) * batch
    figures = {
        "runs": count,
        "batch": batch,
        "round trips": sum(meter.requests.values()) / count,
        "apis": ", ".join(f"{api} {c / count:g}" for (_, api), c in sorted(meter.requests.items())),
        "WCU": sum(meter.wcu.values()) / count,
        "RCU": sum(meter.rcu.values()) / count,
        "cpu ms": cpu / count * 1000,
    }
    store.delete_table()
    store.close()
    return figures


def start_endpoint(endpoint: str | None) -> tuple[str, object | None]:
    if endpoint:
        return endpoint, None
    import logging

    from moto.server import ThreadedMotoServer

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--flows", type=int, default=5, help="deployed flow runs measured")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    args = parser.parse_args()
    n = args.tasks

    os.environ["MINTAKA_HOME"] = tempfile.mkdtemp(prefix="mintaka-bench-")
    os.environ.pop("MINTAKA_API_URL", None)
    os.environ["MINTAKA_LOGGING_LEVEL"] = "WARNING"
    endpoint, server = start_endpoint(args.endpoint)

    from mintaka import flow, task
    from mintaka.client import set_client
    from mintaka.logging import flush_logs
    from mintaka_server.storage.dynamodb import DynamoDBStore

    @task
    def inc(x: int) -> int:
        return x + 1

    limited = inc.with_options(tags=["db"])

    @flow
    def chain(n: int, tagged: bool = False) -> int:
        x = 0
        for _ in range(n):
            x = (limited if tagged else inc)(x)
        return x

    rows, latency, cpu_seconds = [], [], {}
    for label, tagged in (("plain task", False), ("task with a concurrency tag", True)):
        # A fresh table each: moto's TransactWriteItems copies the whole table, so its latency
        # grows with the table; on DynamoDB it does not.
        table = f"mintaka-bench-{uuid.uuid4().hex[:8]}"
        store = DynamoDBStore(table, endpoint_url=endpoint)
        store.create_table()
        meter = Meter(store, table, estimate=server is not None)
        previous = set_client(metered_client(store, meter))
        store.upsert_concurrency_limit("db", 10)
        chain(2, tagged)  # warm up: flow created, result storage read, connections open
        flush_logs()
        meter.reset()
        started, cpu_started = time.perf_counter(), time.thread_time()
        assert chain(n, tagged) == n
        elapsed = time.perf_counter() - started
        cpu_seconds[label] = time.thread_time() - cpu_started  # this thread only: not moto's
        flush_logs()
        counters = (meter.reported, meter.wcu, meter.rcu)
        rows.append((label, elapsed, dict(meter.calls), Counter(meter.requests), *map(Counter, counters)))
        latency.append((label, Counter(meter.by_api), Counter(meter.seconds)))
        if not tagged:
            reads = measure_reads(meter, n)
        set_client(previous)
        store.delete_table()
        store.close()
    deployed = measure_deployed(endpoint, server is not None, args.flows)
    batched = measure_batched(endpoint, server is not None, n)
    if server is not None:
        server.stop()
    report(n, rows, latency, estimate=server is not None)
    print("\nDeployed flow run (trigger creates it SCHEDULED, worker: PENDING, RUNNING, heartbeat, COMPLETED)\n")
    dep_rows = [
        (
            op,
            f"{deployed['calls'][op]:g}",
            f"{deployed['by op'][op]:.2f}",
            deployed["apis"][op],
            f"{deployed['op WCU'][op]:.1f}",
        )
        for op in DEPLOYED_OPS
    ]
    dep_rows.append(
        ("per flow run", "", f"{deployed['round trips']:.2f}", f"{deployed['RCU']:.1f} RCU", f"{deployed['WCU']:.1f}")
    )
    print_table(("step", "calls/run", "requests/run", "by API", "WCU/run"), dep_rows)
    print(
        f"(the due-run query is one poll for all {args.flows} runs: {deployed['poll requests']} Queries, one per "
        "shard and the unsharded layout's key, sent at once; not counted per run)"
    )
    if server is not None:
        print(
            f"\nTask runs reported in batches of {batched['batch']} (start + end each, POST /api/task_runs/batch): "
            f"per task run {batched['round trips']:.2f} requests ({batched['apis']}), {batched['WCU']:.1f} WCU, "
            f"{batched['RCU']:.2f} RCU, over {batched['runs']} task runs"
        )
        print_costs(n, rows, cpu_seconds[rows[0][0]], deployed, batched)
    print("\nTime per request, as seen by the client\n")
    table = [
        (label, api, str(count), f"{seconds[api] / count * 1000:.2f}")
        for label, count_by_api, seconds in latency
        for api, count in sorted(count_by_api.items())
    ]
    print_table(("scenario", "API", "requests", "ms/request"), table)
    print(f"\nReads of the finished run ({n} task runs, {READ_LOG_LINES} log lines): DynamoDB requests per call\n")
    print_table(("service call (API route)", "requests", "by API"), reads)


READ_LOG_LINES = 200


def measure_reads(meter: Meter, n: int) -> list[tuple[str, str, str]]:
    """What reading the finished run costs, per service call (the API route it serves)."""
    from mintaka.client import get_client
    from mintaka.schemas import FlowRunFilter, LogCreate

    client = get_client()
    run = client.list_flow_runs(FlowRunFilter(limit=1)).items[0]
    client.create_logs(
        [LogCreate(flow_run_id=run.id, message=str(i), level=(i % 5 + 1) * 10) for i in range(READ_LOG_LINES)]
    )
    task_run = client.read_flow_run_detail(run.id).task_runs[-1]
    calls = [
        ("read_flow_run (GET /flow_runs/{id}/summary)", lambda: client.read_flow_run(run.id)),
        ("read_flow_run_detail (GET /flow_runs/{id})", lambda: client.read_flow_run_detail(run.id)),
        ("read_flow_run_states", lambda: client.read_flow_run_states(run.id)),
        ("read_task_run_states", lambda: client.read_task_run_states(task_run.id)),
        ("read_logs, the last 20 (--tail 20)", lambda: client.read_logs(run.id, limit=20, newest_first=True)),
        ("read_logs, ERROR and above (--level ERROR)", lambda: client.read_logs(run.id, min_level=40)),
    ]
    rows = []
    for label, call in calls:
        meter.reset()
        call()
        by_api = Counter(api for (_, api), count in meter.requests.items() for _ in range(count))
        rows.append((label, str(sum(by_api.values())), ", ".join(f"{a} {c}" for a, c in sorted(by_api.items()))))
    return rows


def report(n: int, rows: list, latency: list, estimate: bool) -> None:
    print(f"DynamoDB requests per SDK call (flow of {n} sequential tasks)\n")
    label, elapsed, calls, requests, reported, wcu, rcu = rows[0]
    by_op: dict[str, Counter] = defaultdict(Counter)
    for (op, api), count in requests.items():
        by_op[op][api] += count
    header = ("SDK call", "calls", "requests/call", "by API", "WCU/call", "RCU/call", "reported CU/call")
    table = []
    for op in sorted(by_op, key=lambda o: -sum(by_op[o].values())):
        k = calls.get(op, 1)
        apis = ", ".join(f"{api} {count / k:g}" for api, count in sorted(by_op[op].items()))
        table.append(
            (
                op,
                str(k),
                f"{sum(by_op[op].values()) / k:.2f}",
                apis,
                f"{wcu[op] / k:.1f}" if estimate else "-",
                f"{rcu[op] / k:.1f}" if estimate else "-",
                f"{reported[op] / k:.1f}",
            )
        )
    print_table(header, table)

    print("\nPer task run and per flow run\n")
    header = (
        "scenario",
        "unit",
        "round trips",
        "WCU (est.)",
        "RCU (est.)",
        "reported CU",
        "ms/task",
        "of which DynamoDB",
    )
    table = []
    for (label, elapsed, _, requests, reported, wcu, rcu), (_, _, seconds) in zip(rows, latency, strict=True):
        waiting = sum(seconds.values())
        for unit, ops, per in (
            ("task run", lambda op: op in TASK_OPS, n),
            ("flow run", lambda op: op not in TASK_OPS, 1),
        ):
            trips = sum(count for (op, _), count in requests.items() if ops(op)) / per
            table.append(
                (
                    label,
                    unit,
                    f"{trips:.2f}",
                    f"{sum(v for op, v in wcu.items() if ops(op)) / per:.1f}" if estimate else "-",
                    f"{sum(v for op, v in rcu.items() if ops(op)) / per:.1f}" if estimate else "-",
                    f"{sum(v for op, v in reported.items() if ops(op)) / per:.1f}",
                    f"{elapsed / n * 1000:.2f}" if unit == "task run" else "",
                    f"{waiting / n * 1000:.2f}" if unit == "task run" else "",
                )
            )
    print_table(header, table)
    if estimate:
        print("\nWCU/RCU (est.): from item sizes and DynamoDB's billing rules (moto reports a flat 1.0 per request).")
    print("flow run = every call that is not about a task run (create, its transitions, logs, settings).")


def _lambda(ms: float, gb: float) -> float:
    """One invocation's price: request plus duration, billed per started millisecond."""
    return LAMBDA_REQUEST + math.ceil(ms) / 1000 * gb * LAMBDA_GB_SECOND


def _dynamodb(wcu: float, rcu: float, before: bool = False) -> float:
    if before:
        return wcu * WRU_BEFORE_2024_11 + rcu * RRU_BEFORE_2024_11
    return wcu * WRU + rcu * RRU


def print_costs(n: int, rows: list, cpu_seconds: float, deployed: dict, batched: dict) -> None:
    """$ per million task runs and flow runs, through the API and inside the Lambda worker."""
    (_, _, calls, requests, _, wcu, rcu) = rows[0]  # the plain task scenario

    def per(ops, divide: int) -> tuple[float, float, float, float]:
        """Round trips, WCU, RCU and SDK calls of the calls `ops` accepts, per unit."""
        trips = sum(c for (op, _), c in requests.items() if ops(op))
        return (
            trips / divide,
            sum(v for op, v in wcu.items() if ops(op)) / divide,
            sum(v for op, v in rcu.items() if ops(op)) / divide,
            sum(c for op, c in calls.items() if ops(op)) / divide,
        )

    task_trips, task_wcu, task_rcu, task_calls = per(TASK_OPS.__contains__, n)
    flow_trips, flow_wcu, flow_rcu, flow_calls = per(lambda op: op not in TASK_OPS, 1)
    cpu_ms = cpu_seconds / n * 1000  # SDK + service + adapter (+ botocore), per task run
    task_ms = cpu_ms + task_trips * DYNAMODB_MS_IN_REGION  # what the API's Lambda takes per task run
    # The worker's flow code reports through the API (issue 12 item 5): the set_state calls and the
    # heartbeat; the trigger creates the run in-process.
    dep_calls = deployed["calls"]["set_flow_run_state"] + deployed["calls"]["heartbeat"]
    dep_ms = deployed["round trips"] * DYNAMODB_MS_IN_REGION + cpu_ms * dep_calls / 2

    def dollars(wcu_: float, rcu_: float, api_calls: float, api_ms: float, worker_ms: float = 0.0, extra: float = 0.0):
        """Per million: DynamoDB, each API call (API Gateway + an API Lambda invocation of `api_ms`
        in all), the worker's own time waiting, and `extra`; at today's and the older prices."""
        per_call_ms = api_ms / api_calls if api_calls else 0.0
        api = api_calls * (_lambda(per_call_ms, API_MEMORY_GB) + API_GATEWAY_HTTP_REQUEST)
        rest = api + worker_ms / 1000 * WORKER_MEMORY_GB * LAMBDA_GB_SECOND + extra
        return (_dynamodb(wcu_, rcu_) + rest) * 1e6, (_dynamodb(wcu_, rcu_, True) + rest) * 1e6

    # A call through the API, as the Lambda worker waits for it: API Gateway's own ~10 ms plus the API's work.
    wait_ms = task_ms + task_calls * 10.0
    # Reported write-behind: a batch's start and end of a run are one write, measured as the API applies it.
    in_batches = (batched["round trips"], batched["WCU"], batched["RCU"])
    batch_calls = 1 / batched["batch"]
    batch_ms = batched["cpu ms"] + batched["round trips"] * DYNAMODB_MS_IN_REGION
    task = (task_trips, task_wcu, task_rcu)
    rows_out = [
        ("task run, SDK through the API", *task, task_calls, *dollars(task_wcu, task_rcu, task_calls, task_ms)),
        (
            f"task run, through the API in batches of {batched['batch']}",
            *in_batches,
            batch_calls,
            *dollars(batched["WCU"], batched["RCU"], batch_calls, batch_ms),
        ),
        (
            "task run, in the Lambda worker (reports via the API)",
            *task,
            task_calls,
            *dollars(task_wcu, task_rcu, task_calls, task_ms, worker_ms=wait_ms),
        ),
        (
            "task run, in-process on the table (server, Fargate)",
            *task,
            0,
            *dollars(task_wcu, task_rcu, 0, 0, worker_ms=task_ms),
        ),
        (
            "flow run (ad hoc SDK), through the API",
            flow_trips,
            flow_wcu,
            flow_rcu,
            flow_calls,
            *dollars(flow_wcu, flow_rcu, flow_calls, flow_trips * DYNAMODB_MS_IN_REGION + cpu_ms * flow_calls),
        ),
        (
            "flow run (deployed), Scheduler + SQS + Lambda worker",
            deployed["round trips"],
            deployed["WCU"],
            deployed["RCU"],
            dep_calls,
            # its worker invocation (the flow's own time is the user's), its message sent, received, deleted
            *dollars(
                deployed["WCU"],
                deployed["RCU"],
                dep_calls,
                dep_ms,
                extra=_lambda(0, WORKER_MEMORY_GB) + 3 * SQS_REQUEST,
            ),
        ),
    ]
    print(f"\nCost per million (on-demand, us-east-1, prices of {PRICES_DATE}; a task run's without its flow run's)\n")
    table = [
        (label, f"{trips:.2f}", f"{w:.1f}", f"{r:.1f}", f"{c:g}", f"${cost:.2f}", f"${old:.2f}")
        for label, trips, w, r, c, cost, old in rows_out
    ]
    express_task = STEP_FUNCTIONS_EXPRESS_GB_SECOND * 0.1 * 0.0625  # one state's 100 ms at 64 MB
    peers = [
        ("Step Functions Standard: a task state", STEP_FUNCTIONS_STANDARD_TRANSITION),
        ("Step Functions Standard: a flow (start + end)", 2 * STEP_FUNCTIONS_STANDARD_TRANSITION),
        ("Step Functions Express: a task state (100 ms, 64 MB)", express_task),
        ("Step Functions Express: a workflow (request)", STEP_FUNCTIONS_EXPRESS_REQUEST),
    ]
    table += [(label, "-", "-", "-", "-", f"${price * 1e6:.2f}", "") for label, price in peers]
    header = ("unit", "round trips", "WCU", "RCU", "API calls", "$ per million", "at pre-2024-11 DynamoDB prices")
    print_table(header, table)
    print(
        f"\nDynamoDB ${WRU * 1e6:.3f}/M WRU, ${RRU * 1e6:.3f}/M RRU; Lambda ${LAMBDA_REQUEST * 1e6:.2f}/M requests + "
        f"${LAMBDA_GB_SECOND}/GB-s (arm64; API {API_MEMORY_GB:g} GB, worker {WORKER_MEMORY_GB:g} GB); API Gateway "
        f"HTTP ${API_GATEWAY_HTTP_REQUEST * 1e6:.2f}/M; SQS ${SQS_REQUEST * 1e6:.2f}/M. The API's Lambda time per "
        f"task run: {cpu_ms:.1f} ms of Python (this thread's CPU here) + {DYNAMODB_MS_IN_REGION:g} ms per DynamoDB "
        f"round trip in the region = {task_ms:.1f} ms; in batches {batch_ms:.1f} ms (measured the same way)."
    )
    print(
        "Step Functions Express has no exactly-once execution and stops at 5 minutes; Standard is the like-for-like "
        f"service. Two API calls per task run cost ${2 * (API_GATEWAY_HTTP_REQUEST + LAMBDA_REQUEST) * 1e6:.2f}/M "
        "before any work: the floor of the unbatched rows."
    )


def print_table(header: tuple, rows: list) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
