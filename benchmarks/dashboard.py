"""The dashboard's API reads against a SQLite store holding 100,000 flow runs.

    python benchmarks/dashboard.py [--runs 100000] [--repeat 20] [--db PATH]

Seeds the runs straight into the store's tables (seeding only: one executemany, as the store's
own inserts would write them) spread over the last 30 days across 20 flows, with a realistic mix
of states and tags, then serves the real API with uvicorn on a loopback port and times each
dashboard request over HTTP (median and p95 of `--repeat` calls, after one warm-up call). Target:
every list ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.servers import free_port  # noqa: E402

from mintaka.schemas import FlowRun, FlowRunFilter  # noqa: E402
from mintaka.states import State, StateType  # noqa: E402
from mintaka_server.api import create_app  # noqa: E402
from mintaka_server.services import OrchestrationService  # noqa: E402
from mintaka_server.storage._sqlite_records import _ts  # noqa: E402
from mintaka_server.storage.sqlite import SQLiteStore  # noqa: E402

FLOWS = [f"flow-{i:02d}" for i in range(20)]
STATES = [StateType.COMPLETED] * 80 + [StateType.FAILED] * 8 + [StateType.CRASHED] * 2 + [StateType.CANCELLED] * 3
STATES += [StateType.RUNNING] * 2 + [StateType.SCHEDULED] * 4 + [StateType.PENDING]
WINDOWS = {"1 h": dt.timedelta(hours=1), "24 h": dt.timedelta(hours=24), "30 d": dt.timedelta(days=30)}
RARE = "run-000042-"  # one run's name: a substring search that must read every run in range
TAGS = ["prod", "dev", "nightly", "eu", "us"]


def seed(store: SQLiteStore, runs: int, now: dt.datetime) -> None:
    rng = random.Random(7)
    flows = {name: store.ensure_flow(name) for name in FLOWS}
    rows, tag_rows, state_rows = [], [], []
    for i in range(runs):
        name = rng.choice(FLOWS)
        created = now - dt.timedelta(seconds=rng.uniform(0, 30 * 86_400))
        state_type = rng.choice(STATES)
        due = created + dt.timedelta(minutes=5) if state_type is StateType.SCHEDULED else None
        state = State(type=state_type, timestamp=created, message="boom" if state_type is StateType.FAILED else None)
        tags = rng.sample(TAGS, rng.randint(0, 2))
        deployment = f"{name}/prod" if i % 3 == 0 else None
        run = FlowRun(
            id=uuid.uuid4(),
            flow_id=flows[name].id,
            flow_name=name,
            name=f"run-{i:06d}-{rng.choice(['brave', 'calm', 'eager', 'quiet'])}-otter",
            tags=tags,
            state=state,
            created=created,
            deployment_name=deployment,
            expected_start_time=due,
        )
        ts = _ts(created)
        doc = run.model_dump_json(exclude_none=True)
        rows.append(
            (str(run.id), name, state_type.value, ts, 0, None, _ts(due) if due else None, None, deployment, doc)
        )
        tag_rows += [(tag, ts, str(run.id)) for tag in tags]
        state_rows.append((str(run.id), state.model_dump_json(exclude_none=True)))
    with store._write() as conn:
        conn.executemany(
            "INSERT INTO flow_runs (id, flow_name, state_type, created, version, idempotency_key,"
            " expected_start, work_queue, deployment_name, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO flow_run_tags (tag, created, run_id) VALUES (?, ?, ?)", tag_rows)
        conn.executemany("INSERT INTO states (run_id, doc) VALUES (?, ?)", state_rows)
    with store._lock:
        store._conn.execute("ANALYZE")


@contextmanager
def serving(app) -> Iterator[str]:
    """uvicorn on a loopback port, binding it itself (a socket handed in skips its TCP_NODELAY:
    every response then waits ~40 ms for a delayed ACK, which would swamp what is measured)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def timed(client: httpx.Client, path: str, params: dict, repeat: int) -> tuple[float, float, int]:
    """Median and p95 latency (ms) of `repeat` GETs after a warm-up, and the items of the answer."""
    response = client.get(path, params=params)
    response.raise_for_status()
    body = response.json()
    size = (
        len(body["items"]) if isinstance(body, dict) and "items" in body else len(body) if isinstance(body, list) else 1
    )
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--db", type=Path, default=None, help="SQLite file (default: a temporary one; reused when seeded)"
    )
    args = parser.parse_args()
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(args.db or Path(tmp) / "mintaka.db")
        held = store._read("SELECT COUNT(*) FROM flow_runs")[0][0]
        if held < args.runs:  # a --db file seeded before is reused
            started = time.perf_counter()
            seed(store, args.runs - held, now)
            print(f"seeded {args.runs - held:,} runs in {time.perf_counter() - started:.1f} s")
        print(f"{max(held, args.runs):,} runs; load average {os.getloadavg()[0]:.1f}")
        ago = {label: (now - delta).isoformat() for label, delta in WINDOWS.items()}
        until = now.isoformat()
        cursor = store.list_flow_runs(FlowRunFilter(limit=50)).next_cursor
        cases = [
            ("list: newest 50", "/flow_runs", {"limit": 50}),
            ("list: page 2 (cursor)", "/flow_runs", {"limit": 50, "cursor": cursor}),
            ("list: oldest 50", "/flow_runs", {"limit": 50, "sort": "oldest"}),
            ("list: FAILED+CRASHED", "/flow_runs", {"limit": 50, "state_type": ["FAILED", "CRASHED"]}),
            ("list: RUNNING", "/flow_runs", {"limit": 50, "state_type": "RUNNING"}),
            ("list: flow", "/flow_runs", {"limit": 50, "flow_name": FLOWS[3]}),
            ("list: tags prod+nightly", "/flow_runs", {"limit": 50, "tag": ["prod", "nightly"]}),
            ("list: deployment", "/flow_runs", {"limit": 50, "deployment_name": f"{FLOWS[3]}/prod"}),
            ("list: name contains", "/flow_runs", {"limit": 50, "name_contains": "QUIET-OTTER"}),
            ("list: rare name, 24 h", "/flow_runs", {"limit": 50, "name_contains": RARE, "since": ago["24 h"]}),
            ("list: rare name, all (scan)", "/flow_runs", {"limit": 50, "name_contains": RARE}),
            ("list: flow contains, 24 h", "/flow_runs", {"limit": 50, "flow_contains": "-1", "since": ago["24 h"]}),
            *[
                (f"stats: {label}", "/flow_runs/stats", {"since": since, "until": until})
                for label, since in ago.items()
            ],
            ("stats: 30 d, a flow", "/flow_runs/stats", {"since": ago["30 d"], "until": until, "flow_name": "flow-03"}),
            ("flows summary (20 flows)", "/flows/summary", {}),
        ]
        service = OrchestrationService(store)
        with serving(create_app(service)) as url, httpx.Client(base_url=f"{url}/api", timeout=60) as client:
            print(f"{'request':32} {'median ms':>10} {'p95 ms':>8} {'items':>6}")
            for label, path, params in cases:
                median, p95, size = timed(client, path, params, args.repeat)
                flag = "" if p95 <= 300 else "  > 300 ms"
                print(f"{label:32} {median:10.1f} {p95:8.1f} {size:6}{flag}")
        store.close()


if __name__ == "__main__":
    main()
