"""Per-task and per-flow-run overhead of the SDK talking HTTP to a local uvicorn server,
backed by each store: SQLite, and DynamoDB (moto's server, or AWS_ENDPOINT_URL), with plain task
runs reported write-behind in batches (the default) and synchronously (two calls per task run,
MINTAKA_TASK_RUN_REPORTS=false).

    python benchmarks/http_overhead.py [--tasks 200] [--repeats 7] [--flows 50] [--stores sqlite,dynamodb]

Server, emulator and SDK run as separate processes (no shared GIL). "per task" is the median of
`--repeats` flows of `--tasks` sequential tasks, after one such flow to warm up (the range in
brackets), since one flow of 200 tasks lasts about a tenth of a second on a machine whose speed
swings (on moto one flow: it copies a table per transaction, so its calls slow as
the table grows). Every state is recorded:
the flow run ends only once every report is in. "requests/task" counts every API request the
client made while the flow of N tasks ran (its own create and end, logs, batches), over N.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import NamedTuple

import httpx

CLIENT = """
import json, statistics, sys, time
from mintaka import flow, task

@task
def inc(x):
    return x + 1

@flow
def sequential(n: int):
    return sum(inc(i) for i in range(n))

@flow
def trivial():
    return 1

tasks, flows, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
trivial()  # warm up: connection, modules
t = time.perf_counter(); sequential(tasks); first = (time.perf_counter() - t) / tasks * 1000  # warm-up
from mintaka.client import get_client
sent = []
http = getattr(get_client(), "_http", None)  # None: the embedded API, no requests at all
if http is not None:
    http.event_hooks["request"].append(sent.append)
per_task = []
for _ in range(repeats):
    t = time.perf_counter(); sequential(tasks); per_task.append((time.perf_counter() - t) / tasks * 1000)
requests = len(sent) / repeats
t = time.perf_counter()
for _ in range(flows):
    trivial()
per_flow = (time.perf_counter() - t) / flows
print(json.dumps([statistics.median(per_task), min(per_task), max(per_task), first, per_flow * 1000, requests / tasks]))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {process.communicate()[0]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


MODES = {"write-behind": "true", "synchronous": "false"}


class Shape(NamedTuple):
    tasks: int
    flows: int
    repeats: int


class Measured(NamedTuple):
    """One client's figures: ms per task (median, lowest, highest of the repeats; the warm-up
    flow's), ms per flow run, API requests per task."""

    per_task: float
    lowest: float
    highest: float
    first: float
    per_flow: float
    requests: float

    def per_task_text(self) -> str:
        return f"{self.per_task:.2f} ms ({self.lowest:.2f} to {self.highest:.2f})"


def _client(label: str, shape: Shape, env: dict[str, str]) -> Measured:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(shape.tasks), str(shape.flows), str(shape.repeats)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the {label} client failed:\n{out.stderr[-3000:]}")
    return Measured(*json.loads(out.stdout.strip().splitlines()[-1]))


def _measure(store: str, shape: Shape, env: dict[str, str]) -> dict[str, Measured]:
    """Per mode, against one server on `store`."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mintaka.cli",
            "server",
            "start",
            "--port",
            str(port),
            "--store",
            store,
            "--create-table",
            "--no-api-auth",
            "--scheduler-interval",
            "0",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api = f"http://127.0.0.1:{port}/api"
        _wait(f"{api}/health", server)
        results = {}
        for mode, reports in MODES.items():
            client_env = {
                **env,
                "MINTAKA_API_URL": api,
                "MINTAKA_LOGGING_LEVEL": "WARNING",
                "MINTAKA_TASK_RUN_REPORTS": reports,
            }
            results[mode] = _client(f"{mode} on {store}", shape, client_env)
        return results
    finally:
        server.terminate()
        server.communicate(timeout=20)


def _embedded(shape: Shape, env: dict[str, str]) -> Measured:
    """The same flows on the embedded API (no server), for comparison."""
    home = tempfile.mkdtemp(prefix="mintaka-http-bench-embedded-")
    return _client("embedded", shape, {**env, "MINTAKA_HOME": home, "MINTAKA_LOGGING_LEVEL": "WARNING"})


def _row(store: str, mode: str, got: Measured, note: str) -> tuple[str, ...]:
    requests = f"{got.requests:.3f}" if got.requests else "0"
    return (store, mode, got.per_task_text(), f"{got.first:.2f} ms", requests, f"{got.per_flow:.2f} ms", note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7, help="flows of --tasks tasks measured (median shown)")
    parser.add_argument("--flows", type=int, default=50)
    parser.add_argument("--stores", default="sqlite,dynamodb")
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    base["MINTAKA_HOME"] = tempfile.mkdtemp(prefix="mintaka-http-bench-")
    rows = []
    shape = Shape(args.tasks, args.flows, args.repeats)
    embedded = _embedded(shape, base)
    rows.append(_row("none (embedded API)", "in-process", embedded, "same machine, now"))
    moto = None
    try:
        for store in args.stores.split(","):
            env = dict(base)
            note = "SQLite file (WAL)"
            if store == "dynamodb":
                endpoint = os.environ.get("AWS_ENDPOINT_URL")
                if not endpoint:
                    port = _free_port()
                    moto = subprocess.Popen(
                        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    endpoint = f"http://127.0.0.1:{port}"
                    _wait(endpoint, moto)
                env.update(
                    AWS_ENDPOINT_URL=endpoint,
                    AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                    AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                    MINTAKA_TABLE_PREFIX=f"bench{uuid.uuid4().hex[:6]}-",
                )
                note = f"DynamoDB at {endpoint}" + (
                    " (moto: each call ~2 ms, transactions copy the table)" if moto else ""
                )
            # moto copies a table per transaction: its calls slow as the table grows, so one flow.
            store_shape = shape._replace(repeats=1) if store == "dynamodb" and moto is not None else shape
            for mode, got in _measure(store, store_shape, env).items():
                rows.append(_row(store, mode, got, note))
    finally:
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:  # busy copying its tables: it ignores SIGTERM meanwhile
                moto.kill()

    header = (
        "store behind uvicorn",
        "task runs reported",
        "per task: median (range)",
        "warm-up flow, per task",
        "requests/task",
        "per flow run",
        "note",
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
