"""`mintaka server start --store dynamodb` serves the same API on DynamoDB; a script and the CLI
reach it over HTTP exactly as they reach the embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import httpx
from support.servers import free_port

SCRIPT = textwrap.dedent(
    """
    from mintaka import flow, task

    @task(retries=1, retry_delay_seconds=0)
    def flaky(box=[]):
        box.append(1)
        if len(box) == 1:
            raise RuntimeError("first try fails")
        return 21

    @flow
    def answer():
        return flaky() * 2

    print(answer())
    """
)


def test_server_on_dynamodb_serves_sdk_and_cli(dynamodb_endpoint, tmp_path):
    from mintaka_server.storage.dynamodb import DynamoDBStore

    prefix = f"e2e{uuid.uuid4().hex[:8]}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(
        MINTAKA_HOME=str(tmp_path),
        MINTAKA_TABLE_PREFIX=prefix,
        AWS_ENDPOINT_URL=dynamodb_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    port = free_port()
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
            "dynamodb",
            "--create-table",
            "--scheduler-interval",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise AssertionError(server.communicate()[0]) from None
                import time

                time.sleep(0.1)
        client_env = {**env, "MINTAKA_API_URL": api}
        ran = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=client_env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "42"

        listed = subprocess.run(
            [sys.executable, "-m", "mintaka.cli", "flow-run", "ls", "--json"],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        [run] = json.loads(listed.stdout)
        assert run["flow_name"] == "answer" and run["state"]["type"] == "COMPLETED"
        detail = httpx.get(f"{api}/flow_runs/{run['id']}").json()
        [task_run] = detail["task_runs"]
        states = [s["name"] for s in httpx.get(f"{api}/task_runs/{task_run['id']}/states").json()]
        assert states == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert f"DynamoDB table {prefix}mintaka" in output
    # The data is in DynamoDB, not in a SQLite file.
    assert not (tmp_path / "mintaka.db").exists()
    store = DynamoDBStore(f"{prefix}mintaka", endpoint_url=dynamodb_endpoint)
    assert store.read_flow_run(uuid.UUID(run["id"])).state.type.value == "COMPLETED"
    store.delete_table()
