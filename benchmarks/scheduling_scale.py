"""1,000 every-minute deployments, embedded schedulers sharing one store, on a test clock.

    python benchmarks/scheduling_scale.py [--deployments 1000] [--minutes 3] [--tick 10]
                                          [--schedulers 2] [--running 200]

Builds a SQLite store (a real file) holding `--deployments` deployments, each on the cron
`* * * * *`, and `--running` RUNNING flow runs whose executors heartbeat (live leases: the reaper
must look at none of them). Then `--schedulers` embedded schedulers (as `mintaka server start`
runs them, one per server, all on that file) tick in turn every `--tick` simulated seconds for
`--minutes` simulated minutes; the clock is a test clock, so a tick's duration is its own work.

It prints, per tick: create attempts (calls of the store's `create_flow_run`), runs created,
store reads and writes (every store call, by name), and the tick's wall time; then checks that
every fire time in the window has exactly one run per deployment, created no later than its
scheduled time ("on time"), and prints the totals. Store calls are counted by a proxy in front
of the store (it forwards every call unchanged). `--legacy` runs the tick as it was before
issue 12; `--store dynamodb-local` (or `--endpoint URL`) runs on a DynamoDB table instead and
also counts the DynamoDB requests of each tick.

Measured 2026-12-02 on the shared 2-core box (load average 9-16: wall times are several times
an idle machine's), 1,000 deployments, 2 schedulers on one SQLite file, a tick every 10 s:

| | before (`--legacy`, 1 min) | after (3 min) |
|---|---|---|
| create attempts per run created | 12.73 (140,000 for 11,000) | 1.00 (13,000 for 13,000) |
| store writes per tick (both schedulers) | 20,036 | 803 (3 per new run, 0-1 when idle) |
| the follower's tick | the same work again | 1 read (the leader lease) |
| tick duration, median / a minute's 1,000 new runs | 24.5 s / 25-38 s | 62 ms / 10-14 s |
| fire times with a run / with two / created late | 1,000 / 0 / 0 | 3,000 / 0 / 0 |

On DynamoDB Local (`--store dynamodb-local`, 1 simulated minute, 20 deployments): 441 DynamoDB
requests per tick before, 48.6 after (12.73 and 1.00 create attempts per run). After, with 100
deployments over 2 minutes: 53 requests in a leader's tick that creates nothing, whatever the
number of deployments (lease read and renewal, the change marker, 17 due-run shards for Late
marking, 16 lease-expiry shards for the reaper, 17 PAUSED shards for suspensions), 1 in a
follower's (the lease); then 1 per run created (its transaction) and 1 per deployment whose
cursor moved (2 per run for an every-minute deployment, one new fire time a minute).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mintaka.deployment_schemas import DeploymentCreate
from mintaka.schemas import FlowRun, FlowRunFilter
from mintaka.states import State, StateType
from mintaka_server.scheduling import fire_times
from mintaka_server.scheduling.embedded import EmbeddedScheduler
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.storage import Store
from mintaka_server.storage.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 1, 5, 9, 0, 0, 500_000, tzinfo=dt.UTC)  # half a second past a minute
HORIZON = dt.timedelta(hours=1)  # the embedded scheduler's: at most 10 runs ahead per schedule
_WRITES = ("create_", "commit_", "put_", "renew_", "delete_", "upsert_", "write_", "revoke_", "ensure_", "swap_")


class Clock:
    """A test clock: stands still until moved."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class LegacyScheduler:
    """The tick before issue 12 (for `--legacy`): every server ticks (no leader), every tick asks
    for every fire time within the horizon again (idempotent, so found rather than made), and the
    reaper reads every running run and its lease (the port's fallback)."""

    def __init__(self, deployments: DeploymentService):
        self.deployments = deployments

    def tick(self) -> bool:
        service, now = self.deployments, self.deployments.clock()
        for deployment in service.list_deployments():
            for schedule in deployment.schedules:
                for fire in fire_times(schedule, now - dt.timedelta(seconds=1), until=now + HORIZON, limit=10):
                    service.run_for_fire_time(deployment, fire, redispatch=False)
        service.mark_late_runs()
        for run_id in Store.list_expired_leases(service.store, now):
            service.orchestration.end_silent_run(run_id, "found by the reaper", now)
        return True


