"""Races on one SQLite file through the real service: exactly one winner per transition, no lost
update, and concurrency slots that never overfill — across processes and across threads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from support.races import SlotOccupancy

from mintaka.schemas import (
    ConcurrencyLimitCreate,
    FlowRunCreate,
    SetStateRequest,
    SetStateStatus,
    TaskRunCreate,
)
from mintaka.states import State, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

ACCEPT, REJECT, WAIT = SetStateStatus.ACCEPT, SetStateStatus.REJECT, SetStateStatus.WAIT

# Each racer is its own OS process with its own connection to the file. It waits for the go
# signal (a file appearing) so that both are past their imports before the race starts.
RACER = """
import json, os, random, sys, time, uuid
from pathlib import Path
from mintaka.schemas import SetStateRequest
from mintaka.states import State, StateType
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

db, ids_file, go, name = sys.argv[1:5]
service = OrchestrationService(SQLiteStore(db))
run_ids = [uuid.UUID(line) for line in Path(ids_file).read_text().split()]
random.Random(name).shuffle(run_ids)  # each racer its own order: both win some, collide on some
print("ready", flush=True)
deadline = time.monotonic() + 30
while not os.path.exists(go):  # spin: both racers must leave the line together
    if time.monotonic() > deadline:
        sys.exit("no go signal")
answers = []
for run_id in run_ids:
    body = SetStateRequest(state=State(type=StateType.RUNNING, message=name))
    answer = service.set_flow_run_state(run_id, body)
    answers.append([str(run_id), answer.status.value, answer.state.message])
print(json.dumps(answers), flush=True)
"""


def service_on(path: Path) -> OrchestrationService:
    """A service with its own store, i.e. its own SQLite connection, as a separate client has."""
    return OrchestrationService(SQLiteStore(path))


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "mintaka.db"


def start_threads(target, args_list) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=args, daemon=True) for args in args_list]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racer hung"


def test_two_processes_racing_to_run_the_same_flow_runs(db, tmp_path):
    setup = service_on(db)
    runs = [setup.create_flow_run(FlowRunCreate(flow_name="race")) for _ in range(50)]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(str(run.id) for run in runs))
    go = tmp_path / "go"

    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(db), str(ids_file), str(go), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("A", "B")
    ]
    try:
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
        go.touch()
        outputs = [racer.communicate(timeout=60) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    for racer, (_, err) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, err
        assert "locked" not in err

    answers = [tuple(a) for out, _ in outputs for a in json.loads(out)]
    assert len(answers) == 100
    accepts = Counter(run_id for run_id, status, _ in answers if status == ACCEPT)
    assert {uuid.UUID(i) for i in accepts} == {run.id for run in runs}
    assert set(accepts.values()) == {1}  # exactly one winner per run
    assert {status for _, status, _ in answers} <= {ACCEPT, REJECT}

    for run in runs:
        stored = setup.read_flow_run(run.id)
        states = setup.read_flow_run_states(run.id)
        assert [s.type for s in states] == [StateType.PENDING, StateType.RUNNING]
        assert stored.run_count == 1 and stored.state_version == 1
        # The loser was answered with the winner's state, not its own.
        for run_id, _, message in answers:
            if run_id == str(run.id):
                assert message == stored.state.message
    assert {setup.read_flow_run(r.id).state.message for r in runs} <= {"A", "B"}


def test_threads_racing_transitions_have_one_winner_and_lose_nothing(db):
    setup = service_on(db)
    runs = [setup.create_flow_run(FlowRunCreate(flow_name="race")) for _ in range(10)]
    steps = [StateType.RUNNING, StateType.COMPLETED]
    n_threads = 20
    barrier = threading.Barrier(n_threads)
    answers: list[tuple[int, uuid.UUID, int, SetStateStatus, uuid.UUID]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def racer(index: int) -> None:
        try:
            service = service_on(db)
            for step, state_type in enumerate(steps):
                barrier.wait(timeout=30)  # every racer finishes a step before the next one starts
                for run in runs[index % len(runs) :] + runs[: index % len(runs)]:
                    proposed = State(type=state_type, message=f"thread-{index}")
                    answer = service.set_flow_run_state(run.id, SetStateRequest(state=proposed))
                    with lock:
                        answers.append((step, run.id, index, answer.status, answer.state.id))
            service.store.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()

    join_all(start_threads(racer, [(i,) for i in range(n_threads)]))
    assert not errors, errors
    assert len(answers) == n_threads * len(runs) * len(steps)

    for run in runs:
        states = setup.read_flow_run_states(run.id)
        assert [s.type for s in states] == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
        stored = setup.read_flow_run(run.id)
        assert stored.state_version == 2 and stored.run_count == 1
        for step in range(len(steps)):
            mine = [a for a in answers if a[0] == step and a[1] == run.id]
            winners = [a for a in mine if a[3] is ACCEPT]
            assert len(winners) == 1, f"step {step}: {len(winners)} winners"
            assert all(a[3] is REJECT for a in mine if a not in winners)
            # No lost update: the winner's state is the one in history, and every loser was
            # answered with that same state.
            assert winners[0][4] == states[step + 1].id
            assert {a[4] for a in mine} == {states[step + 1].id}


def test_concurrency_limit_two_holds_under_a_thread_race(db):
    setup = service_on(db)
    setup.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=2))
    flow_run = setup.create_flow_run(FlowRunCreate(flow_name="limited"))
    setup.set_flow_run_state(flow_run.id, SetStateRequest(state=State(type=StateType.RUNNING)))
    task_runs = [
        setup.create_task_run(TaskRunCreate(flow_run_id=flow_run.id, task_key="t", dynamic_key=str(i), tags=["db"]))
        for i in range(16)
    ]
    n_threads = 8
    stop = threading.Event()
    errors: list[BaseException] = []
    occupancy = SlotOccupancy()

    def worker(index: int) -> None:
        try:
            service = service_on(db)
            for run in task_runs[index::n_threads]:
                occupancy.run_through_slot(service, run.id, hold=0.005, retry_sleep=0.002)
            service.store.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def monitor() -> None:
        store = SQLiteStore(db)
        while not stop.is_set():
            counter = store.read_concurrency_limits(["db"])["db"].active_slots
            running = sum(r.state.type is StateType.RUNNING for r in store.list_task_runs(flow_run.id))
            occupancy.sample(counter, running)
            time.sleep(0.001)
        store.close()

    watcher = start_threads(monitor, [()])
    join_all(start_threads(worker, [(i,) for i in range(n_threads)]))
    stop.set()
    join_all(watcher)
    assert not errors, errors

    occupancy.assert_limit_held(setup, task_runs, tag="db", limit=2)
