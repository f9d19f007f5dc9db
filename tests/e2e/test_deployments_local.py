"""Deployments on a laptop, no AWS: `mintaka server start` fires schedules, `mintaka worker
start` runs them in subprocesses, `deployment run --watch` follows a run; git storage picks up
new commits without re-deploying; work queues cap concurrency and hold runs while paused.
Every process is real: the CLI as subprocesses, uvicorn serving the API."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
from deploy_support import EXAMPLE, spawn, wait_for  # noqa: F401 - spawn is a fixture

from mintaka.client.embedded import EmbeddedTransport
from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType

pytestmark = pytest.mark.slow


def ok(result):
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def runs_of(client, deployment: str, state: StateType | None = None):
    return client.list_flow_runs(FlowRunFilter(deployment_name=deployment, state_type=state, limit=500)).items


def log_messages(client, run_id) -> list[str]:
    return [log.message for log in client.read_logs(run_id)]


# -- (a) schedules fire on `server start`; a worker runs them; --watch follows a run


def test_interval_schedule_runs_on_a_worker_and_watch_follows_runs(start_cli_server, run_cli, spawn):  # noqa: F811
    server = start_cli_server()
    client = HttpTransport(server.url)
    ok(
        run_cli(
            "deploy", f"{EXAMPLE}:greet", "--name", "ticking", "--interval", "2", "--queue", "ticks",
            "--param", "name=Ticker", "--param", "times=2", "--tag", "demo",
            api_url=server.url,
        )
    )  # fmt: skip
    upcoming = wait_for(lambda: runs_of(client, "greet/ticking", StateType.SCHEDULED), 30, what="scheduled runs")
    assert all(run.idempotency_key.startswith("schedule:") for run in upcoming)
    assert len({run.expected_start_time for run in upcoming}) == len(upcoming)  # one run per fire time

    worker = spawn("worker", "start", "--queue", "ticks", "--poll-interval", "0.5", api_url=server.url)
    done = wait_for(
        lambda: runs_of(client, "greet/ticking", StateType.COMPLETED),
        90,
        what=lambda: f"a completed run: {worker.output()}",
    )[0]
    assert done.idempotency_key.startswith("schedule:")
    assert done.parameters == {"name": "Ticker", "times": 2}
    assert done.tags == ["demo"] and done.work_queue_name == "ticks"
    assert "greeting: Hello, Ticker! Hello, Ticker!" in log_messages(client, done.id)
    states = [s.name for s in client.read_flow_run_states(done.id)]
    assert states[0] == "Scheduled" and states[-3:] == ["Pending", "Running", "Completed"]
    ok(run_cli("deployment", "pause-schedule", "greet/ticking", api_url=server.url))

    watched = run_cli(
        "deployment", "run", "greet/ticking", "--param", "name=Watcher", "--watch", "--timeout", "90",
        api_url=server.url, timeout=120,
    )  # fmt: skip
    ok(watched)
    assert "Scheduled" in watched.stdout and "Completed" in watched.stdout
    [mine] = [r for r in runs_of(client, "greet/ticking") if r.parameters.get("name") == "Watcher"]
    assert mine.state.type is StateType.COMPLETED
    assert "greeting: Hello, Watcher! Hello, Watcher!" in log_messages(client, mine.id)

    ok(run_cli("deploy", f"{EXAMPLE}:broken", "--name", "once", "--queue", "ticks", api_url=server.url))
    failing = run_cli("deployment", "run", "broken/once", "--watch", "--timeout", "90", api_url=server.url, timeout=120)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Failed" in failing.stdout and "this flow always fails" in failing.stdout
    assert "Traceback" not in failing.stdout + failing.stderr


# -- (b) git storage: each run fetches the branch HEAD and records its commit


def git(repo, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


FLOW_V = """
from mintaka import flow, get_run_logger


@flow(persist_result=True, result_serializer="json")
def hello(who: str = "git") -> str:
    result = "{version} " + who
    get_run_logger().info("result: %s", result)
    return result
