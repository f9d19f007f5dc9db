"""Flows ride out API outages (issue 8): a flow run as its own `python script.py` process over
HTTP keeps going while its API server is killed for 30 s and started again on the same port
and file, or while a proxy answers 502 for 60 s; every task run, state and log line is
recorded exactly once, and the user sees one warning when the API goes and one when it is
back. Past `MINTAKA_API_OUTAGE_TOLERANCE` the run ends CRASHED, reported once the API answers.
Answers lost after the server acted (a proposal, a log batch) are retried without doubling."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from support.api_process import ApiProcess, FlowScript, clean_env, wait_until
from support.flaky_proxy import FlakyProxy

from mintaka.client.http import HttpTransport
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

TASKS = 40
WARN_AWAY = "is unavailable"
# A running flow run holds a lease: the server takes it for lost after three heartbeat intervals
# of silence. A restarting server first gives every live lease a fresh term, so a short interval
# rides out a server down for 30 s. A network outage with the server up is indistinguishable from
# a dead process: with the default interval (10 s) the reaper ends the run CRASHED during a 60 s
# outage, and the run's process, back in touch, revives it.
SHORT_LEASE = "2"
WARN_BACK = "is back after"

FLOW_SCRIPT = """
import os
import time

from mintaka import flow, get_run_logger, task

TASKS = int(os.environ["TEST_TASKS"])
PAUSE = float(os.environ["TEST_TASK_PAUSE"])


@task
def step(i):
    get_run_logger().info("task %d done", i)
    time.sleep(PAUSE)
    if os.environ.get("TEST_LOG_AFTER_PAUSE"):
        get_run_logger().info("task %d slept", i)
    return i


