"""Runs made with no server are served later by `mintaka server start`; several processes
share the embedded store while the server reads it, with no lock errors and nothing lost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def cli_env(home: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    return {**env, "MINTAKA_HOME": str(home)}


WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    from mintaka import flow, task

    @task(retries=1)
    def square(x):
        return x * x

    @flow
    def crunch(worker: int, i: int):
        return sum(square.map(range(8)).result()) + square(worker)

    for i in range(int(sys.argv[2])):
        crunch(int(sys.argv[1]), i)
    print("done")
    """
)


def test_runs_made_without_a_server_are_listed_by_the_server_and_cli(mintaka_home, start_cli_server, run_cli):
    example = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "etl.py")],
        env=cli_env(mintaka_home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    run_id = re.search(r"flow run id: ([0-9a-f-]{36})", example.stdout).group(1)
    assert "result: {'loaded': 10, 'sum_of_squares': 385" in example.stdout

    server = start_cli_server()
    page = httpx.get(f"{server.url}/flow_runs", params={"flow_name": "etl"}).json()
    assert [r["id"] for r in page["items"]] == [run_id]
    detail = httpx.get(f"{server.url}/flow_runs/{run_id}").json()
    assert detail["state"]["type"] == "COMPLETED"
    assert [s["name"] for s in detail["states"]] == ["Pending", "Running", "Completed"]
    extract = next(t for t in detail["task_runs"] if t["name"] == "extract-0")
    states = httpx.get(f"{server.url}/task_runs/{extract['id']}/states").json()
    assert [s["name"] for s in states] == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]

    listed = run_cli("flow-run", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    flows = {r["flow_name"] for r in json.loads(listed.stdout)}
    assert flows == {"etl", "load"}


def test_four_processes_share_the_store_while_the_server_reads(mintaka_home, start_cli_server, run_cli):
    server = start_cli_server()
    runs_each = 10
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(n), str(runs_each)],
            env=cli_env(mintaka_home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    reads = 0
    while any(w.poll() is None for w in workers):
        response = httpx.get(f"{server.url}/flow_runs", params={"limit": 50}, timeout=30)
        assert response.status_code == 200
        reads += 1
        time.sleep(0.02)
    outputs = [w.communicate() for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.strip() == "done"
        assert "locked" not in err.lower() and "Traceback" not in err
    assert reads > 0

    completed = httpx.get(
        f"{server.url}/flow_runs", params={"flow_name": "crunch", "state_type": "COMPLETED", "limit": 500}
    ).json()["items"]
    assert len(completed) == 4 * runs_each
    assert sorted({(r["parameters"]["worker"], r["parameters"]["i"]) for r in completed}) == sorted(
        (w, i) for w in range(4) for i in range(runs_each)
    )
    for run in completed[:5]:
        detail = httpx.get(f"{server.url}/flow_runs/{run['id']}").json()
        assert len(detail["task_runs"]) == 9
        assert all(t["state"]["type"] == "COMPLETED" for t in detail["task_runs"])
    listed = run_cli("flow-run", "ls", "--flow", "crunch", "--limit", "500", "--json")
    assert len(json.loads(listed.stdout)) == 4 * runs_each
