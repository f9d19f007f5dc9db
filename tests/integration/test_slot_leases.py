"""Concurrency slots are leases: a process killed (`kill -9`) while its task runs hold every slot
of a tag does not block the tag for good. Real processes (plain `python script.py` runs), a real
SQLite file, real signals; no reaper runs: the next acquirer takes the slots back in its own
write, and ends the silent run and its task runs CRASHED. Over HTTP too (a server without a
scheduler). Heartbeat interval 1 s, so a lease lapses 3 s after the last beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from mintaka.schemas import ConcurrencyLimitCreate, FlowRunFilter
from mintaka.states import StateType

pytestmark = pytest.mark.slow

INTERVAL = 1.0
HOLDERS, WAITERS, LIMIT = 3, 5, 3

SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    from mintaka import flow, task


    @task(tags=["gpu"])
    def hold(i: int) -> int:
        print(f"holding {i}", flush=True)
        time.sleep(600)
        return i


    @task(tags=["gpu"])
    def use() -> str:
        return "done"


    @flow
    def holder() -> list[int]:
        return [f.result() for f in [hold.submit(i) for i in range(3)]]


    @flow
    def waiter() -> str:
        return use()


    if __name__ == "__main__":
        print(holder() if sys.argv[1] == "holder" else waiter(), flush=True)
    """
)


@pytest.fixture(params=["embedded", "http"])
def setup(request, tmp_path):
    """(environment for the scripts, a client in this process) on one SQLite file."""
    from mintaka.client.embedded import EmbeddedTransport

    database = tmp_path / "mintaka.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(MINTAKA_HOME=str(tmp_path / "home"), MINTAKA_DATABASE=str(database))
    env["MINTAKA_HEARTBEAT_INTERVAL"] = str(INTERVAL)
    client = EmbeddedTransport(database)
    if request.param == "embedded":
        yield env, client
    else:
        from support.servers import serve_in_thread

        from mintaka_server.api import create_app

        with serve_in_thread(create_app(client.service)) as base:
            env["MINTAKA_API_URL"] = f"{base}/api"
            yield env, client
    client.close()


def start(script: Path, role: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), role], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_slots_of_a_killed_process_come_back_to_the_processes_waiting_for_them(setup, tmp_path):
    env, client = setup
    script = tmp_path / "gpu_flows.py"
    script.write_text(SCRIPT)
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=LIMIT))

    holder = start(script, "holder", env)
    wait_until(lambda: client.read_concurrency_limit("gpu").active_slots == LIMIT, 60, "the holder to take 3/3")
    waiters = [start(script, "waiter", env) for _ in range(WAITERS)]
    # They wait, past the 3-interval lease: the holder is alive and its heartbeat renews it.
    time.sleep(5 * INTERVAL)
    assert all(w.poll() is None for w in waiters)
    [alive] = client.list_flow_runs(FlowRunFilter(flow_name="holder")).items
    assert alive.state.type is StateType.RUNNING
    assert client.read_concurrency_limit("gpu").active_slots == LIMIT

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    killed_at = time.monotonic()
    for waiter in waiters:
        output, _ = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, output
        assert "done" in output
    took = time.monotonic() - killed_at
    # The lease lapses 3 intervals after the last beat; then the waiters (polling every 0.5 s)
    # take the slots. Generous bound for a loaded machine; the figure is printed.
    print(f"{WAITERS} waiters finished {took:.1f} s after the holder was killed (interval {INTERVAL} s)")
    assert took < 3 * INTERVAL + 30

    [dead] = client.list_flow_runs(FlowRunFilter(flow_name="holder")).items
    dead = client.read_flow_run_detail(dead.id)
    assert dead.state.type is StateType.CRASHED and "No heartbeat" in dead.state.message
    assert [t.state.type for t in dead.task_runs] == [StateType.CRASHED] * HOLDERS
    waited = client.list_flow_runs(FlowRunFilter(flow_name="waiter")).items
    assert [r.state.type for r in waited] == [StateType.COMPLETED] * WAITERS
    assert client.read_concurrency_limit("gpu").active_slots == 0


FLOWLESS_SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    from mintaka import task
    from mintaka.context import get_run_context


    @task(tags=["gpu"])
    def hold() -> None:
        print(f"holding {get_run_context().task_run.id}", flush=True)
        time.sleep(600)


    @task(tags=["gpu"])
    def use() -> str:
        return "done"


    if __name__ == "__main__":
        print(hold() if sys.argv[1] == "holder" else use(), flush=True)
    """
)


def test_a_task_called_outside_any_flow_holds_its_slot_by_a_lease_of_its_own(setup, tmp_path):
    """No flow run beats for a task called on its own: its process beats for the task run, so a
    `kill -9` gives its slot back instead of blocking the tag for good."""
    env, client = setup
    script = tmp_path / "gpu_tasks.py"
    script.write_text(FLOWLESS_SCRIPT)
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="gpu", limit=1))

    holder = start(script, "holder", env)
    line = holder.stdout.readline()
    assert line.startswith("holding "), line
    task_run_id = uuid.UUID(line.split()[1])
    wait_until(lambda: client.read_concurrency_limit("gpu").active_slots == 1, 60, "the holder to take 1/1")
    waiter = start(script, "waiter", env)
    time.sleep(5 * INTERVAL)  # past the 3-interval lease: the holder's heartbeat keeps its slot
    assert waiter.poll() is None
    assert client.read_task_run(task_run_id).state.type is StateType.RUNNING

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    output, _ = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, output
    assert "done" in output
    dead = client.read_task_run(task_run_id)
    assert dead.state.type is StateType.CRASHED and "No heartbeat" in dead.state.message
    assert client.read_concurrency_limit("gpu").active_slots == 0