@flow(name="outage")
def main():
    total = 0
    for i in range(0, TASKS, 2):  # two task runs at a time: two threads meet the outage
        pair = [step.submit(i), step.submit(i + 1)]
        total += sum(f.result() for f in pair)
        get_run_logger().info("pair %d done", i // 2)
    return total


if __name__ == "__main__":
    print("RESULT", main(), flush=True)
"""


ASYNC_FLOW_SCRIPT = """
import asyncio
import os

from mintaka import flow, get_run_logger, task

TASKS = int(os.environ["TEST_TASKS"])
PAUSE = float(os.environ["TEST_TASK_PAUSE"])


@task
async def step(i):
    get_run_logger().info("task %d done", i)
    await asyncio.sleep(PAUSE)
    return i


@flow(name="outage")
async def main():
    total = 0
    for i in range(0, TASKS, 2):  # two task runs at a time, gathered on the event loop
        total += sum(await asyncio.gather(step(i), step(i + 1)))
        get_run_logger().info("pair %d done", i // 2)
    return total


if __name__ == "__main__":
    print("RESULT", asyncio.run(main()), flush=True)
"""


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def api(home):
    server = ApiProcess(home)
    server.start()
    yield server
    server.stop()


def start_flow(
    tmp_path: Path, home: Path, api_url: str, pause: float = 0.2, source: str = FLOW_SCRIPT, **env: str
) -> FlowScript:
    script = tmp_path / "outage_flow.py"
    script.write_text(source)
    environment = clean_env(
        home,
        MINTAKA_API_URL=api_url,
        MINTAKA_LOG_SPOOL_DIR=str(tmp_path / "spool"),
        TEST_TASKS=str(TASKS),
        TEST_TASK_PAUSE=str(pause),
        **env,
    )
    return FlowScript(script, environment)


def task_runs_recorded(client: HttpTransport) -> int:
    runs = client.list_flow_runs(FlowRunFilter(flow_name="outage")).items
    return len(client.read_flow_run_detail(runs[0].id).task_runs) if runs else 0


def the_run(client: HttpTransport):
    (run,) = client.list_flow_runs(FlowRunFilter(flow_name="outage")).items
    return run


def assert_recorded_once(client: HttpTransport) -> None:
    """The run completed; 40/40 task runs; every state and every log line exactly once."""
    run = the_run(client)
    assert run.state.type is StateType.COMPLETED, run.state
    assert [s.type for s in client.read_flow_run_states(run.id)] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]
    task_runs = client.read_flow_run_detail(run.id).task_runs
    assert sorted(int(t.dynamic_key) for t in task_runs) == list(range(TASKS))
    for task_run in task_runs:
        states = [s.type for s in client.read_task_run_states(task_run.id)]
        assert states == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED], (task_run.name, states)
    messages = Counter(log.message for log in client.read_logs(run.id, limit=1000))
    assert {f"task {i} done" for i in range(TASKS)} <= set(messages)
    assert {f"pair {i} done" for i in range(TASKS // 2)} <= set(messages)
    doubled = {m: n for m, n in messages.items() if n > 1}
    assert doubled == {}


def assert_revived_and_recorded_once(client: HttpTransport) -> None:
    """The run was reaped during the outage and revived by its process: Running, Crashed,
    Running, Completed; its task runs in flight the same way, the others as usual; 40/40 task
    runs, every log line once."""
    run = the_run(client)
    assert run.state.type is StateType.COMPLETED, run.state
    flow_states = client.read_flow_run_states(run.id)
    assert [s.type for s in flow_states] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.CRASHED,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]
    assert flow_states[2].state_details.reaped and "No heartbeat" in flow_states[2].message
    assert flow_states[3].state_details.revives == flow_states[2].id
    assert run.run_count == 1 and run.end_time == flow_states[4].timestamp
    task_runs = client.read_flow_run_detail(run.id).task_runs
    assert sorted(int(t.dynamic_key) for t in task_runs) == list(range(TASKS))
    plain = [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
    revived = [StateType.PENDING, StateType.RUNNING, StateType.CRASHED, StateType.RUNNING, StateType.COMPLETED]
    histories = [[s.type for s in client.read_task_run_states(t.id)] for t in task_runs]
    assert all(h in (plain, revived) for h in histories), histories
    assert revived in histories  # the pair in flight when the run was reaped
    messages = Counter(log.message for log in client.read_logs(run.id, limit=1000))
    assert {f"task {i} done" for i in range(TASKS)} <= set(messages)
    assert {m: n for m, n in messages.items() if n > 1} == {}


def assert_two_warnings(stderr: str) -> None:
    assert stderr.count(WARN_AWAY) == 1, stderr
    assert stderr.count(WARN_BACK) == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert "WARNING" in stderr


def test_server_killed_for_30_s_mid_flow(tmp_path, home, api):
    client = HttpTransport(api.url, retries=0)
    flow = start_flow(tmp_path, home, api.url, MINTAKA_HEARTBEAT_INTERVAL=SHORT_LEASE)
    try:
        wait_until(lambda: task_runs_recorded(client) >= 10, 60, "10 task runs")
        api.kill()
        time.sleep(30)
        api.start()  # the same port, the same SQLite file
        assert flow.wait(180) == 0, flow.stderr
    finally:
        flow.kill()
    assert f"RESULT {sum(range(TASKS))}" in flow.stdout
    assert_recorded_once(client)
    assert_two_warnings(flow.stderr)
    away = float(re.search(r"is back after (\d+\.\d) s", flow.stderr).group(1))  # says how long
    assert 30 <= away < 60
    client.close()


def test_60_s_of_502_from_a_proxy_mid_flow_the_reaped_run_is_revived(tmp_path, home, api):
    """The default heartbeat (10 s): silent for 30 s, the run is reaped while the proxy fails;
    its process finds that when the API is back, revives it, and the flow completes."""
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(api.url, retries=0)
        flow = start_flow(tmp_path, home, f"{base}/api")
        try:
            wait_until(lambda: task_runs_recorded(client) >= 10, 60, "10 task runs")
            proxy.failing = True
            time.sleep(60)
            assert proxy.requests, "the flow talks through the proxy"
            proxy.failing = False
            assert flow.wait(180) == 0, flow.stderr
        finally:
            flow.kill()
    assert f"RESULT {sum(range(TASKS))}" in flow.stdout
    assert_revived_and_recorded_once(client)
    assert_two_warnings(flow.stderr)
    assert flow.stderr.count("was declared lost while the API was out of reach; resumed") == 1, flow.stderr
    client.close()


def test_an_async_flow_rides_out_502s_the_same_way(tmp_path, home, api):
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(api.url, retries=0)
        flow = start_flow(tmp_path, home, f"{base}/api", source=ASYNC_FLOW_SCRIPT)
        try:
            wait_until(lambda: task_runs_recorded(client) >= 10, 60, "10 task runs")
            proxy.failing = True
            time.sleep(8)
            proxy.failing = False
            assert flow.wait(120) == 0, flow.stderr
        finally:
            flow.kill()
    assert f"RESULT {sum(range(TASKS))}" in flow.stdout
    assert_recorded_once(client)
    assert_two_warnings(flow.stderr)
    client.close()


def test_an_outage_past_the_tolerance_ends_the_run_crashed(tmp_path, home, api):
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(api.url, retries=0)
        flow = start_flow(tmp_path, home, f"{base}/api", MINTAKA_API_OUTAGE_TOLERANCE="3")
        try:
            wait_until(lambda: task_runs_recorded(client) >= 4, 60, "4 task runs")
            proxy.failing = True
            time.sleep(10)  # well past 3 s: the flow gave up, and keeps trying to say so
            assert the_run(client).state.type is StateType.RUNNING  # nobody could tell the API yet
            proxy.failing = False
            code = flow.wait(120)
        finally:
            flow.kill()
    run = the_run(client)
    assert run.state.type is StateType.CRASHED
    assert f"The Mintaka API at {base}/api was unreachable for more than 3 s" in run.state.message
    assert code != 0
    assert "Traceback" not in flow.stderr, flow.stderr
    error_lines = [line for line in flow.stderr.splitlines() if line.startswith("mintaka: error:")]
    assert error_lines == [f"mintaka: error: The Mintaka API at {base}/api was unreachable for more than 3 s"]
    assert flow.stderr.count(WARN_AWAY) == 1
    client.close()


def test_lost_answers_of_a_proposal_and_a_log_batch_are_recorded_once(tmp_path, home, api):
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(api.url, retries=0)
        flow = start_flow(tmp_path, home, f"{base}/api", pause="0.1")
        try:
            wait_until(lambda: task_runs_recorded(client) >= 4, 60, "4 task runs")
            proxy.drop_after_forwarding("/set_state")
            proxy.drop_after_forwarding("/logs")
            assert flow.wait(120) == 0, flow.stderr
        finally:
            flow.kill()
    assert sorted(path.rsplit("/", 1)[-1] for _, path, _ in proxy.dropped) == ["logs", "set_state"]
    # Each lost request was sent again, unchanged (the same idempotency key, the same log ids).
    for request in proxy.dropped:
        assert proxy.requests.count(request) == 2
    assert_recorded_once(client)
    assert "Traceback" not in flow.stderr, flow.stderr
    client.close()


def test_log_records_the_api_could_not_take_are_delivered_by_the_next_process(tmp_path, home, api):
    """A flow whose API vanished for good keeps its log lines in the spool on exit; the next
    Mintaka process using that API delivers them, each once."""
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(api.url, retries=0)
        flow = start_flow(
            tmp_path, home, f"{base}/api", pause="1.5", MINTAKA_API_OUTAGE_TOLERANCE="2", TEST_LOG_AFTER_PAUSE="1"
        )
        try:
            wait_until(lambda: "task 4 done" in flow.stderr, 60, "task 4 to start", interval=0.05)
            proxy.failing = True  # task 4 logs again after its pause: that line cannot reach the API
            assert flow.wait(150) != 0  # gave up: the window, then the crash report's grace
        finally:
            flow.kill()
        assert list((tmp_path / "spool").rglob("*.jsonl")), flow.stderr
        emitted = set(re.findall(r"task \d+ (?:done|slept)", flow.stderr))  # the console shows every line
        run = the_run(client)
        before = {log.message for log in client.read_logs(run.id, limit=1000)}
        assert "task 4 slept" in emitted - before, "a line made while the API was away waits in the spool"
        proxy.failing = False
        again = start_flow(tmp_path, home, f"{base}/api", pause="0")  # the next process, same API
        assert again.wait(120) == 0, again.stderr
    after = Counter(log.message for log in client.read_logs(run.id, limit=1000))
    assert emitted <= set(after)
    assert {m: n for m, n in after.items() if n > 1} == {}
    assert not [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    client.close()


def test_a_worker_keeps_polling_through_an_outage(tmp_path, home, api):
    """`mintaka worker start` behind a proxy answering 502: one warning, polls on (its loop
    never blocks on the API, so it keeps reaping and answering signals), one when it is back."""
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        output = tmp_path / "worker.log"

        def polls() -> int:
            return sum(1 for _, path, _ in proxy.requests if path.split("?")[0].endswith("/get_runs"))

        with output.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "mintaka.cli", "worker", "start", "-q", "outage-q", "--poll-interval", "0.5"],
                env=clean_env(home, MINTAKA_API_URL=f"{base}/api", PYTHONUNBUFFERED="1"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: polls() >= 2, 60, "the worker's first polls")
            proxy.failing = True
            during = polls()
            wait_until(lambda: polls() >= during + 4, 30, "polls while the API is away")
            proxy.failing = False
            after = polls()
            wait_until(lambda: polls() >= after + 2, 30, "polls once the API is back")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    log = output.read_text()
    assert log.count(WARN_AWAY) == 1, log
    assert log.count(WARN_BACK) == 1, log
    assert "Traceback" not in log and "Could not poll" not in log, log


DEPLOYED_FLOW = """
import time

from mintaka import flow, get_run_logger, task


@task
def step(i):
    get_run_logger().info("task %d done", i)
    time.sleep(0.5)
    return i


@flow(name="deployed-outage")
def main():
    return sum(step(i) for i in range(12))
"""


def test_a_deployed_run_rides_out_an_outage_on_a_worker(tmp_path, home, api):
    """`mintaka worker start` and the `flow-run execute` process it starts, both behind a proxy
    that answers 502 for 15 s in the middle of the run: the run completes, each once."""
    (tmp_path / "deployed_outage.py").write_text(DEPLOYED_FLOW)
    cli = [sys.executable, "-m", "mintaka.cli"]
    deploy = [*cli, "deploy", f"{tmp_path / 'deployed_outage.py'}:main", "--name", "ride", "--queue", "rq"]
    env = clean_env(home, MINTAKA_API_URL=api.url)
    subprocess.run(deploy, env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*cli, "deployment", "run", "deployed-outage/ride"], env=env, check=True, capture_output=True)
    client = HttpTransport(api.url, retries=0)
    proxy = FlakyProxy(api.url.removesuffix("/api"))
    with proxy.serving() as base:
        output = tmp_path / "worker.log"
        with output.open("w") as out:
            worker = subprocess.Popen(
                [*cli, "worker", "start", "-q", "rq", "--poll-interval", "0.5"],
                env=clean_env(home, MINTAKA_API_URL=f"{base}/api", PYTHONUNBUFFERED="1"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:

            def run():
                return client.list_flow_runs(FlowRunFilter(flow_name="deployed-outage")).items[0]

            wait_until(lambda: len(client.read_flow_run_detail(run().id).task_runs) >= 3, 90, "3 task runs")
            proxy.failing = True
            time.sleep(15)
            proxy.failing = False
            wait_until(lambda: run().state is not None and run().state.is_final(), 120, "the run to end")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    log = output.read_text()
    finished = run()
    assert finished.state.type is StateType.COMPLETED, log
    task_runs = client.read_flow_run_detail(finished.id).task_runs
    assert sorted(int(t.dynamic_key) for t in task_runs) == list(range(12))
    for task_run in task_runs:
        states = [s.type for s in client.read_task_run_states(task_run.id)]
        assert states == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED], (task_run.name, states)
    history = [s.type for s in client.read_flow_run_states(finished.id)]
    assert history.count(StateType.RUNNING) == 1 and history[-1] is StateType.COMPLETED, history
    messages = Counter(log.message for log in client.read_logs(finished.id, limit=1000))
    assert {f"task {i} done" for i in range(12)} <= set(messages)
    assert {m: n for m, n in messages.items() if n > 1} == {}
    assert "Traceback" not in log, log
    assert log.count(WARN_AWAY) >= 1 and log.count(WARN_AWAY) == log.count(WARN_BACK), log
    client.close()


def test_each_log_id_is_stored_once_over_http(api):
    """The server side of exactly-once: a batch sent twice stores its lines once."""
    from mintaka.schemas import FlowRunCreate, LogCreate

    client = HttpTransport(api.url, retries=0)
    run = client.create_flow_run(FlowRunCreate(flow_name="logs-once"))
    batch = [LogCreate(id=uuid.uuid4(), flow_run_id=run.id, message=f"line {i}") for i in range(3)]
    client.create_logs(batch)
    client.create_logs(batch)
    assert [log.message for log in client.read_logs(run.id)] == ["line 0", "line 1", "line 2"]
    client.close()
