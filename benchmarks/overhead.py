"""Orchestration overhead of Mintaka's embedded mode against plain Python.

    python benchmarks/overhead.py [--tasks 1000] [--flows 100]

Prints a table: (a) one flow with N sequential trivial tasks, (b) `.map` over N, (d) N async
tasks gathered, (e) 500 async tasks sleeping 1 s each, (f) N trivial flow runs — ms per task /
per flow run, store writes per task run, `import mintaka` time, time from a cold process to its
first finished flow, and peak memory. Every state is
persisted to a fresh SQLite store under a temporary MINTAKA_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD_FLOW = """
import time, sys
t0 = time.perf_counter()
from mintaka import flow, task

@task
def one():
    return 1

@flow
def first():
    return one()

assert first() == 1
print(time.perf_counter() - t0)
"""


def _fresh_home() -> str:
    home = tempfile.mkdtemp(prefix="mintaka-bench-")
    os.environ["MINTAKA_HOME"] = home
    os.environ.pop("MINTAKA_API_URL", None)
    os.environ["MINTAKA_LOGGING_LEVEL"] = "WARNING"
    return home


def _task_run_states(db: Path) -> int:
    """States recorded for all task runs (each task run's row holds its history)."""
    with sqlite3.connect(db) as conn:
        sql = "SELECT COALESCE(SUM(json_array_length('[' || history || ']')), 0) FROM task_runs"
        return conn.execute(sql).fetchone()[0]


def _subprocess_seconds(code: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        env = {**os.environ, "MINTAKA_HOME": tempfile.mkdtemp(prefix="mintaka-cold-")}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def _import_seconds(runs: int) -> float:
    code = "import time; t0 = time.perf_counter(); import mintaka; print(time.perf_counter() - t0)"
    return _subprocess_seconds(code, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()

    home = _fresh_home()
    from mintaka import flow, task

    def plain_inc(x):
        return x + 1

    inc = task(plain_inc)

    @flow
    def sequential(n: int):
        total = 0
        for i in range(n):
            total += inc(i)
        return total

    @flow
    def mapped(n: int):
        return sum(inc.map(range(n)).result())

    @flow
    def trivial():
        return 1

    @task
    async def async_inc(x):
        return x + 1

    @task
    async def nap(x):
        await asyncio.sleep(1)
        return x

    @flow
    async def gathered(n: int):
        return sum(await asyncio.gather(*(async_inc(i) for i in range(n))))

    @flow
    async def napping(n: int):
        return sum(await asyncio.gather(*(nap(i) for i in range(n))))

    def plain_sequential(n):
        return sum(plain_inc(i) for i in range(n))

    trivial()  # warm up: store created, modules imported
    from mintaka.client import get_client

    writes = {"n": 0, "open": False}

    def count_transactions(statement: str) -> None:
        """Each COMMIT, and each write SQLite commits alone (outside BEGIN ... COMMIT)."""
        verb = statement.split(None, 1)[0].upper()
        if verb == "BEGIN":
            writes["open"] = True
        elif verb in ("COMMIT", "ROLLBACK"):
            writes["open"] = False
            writes["n"] += verb == "COMMIT"
        elif verb in ("INSERT", "UPDATE", "DELETE", "REPLACE") and not writes["open"]:
            writes["n"] += 1

    get_client().service.store._conn.set_trace_callback(count_transactions)
    db = Path(home) / "mintaka.db"
    rows: list[tuple[str, str, str, str]] = []
    n = args.tasks

    t = time.perf_counter()
    plain_sequential(n)
    plain = time.perf_counter() - t

    states_before, writes_before = _task_run_states(db), writes["n"]
    t = time.perf_counter()
    sequential(n)
    elapsed = time.perf_counter() - t
    task_writes = (writes["n"] - writes_before - 2) / n  # less the flow run's own create + finish
    per_task = (elapsed - plain) / n * 1000
    task_states = (_task_run_states(db) - states_before) / n
    rows.append(
        (
            f"(a) flow with {n} sequential tasks",
            f"{elapsed * 1000:.0f} ms",
            f"{per_task:.3f} ms/task",
            f"plain Python {plain * 1000:.2f} ms",
        )
    )

    t = time.perf_counter()
    mapped(n)
    elapsed = time.perf_counter() - t
    rows.append(
        (
            f"(b) .map over {n}",
            f"{elapsed * 1000:.0f} ms",
            f"{elapsed / n * 1000:.3f} ms/task",
            "concurrent task runner",
        )
    )

    t = time.perf_counter()
    asyncio.run(gathered(n))
    elapsed = time.perf_counter() - t
    rows.append(
        (
            f"(d) {n} async tasks gathered",
            f"{elapsed * 1000:.0f} ms",
            f"{elapsed / n * 1000:.3f} ms/task",
            "one event loop",
        )
    )

    t = time.perf_counter()
    asyncio.run(napping(500))
    elapsed = time.perf_counter() - t
    rows.append(
        (
            "(e) 500 async tasks, each sleeping 1 s",
            f"{elapsed * 1000:.0f} ms",
            f"{(elapsed - 1) / 500 * 1000:.3f} ms/task",
            "beyond the 1 s of sleep",
        )
    )

    t = time.perf_counter()
    for _ in range(args.flows):
        trivial()
    elapsed = time.perf_counter() - t
    rows.append(
        (
            f"(f) {args.flows} trivial flow runs",
            f"{elapsed * 1000:.0f} ms",
            f"{elapsed / args.flows * 1000:.3f} ms/flow run",
            "",
        )
    )

    rows.append(
        (
            "store commits per task run",
            f"{task_writes:.3f} transactions",
            f"{task_states:.0f} states recorded",
            "ended task runs commit in groups (journaled)",
        )
    )
    rows.append(
        (
            "import mintaka (median, cold process)",
            f"{_import_seconds(args.cold_runs) * 1000:.0f} ms",
            "",
            "target <= 150 ms",
        )
    )
    rows.append(
        (
            "cold process to first finished flow",
            f"{_subprocess_seconds(COLD_FLOW, args.cold_runs) * 1000:.0f} ms",
            "",
            "target <= 500 ms",
        )
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS of this benchmark", f"{peak:.0f} MB", "", "target <= 80 MB"))

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(" | ".join(h.ljust(w) for h, w in zip(("measure", "total", "per unit", "note"), widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
