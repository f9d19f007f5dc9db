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
of the store (it forwards every call unchanged).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mintaka.deployment_schemas import DeploymentCreate
from mintaka.schemas import FlowRun
from mintaka.states import State, StateType
from mintaka_server.scheduling import fire_times
from mintaka_server.scheduling.embedded import EmbeddedScheduler
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.storage import Store
from mintaka_server.storage.sqlite import SQLiteStore

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
    """Forwards every call to the store and counts it by method name."""

    def __init__(self, store: SQLiteStore):
        self._store = store
        self.calls: collections.Counter[str] = collections.Counter()

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


def seed(store: SQLiteStore, deployments: DeploymentService, count: int, running: int) -> None:
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


def count_runs(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM flow_runs WHERE deployment_name IS NOT NULL").fetchone()[0]


def check_on_time(path: Path, deployments: int, end: dt.datetime) -> tuple[int, int, int, int]:
    """(fire times due in the window, runs for them, fire times with more than one run, runs created late)."""
    fires = []
    t = T0.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while t <= end:
        fires.append(t)
        t += dt.timedelta(minutes=1)
    found = duplicated = late = 0
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT deployment_name, json_extract(doc, '$.expected_start_time'), created FROM flow_runs"
            " WHERE deployment_name IS NOT NULL"
        ).fetchall()
    per_fire: collections.Counter[tuple[str, dt.datetime]] = collections.Counter()
    for name, expected, created in rows:
        due = dt.datetime.fromisoformat(expected.replace("Z", "+00:00"))
        if T0 < due <= end:
            per_fire[(name, due)] += 1
            late += dt.datetime.fromisoformat(created.replace("Z", "+00:00")) > due
    found = len(per_fire)
    duplicated = sum(1 for n in per_fire.values() if n > 1)
    return len(fires) * deployments, found, duplicated, late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--tick", type=float, default=10.0, help="simulated seconds between ticks")
    parser.add_argument("--schedulers", type=int, default=2, help="embedded schedulers sharing the store")
    parser.add_argument("--running", type=int, default=200, help="RUNNING runs with live leases")
    parser.add_argument("--quiet", action="store_true", help="totals only")
    parser.add_argument("--legacy", action="store_true", help="the tick before issue 12, for comparison")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mintaka-sched-") as tmp:
        path = Path(tmp) / "mintaka.db"
        clock = Clock(T0 - dt.timedelta(minutes=5))
        seed_store = SQLiteStore(path)
        seed(
            seed_store, DeploymentService(OrchestrationService(seed_store, clock=clock)), args.deployments, args.running
        )
        seed_store.close()
        clock.now = T0

        stores = [CountingStore(SQLiteStore(path)) for _ in range(args.schedulers)]
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
                store.calls.clear()
                before = count_runs(path)
                started = time.perf_counter()
                scheduler.tick()
                elapsed = time.perf_counter() - started
                created = count_runs(path) - before
                rows.append(
                    (tick_no, index, clock.now, store.calls["create_flow_run"], created, store.reads(),
                     store.writes(), elapsed)
                )  # fmt: skip
            tick_no += 1
            clock.now += dt.timedelta(seconds=args.tick)
        last = clock.now - dt.timedelta(seconds=args.tick)
        for store in stores:
            store._store.close()
        due, found, duplicated, late = check_on_time(path, args.deployments, last)

    header = f"{'tick':>4} {'sched':>5} {'sim time':>8} {'creates tried':>13} {'runs created':>12}"
    header += f" {'reads':>6} {'writes':>6} {'ms':>8}"
    if not args.quiet:
        print(header)
        for tick_no, index, now, attempts, created, reads, writes, elapsed in rows:
            print(
                f"{tick_no:>4} {index:>5} {now:%H:%M:%S} {attempts:>13} {created:>12} {reads:>6} {writes:>6}"
                f" {elapsed * 1000:>8.1f}"
            )
    attempts = sum(r[3] for r in rows)
    created = sum(r[4] for r in rows)
    durations = [r[7] for r in rows]
    print()
    print(
        f"{'legacy tick: ' if args.legacy else ''}"
        f"{args.deployments} every-minute deployments, {args.schedulers} scheduler(s) on one SQLite file, "
        f"a tick every {args.tick:g} s for {args.minutes:g} simulated min, {args.running} running runs"
    )
    print(f"  create attempts      {attempts:>9}   runs created {created}  ({attempts / max(created, 1):.2f} per run)")
    reads, writes = statistics.mean(r[5] for r in rows), statistics.mean(r[6] for r in rows)
    print(f"  store reads/tick     {reads:>9.1f}   writes/tick {writes:.1f}")
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