class CountingStore:
    """Forwards every call to the store and counts it by method name; counts the runs
    `create_flow_run` made (not found by idempotency key) and, on DynamoDB, the requests sent."""

    def __init__(self, store: Store):
        self._store = store
        self.calls: collections.Counter[str] = collections.Counter()
        self.made = 0
        self.requests = 0
        client = getattr(store, "client", None)
        if client is not None:
            client.meta.events.register("before-call.dynamodb.*", self._request)

    def _request(self, **_: Any) -> None:
        self.requests += 1

    def reset(self) -> None:
        self.calls.clear()
        self.made = self.requests = 0

    def create_flow_run(self, run: FlowRun, *args: Any, **kwargs: Any) -> FlowRun:
        self.calls["create_flow_run"] += 1
        stored = self._store.create_flow_run(run, *args, **kwargs)
        self.made += stored.id == run.id
        return stored

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target) or name.startswith("_"):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return target(*args, **kwargs)

        return counted

    def reads(self) -> int:
        return sum(n for name, n in self.calls.items() if not name.startswith(_WRITES))

    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(_WRITES))


def seed(store: Store, deployments: DeploymentService, count: int, running: int) -> None:
    for i in range(count):
        deployments.upsert_deployment(
            DeploymentCreate(
                flow_name="etl",
                name=f"d{i:04d}",
                entrypoint="flows/etl.py:etl",
                storage={"type": "local", "url": "/srv/project"},
                schedules=[{"type": "cron", "cron": "* * * * *"}],
            )
        )
    flow = store.ensure_flow("busy")
    for _ in range(running):
        state = State(type=StateType.RUNNING, timestamp=T0)
        run = FlowRun(
            id=uuid.uuid4(), flow_id=flow.id, flow_name="busy", name="busy", state=state, created=T0,
            start_time=T0, heartbeat_interval=30.0,
        )  # fmt: skip
        store.create_flow_run(run, lease_expires=T0 + dt.timedelta(days=1))  # beating all along


def check_on_time(store: Store, deployments: int, end: dt.datetime) -> tuple[int, int, int, int]:
    """(fire times due in the window x deployments, those with a run, those with 2+ runs, runs created late)."""
    due = sum(1 for m in range(1, 24 * 60) if T0.replace(second=0, microsecond=0) + dt.timedelta(minutes=m) <= end)
    per_fire: collections.Counter[tuple[str, dt.datetime]] = collections.Counter()
    late, cursor = 0, None
    while True:
        page = store.list_flow_runs(FlowRunFilter(limit=500, cursor=cursor))
        for run in page.items:
            if run.deployment_name and T0 < run.expected_start_time <= end:
                per_fire[(run.deployment_name, run.expected_start_time)] += 1
                late += run.created > run.expected_start_time
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    return due * deployments, len(per_fire), sum(1 for n in per_fire.values() if n > 1), late


