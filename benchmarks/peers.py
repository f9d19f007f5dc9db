"""Mintaka against its peers, side by side in one run: Prefect 3 and DBOS Transact.

    python benchmarks/peers.py [--tasks 200] [--async-tasks 1000] [--repeats 3]
        [--prefect-python /work/peers-venv/bin/python] [--dbos-python /work/peers-venv/bin/python]

The peers are never dependencies of Mintaka: install them in a separate venv, e.g.

    python -m venv /work/peers-venv && /work/peers-venv/bin/pip install "prefect==3.9.*" "dbos==3.*"

and pass its interpreter (a peer whose interpreter is not given, missing, or cannot import the
package is skipped, with a note). Each system runs in its own subprocess, one after another,
with a fresh home in a temporary directory, on its default local setup with every state
persisted:

- Mintaka: the embedded store (SQLite under a fresh MINTAKA_HOME), this interpreter;
- Prefect 3: its default local mode (no PREFECT_API_URL: a temporary local server on SQLite
  under a fresh PREFECT_HOME), analytics off. Its task run states travel as events that the
  server writes after the flow has returned: after each timed run the script waits, untimed,
  until the server has recorded them (without that pause the next flow meets 503s);
- DBOS Transact: a SQLite system database; a step is the unit (DBOS has no tasks).

Workloads, each a flow (a DBOS workflow) of trivial `x + 1` units:
(a) N sequential tasks; (b) a map over N (Prefect's and Mintaka's `.map`; for DBOS, a queue
that the workflow enqueues N steps on, polled every 10 ms instead of its default 1 s, in its
favour); (c) 1,000 async tasks gathered with `asyncio.gather` in an async flow. Each is timed
`--repeats` times in the same process after a warm-up flow; the table shows the best run in ms
per task, and the ratios Prefect/Mintaka and DBOS/Mintaka (above 1: Mintaka is faster). Time to
first flow: from the subprocess's first line (before importing the framework) to its first
finished flow with one task, on a fresh home (the store created, Prefect's server started,
DBOS's migrations run). The last row counts the task runs (DBOS: step outputs) each store
holds once the benchmark is over, to show that every run was recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# -- the workloads, one script per system. Each prints one JSON line: its measures.

_COMMON = """
import asyncio, json, os, sys, time
T0 = time.perf_counter()
N, ASYNC_N, REPEATS, HOME = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


TASKS = {"count": 0}  # task runs started so far


def settle():
    # Untimed, after each timed run: a system that records behind the flow's back catches up.
    pass


def best(run, n):
    samples = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        run(n)
        samples.append(time.perf_counter() - t)
        TASKS["count"] += n
        settle()
    return min(samples)
"""

# The same flows for Mintaka and Prefect: a Prefect 2 flow runs on Mintaka by changing its import.
_FLOWS = """
@task
def inc(x):
    return x + 1


@task
async def ainc(x):
    return x + 1


@flow
def first():
    return inc(0)


@flow
def sequential(n):
    return sum(inc(i) for i in range(n))


@flow
def mapped(n):
    return sum(inc.map(range(n)).result())


@flow
async def gathered(n):
    return sum(await asyncio.gather(*[ainc(i) for i in range(n)]))
"""

MINTAKA = (
    _COMMON
    + "from mintaka import flow, task\n"
    + _FLOWS
    + """
assert first() == 1
first_flow = time.perf_counter() - T0
first()
out = {
    "version": __import__("importlib.metadata").metadata.version("mintaka"),
    "first_flow": first_flow,
    "sequential": best(sequential, N),
    "map": best(mapped, N),
    "async": best(lambda n: asyncio.run(gathered(n)), ASYNC_N),
}
import sqlite3

from mintaka.logging import flush_logs

flush_logs()
with sqlite3.connect(os.path.join(HOME, "mintaka.db")) as db:
    out["recorded"] = db.execute("SELECT COUNT(*) FROM task_runs").fetchone()[0]
print(json.dumps(out))
"""
)

PREFECT = (
    _COMMON
    + "from prefect import flow, task\n"
    + _FLOWS
    + """
import sqlite3


def recorded():
    with sqlite3.connect(os.path.join(HOME, "prefect.db")) as db:
        return db.execute("SELECT COUNT(*) FROM task_run").fetchone()[0]


def settle(timeout=120):
    # Task run states reach Prefect's server as events, written behind the flow's back: the next
    # workload starts once they are (else its server answers 503 under the backlog).
    deadline = time.monotonic() + timeout
    while recorded() < TASKS["count"] and time.monotonic() < deadline:
        time.sleep(0.2)


assert first() == 1
first_flow = time.perf_counter() - T0
first()
TASKS["count"] = 2
settle()
out = {
    "version": __import__("prefect").__version__,
    "first_flow": first_flow,
    "sequential": best(sequential, N),
    "map": best(mapped, N),
    "async": best(lambda n: asyncio.run(gathered(n)), ASYNC_N),
}
out["recorded"] = recorded()
print(json.dumps(out))
"""
)

DBOS = (
    _COMMON
    + """
from dbos import DBOS

DB = os.path.join(HOME, "dbos.sqlite")
config = {"name": "peers-bench", "system_database_url": f"sqlite:///{DB}", "log_level": "WARNING"}
DBOS(config={**config, "application_version": "peers-bench"})


@DBOS.step()
def inc(x):
    return x + 1


@DBOS.step()
async def ainc(x):
    return x + 1


@DBOS.workflow()
def first():
    return inc(0)


@DBOS.workflow()
def sequential(n):
    return sum(inc(i) for i in range(n))