"""


def test_git_storage_runs_the_branch_head_and_records_the_commit(tmp_path, run_cli, mintaka_home):
    from mintaka.results import read_result

    repo = tmp_path / "repo"
    (repo / "flows").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "Test")
    (repo / "flows" / "hello.py").write_text(FLOW_V.format(version="v1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    first_sha = git(repo, "rev-parse", "HEAD")
    (repo / "flows" / "hello.py").write_text(FLOW_V.format(version="uncommitted"))  # not what runs

    deployed = ok(
        run_cli("deploy", f"{repo}/flows/hello.py:hello", "--name", "git", "--storage", f"git+file://{repo}@main")
    )
    assert "flows/hello.py:hello" in deployed.stdout
    first = json.loads(ok(run_cli("deployment", "run", "hello/git", "--param", "who=Ada", "--json")).stdout)
    executed = ok(run_cli("flow-run", "execute", first["id"]))
    assert first_sha[:12] in executed.stdout

    (repo / "flows" / "hello.py").write_text(FLOW_V.format(version="v2"))
    git(repo, "commit", "-qam", "v2")
    second_sha = git(repo, "rev-parse", "HEAD")
    second = json.loads(ok(run_cli("deployment", "run", "hello/git", "--param", "who=Bo", "--json")).stdout)
    ok(run_cli("worker", "start", "--run-once"))  # the worker path this time, no re-deploy

    client = EmbeddedTransport(mintaka_home / "mintaka.db")
    try:
        results = {}
        for run_id, sha in ((first["id"], first_sha), (second["id"], second_sha)):
            run = client.read_flow_run(uuid.UUID(run_id))
            assert run.state.type is StateType.COMPLETED, run.state
            assert run.labels["mintaka.git.commit"] == sha
            results[sha] = read_result(run.state.data)
            assert f"result: {results[sha]}" in log_messages(client, run.id)
        assert results == {first_sha: "v1 Ada", second_sha: "v2 Bo"}
    finally:
        client.close()


# -- (c) a work queue's concurrency limit: never more than 2 RUNNING


def test_queue_concurrency_limit_caps_running_runs(live_server, run_cli, spawn):  # noqa: F811
    url = live_server.url
    ok(run_cli("work-queue", "create", "pair", "--concurrency", "2", api_url=url))
    ok(run_cli("deploy", f"{EXAMPLE}:nap", "--name", "pair", "--queue", "pair", "--param", "seconds=1", api_url=url))
    client = HttpTransport(url)
    runs = [
        client.create_deployment_run("nap", "pair", DeploymentRunCreate(parameters={"label": f"nap-{i}"}))
        for i in range(10)
    ]
    seen: list[int] = []
    stop = threading.Event()

    def monitor():
        while not stop.is_set():
            seen.append(len(runs_of(client, "nap/pair", StateType.RUNNING)))
            stop.wait(0.05)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    worker = spawn("worker", "start", "--queue", "pair", "--limit", "10", "--poll-interval", "0.3", api_url=url)
    try:
        wait_for(
            lambda: len(runs_of(client, "nap/pair", StateType.COMPLETED)) == 10,
            150,
            what=lambda: f"10 completed runs: {worker.output()[-3000:]}",
        )
    finally:
        stop.set()
        watcher.join()
    assert max(seen) <= 2, seen
    assert max(seen) == 2  # the limit was reached, not merely never tested
    # From the record too: no instant had more than 2 runs between their start and end.
    finished = [client.read_flow_run(run.id) for run in runs]
    events = sorted([(r.start_time, 1) for r in finished] + [(r.end_time, -1) for r in finished])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2
    assert client.read_concurrency_limit("work-queue:pair").active_slots == 0


# -- (d) a paused queue releases nothing until resumed, then releases all of it


def test_paused_queue_holds_runs_until_resumed(live_server, run_cli, spawn):  # noqa: F811
    url = live_server.url
    ok(run_cli("work-queue", "create", "held", "--paused", api_url=url))
    ok(run_cli("deploy", f"{EXAMPLE}:nap", "--name", "held", "--queue", "held", "--param", "seconds=0.1", api_url=url))
    client = HttpTransport(url)
    runs = [client.create_deployment_run("nap", "held", DeploymentRunCreate()) for _ in range(4)]
    worker = spawn("worker", "start", "--queue", "held", "--poll-interval", "0.3", api_url=url)
    wait_for(lambda: "Worker polling" in worker.output(), 30, what="the worker to start")
    time.sleep(4)
    assert {client.read_flow_run(run.id).state.type for run in runs} == {StateType.SCHEDULED}
    assert "Submitted" not in worker.output()

    resumed = ok(run_cli("work-queue", "resume", "held", api_url=url))
    assert "Resumed" in resumed.stdout
    wait_for(
        lambda: {client.read_flow_run(run.id).state.type for run in runs} == {StateType.COMPLETED},
        90,
        what=lambda: f"all held runs to complete: {worker.output()[-3000:]}",
    )
    assert worker.output().count("Submitted flow run") == 4