@contextlib.contextmanager
def store_factory(kind: str, endpoint: str | None, tmp: Path) -> Iterator[Callable[[], Store]]:
    """A function opening one more connection to one store: a SQLite file, or a DynamoDB table
    (at `endpoint`, else in a DynamoDB Local it starts). Not moto: its TransactWriteItems copies
    the tables unlocked, and the store's parallel shard reads break it."""
    if kind == "sqlite":
        yield lambda: SQLiteStore(tmp / "mintaka.db")
        return
    from mintaka_server.storage.dynamodb import DynamoDBStore

    with contextlib.ExitStack() as stack:
        if endpoint is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from support.dynamodb_local import dynamodb_local_session

            endpoint = stack.enter_context(contextlib.contextmanager(dynamodb_local_session)(tmp))
        table = f"mintaka-sched-{uuid.uuid4().hex[:8]}"
        first = DynamoDBStore(table, endpoint_url=endpoint)
        first.create_table()
        stack.callback(first.close)
        stack.callback(first.delete_table)
        yield lambda: DynamoDBStore(table, endpoint_url=endpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--tick", type=float, default=10.0, help="simulated seconds between ticks")
    parser.add_argument("--schedulers", type=int, default=2, help="embedded schedulers sharing the store")
    parser.add_argument("--running", type=int, default=200, help="RUNNING runs with live leases")
    parser.add_argument("--store", choices=("sqlite", "dynamodb-local"), default="sqlite")
    parser.add_argument("--endpoint", default=None, help="a DynamoDB endpoint to use instead of starting one")
    parser.add_argument("--quiet", action="store_true", help="totals only")
    parser.add_argument("--legacy", action="store_true", help="the tick before issue 12, for comparison")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="mintaka-sched-") as tmp,
        store_factory(args.store, args.endpoint, Path(tmp)) as open_store,
    ):
        clock = Clock(T0 - dt.timedelta(minutes=5))
        seed_store = open_store()
        seed(
            seed_store, DeploymentService(OrchestrationService(seed_store, clock=clock)), args.deployments, args.running
        )
        clock.now = T0

        stores = [CountingStore(open_store()) for _ in range(args.schedulers)]
        services = [DeploymentService(OrchestrationService(store, clock=clock)) for store in stores]
        if args.legacy:
            schedulers = [LegacyScheduler(service) for service in services]
        else:
            schedulers = [EmbeddedScheduler(service, interval=args.tick) for service in services]
        rows = []
        end = T0 + dt.timedelta(minutes=args.minutes)
        tick_no = 0
        while clock.now <= end:
            for index, (scheduler, store) in enumerate(zip(schedulers, stores, strict=True)):
                store.reset()
                started = time.perf_counter()
                scheduler.tick()
                elapsed = time.perf_counter() - started
                rows.append(
                    (tick_no, index, clock.now, store.calls["create_flow_run"], store.made, store.reads(),
                     store.writes(), store.requests, elapsed)
                )  # fmt: skip
            tick_no += 1
            clock.now += dt.timedelta(seconds=args.tick)
        last = clock.now - dt.timedelta(seconds=args.tick)
        due, found, duplicated, late = check_on_time(seed_store, args.deployments, last)
        for store in [*stores, seed_store]:
            store.close()

    dynamodb = args.store != "sqlite"
    header = f"{'tick':>4} {'sched':>5} {'sim time':>8} {'creates tried':>13} {'runs created':>12}"
    header += f" {'reads':>6} {'writes':>6}" + (f" {'requests':>8}" if dynamodb else "") + f" {'ms':>8}"
    if not args.quiet:
        print(header)
        for tick_no, index, now, attempts, created, reads, writes, requests, elapsed in rows:
            print(
                f"{tick_no:>4} {index:>5} {now:%H:%M:%S} {attempts:>13} {created:>12} {reads:>6} {writes:>6}"
                + (f" {requests:>8}" if dynamodb else "")
                + f" {elapsed * 1000:>8.1f}"
            )
    attempts = sum(r[3] for r in rows)
    created = sum(r[4] for r in rows)
    durations = [r[8] for r in rows]
    print()
    print(
        f"{'legacy tick: ' if args.legacy else ''}"
        f"{args.deployments} every-minute deployments, {args.schedulers} scheduler(s) on one {args.store} store, "
        f"a tick every {args.tick:g} s for {args.minutes:g} simulated min, {args.running} running runs"
    )
    print(f"  create attempts      {attempts:>9}   runs created {created}  ({attempts / max(created, 1):.2f} per run)")
    reads, writes = statistics.mean(r[5] for r in rows), statistics.mean(r[6] for r in rows)
    print(f"  store reads/tick     {reads:>9.1f}   writes/tick {writes:.1f}  (calls of the store port)")
    if dynamodb:
        # A tick that creates nothing: the leader's housekeeping, or a follower reading the lease.
        idle = [r[7] for r in rows if not r[3] and r[5] > 1]
        following = [r[7] for r in rows if r[5] <= 1]
        print(
            f"  DynamoDB requests    {statistics.mean(r[7] for r in rows):>9.1f} per tick; "
            f"{statistics.median(idle) if idle else 0:.0f} in a tick that creates nothing, "
            f"{statistics.median(following) if following else 0:.0f} in a follower's"
        )
    print(
        f"  tick duration        median {statistics.median(durations) * 1000:.1f} ms, "
        f"max {max(durations) * 1000:.1f} ms"
    )
    print(f"  fire times due       {due:>9}   with a run {found}, with 2+ runs {duplicated}, created late {late}")
    ok = found == due and not duplicated and not late
    print(f"every run created once, on time: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