@DBOS.workflow()
def mapped(n):
    handles = [queue.enqueue(inc, i) for i in range(n)]
    return sum(h.get_result() for h in handles)


@DBOS.workflow()
async def gathered(n):
    return sum(await asyncio.gather(*[ainc(i) for i in range(n)]))


DBOS.launch()
assert first() == 1
first_flow = time.perf_counter() - T0
queue = DBOS.register_queue("peers_map", polling_interval_sec=0.01)
first()
out = {
    "version": __import__("importlib.metadata").metadata.version("dbos"),
    "first_flow": first_flow,
    "sequential": best(sequential, N),
    "map": best(mapped, N),
    "async": best(lambda n: asyncio.run(gathered(n)), ASYNC_N),
}
DBOS.destroy()
import sqlite3

with sqlite3.connect(DB) as db:
    steps = "SELECT COUNT(*) FROM operation_outputs WHERE function_name IN ('inc', 'ainc')"
    out["recorded"] = db.execute(steps).fetchone()[0]
print(json.dumps(out))
"""
)


def _environment(system: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTAKA_", "PREFECT_", "DBOS_"))}
    env["DO_NOT_TRACK"] = "1"
    if system == "mintaka":
        env.update(MINTAKA_HOME=home, MINTAKA_LOGGING_LEVEL="WARNING")
    elif system == "prefect":
        env.update(
            PREFECT_HOME=home,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            PREFECT_SERVER_LOGGING_LEVEL="WARNING",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        )
    return env


def _run(system: str, python: str, script: str, args: argparse.Namespace) -> dict | str:
    """The system's measures, or why there are none."""
    if not Path(python).exists() and shutil.which(python) is None:
        return f"skipped: no interpreter at {python}"
    package = {"mintaka": "mintaka", "prefect": "prefect", "dbos": "dbos"}[system]
    probe = subprocess.run([python, "-c", f"import {package}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"skipped: {python} cannot import {package}"
    home = tempfile.mkdtemp(prefix=f"peers-{system}-")
    try:
        done = subprocess.run(
            [python, "-c", textwrap.dedent(script), str(args.tasks), str(args.async_tasks), str(args.repeats), home],
            env=_environment(system, home),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        return f"failed: no result within {args.timeout} s"
    finally:
        shutil.rmtree(home, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        log = Path(tempfile.gettempdir()) / f"peers-{system}-failure.log"
        log.write_text(f"{done.stdout}\n--- stderr ---\n{done.stderr}")
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return f"failed (exit {done.returncode}, output in {log}): " + " / ".join(tail)
    return json.loads(lines[-1])


def _table(results: dict[str, dict | str], args: argparse.Namespace) -> list[tuple[str, ...]]:
    names = {"mintaka": "Mintaka", "prefect": "Prefect", "dbos": "DBOS"}
    ok = {s: r for s, r in results.items() if isinstance(r, dict)}
    header = ["measure"]
    for system in results:
        version = ok[system]["version"] if system in ok else "-"
        header.append(f"{names[system]} {version}")
    peers = [s for s in ("prefect", "dbos") if s in ok]
    header += [f"{names[p]}/Mintaka" for p in peers]
    rows = [tuple(header)]

    def ratio(peer: str, key: str) -> str:
        base = ok.get("mintaka", {}).get(key)
        return f"{ok[peer][key] / base:.1f}x" if base else "-"

    measures = (
        ("sequential", f"(a) {args.tasks} sequential tasks, ms/task", args.tasks),
        ("map", f"(b) map over {args.tasks}, ms/task", args.tasks),
        ("async", f"(c) {args.async_tasks} async tasks gathered, ms/task", args.async_tasks),
    )
    for key, label, per in measures:
        row = [label]
        for system in results:
            row.append(f"{ok[system][key] / per * 1000:.3f}" if system in ok else "-")
        row += [ratio(p, key) for p in peers]
        rows.append(tuple(row))
    row = ["time to first flow (cold process), ms"]
    for system in results:
        row.append(f"{ok[system]['first_flow'] * 1000:.0f}" if system in ok else "-")
    row += [ratio(p, "first_flow") for p in peers]
    rows.append(tuple(row))
    expected = 2 + args.repeats * (2 * args.tasks + args.async_tasks)
    row = [f"task runs recorded (of {expected})"]
    for system in results:
        row.append(str(ok[system]["recorded"]) if system in ok else "-")
    row += ["" for _ in peers]
    rows.append(tuple(row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="N for (a) and (b)")
    parser.add_argument("--async-tasks", type=int, default=1000, help="tasks gathered in (c)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each workload (best one shown)")
    parser.add_argument("--mintaka-python", default=sys.executable)
    parser.add_argument("--prefect-python", default=None, help="interpreter of a venv with prefect 3 installed")
    parser.add_argument("--dbos-python", default=None, help="interpreter of a venv with dbos installed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed to each system")
    args = parser.parse_args()

    scripts = {"mintaka": MINTAKA, "prefect": PREFECT, "dbos": DBOS}
    pythons = {"mintaka": args.mintaka_python, "prefect": args.prefect_python, "dbos": args.dbos_python}
    results: dict[str, dict | str] = {}
    for system, script in scripts.items():
        python = pythons[system]
        if python is None:
            results[system] = f"skipped: pass --{system}-python PATH (a venv with {system} installed)"
            continue
        t = time.perf_counter()
        print(f"running {system} ({python}) ...", file=sys.stderr, flush=True)
        results[system] = _run(system, python, script, args)
        print(f"  {system}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)

    rows = _table(results, args)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(" | ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows[1:]:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for system, result in results.items():
        if isinstance(result, str):
            print(f"{system}: {result}")


if __name__ == "__main__":
    main()
