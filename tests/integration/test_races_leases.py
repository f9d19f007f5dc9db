"""Racers for a silent holder's slot: many task runs find a full limit whose only holder's lease
has lapsed, and all try to take the slot back at once. Exactly one gets it, every round; the
others are told to wait. Run on SQLite and on DynamoDB Local (a real engine: moto does not
isolate concurrent transactions, so it is left out)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from mintaka.schemas import ConcurrencyLimitCreate, FlowRunCreate, SetStateRequest, SetStateStatus, TaskRunCreate
from mintaka.states import State, StateType, utcnow
from mintaka_server.services import OrchestrationService

RACERS, ROUNDS = 8, 5


def start_holding(service: OrchestrationService, tag: str, interval: float):
    """A flow run started by a process beating every `interval` s, with a task run holding `tag`."""
    run = service.create_flow_run(
        FlowRunCreate(flow_name="race", state=State(type=StateType.RUNNING), heartbeat_interval=interval)
    )
    task = service.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="t", tags=[tag]))
    return run, task


def race_to_start(service: OrchestrationService, task_runs) -> list[SetStateStatus]:
    """Every task run proposes RUNNING at the same moment, once; their answers."""
    answers: list[SetStateStatus] = []
    barrier = threading.Barrier(len(task_runs))

    def race(task_run):
        barrier.wait()
        answers.append(
            service.set_task_run_state(task_run.id, SetStateRequest(state=State(type=StateType.RUNNING))).status
        )

    threads = [threading.Thread(target=race, args=(run,)) for run in task_runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_racers_for_a_silent_holders_slot_have_one_winner_every_round(store, store_name):
    if store_name == "dynamodb":
        pytest.skip("moto runs concurrent transactions without isolation; DynamoDB Local is the real engine")
    an_hour_ago = OrchestrationService(store, clock=lambda: utcnow() - dt.timedelta(hours=1))
    now = OrchestrationService(store)
    for round_ in range(ROUNDS):
        tag = f"gpu-{round_}"
        now.set_concurrency_limit(ConcurrencyLimitCreate(tag=tag, limit=1))
        dead, dead_task = start_holding(an_hour_ago, tag, interval=1)  # its lease lapsed an hour ago
        running = SetStateRequest(state=State(type=StateType.RUNNING))
        assert an_hour_ago.set_task_run_state(dead_task.id, running).status is SetStateStatus.ACCEPT
        racers = [start_holding(now, tag, interval=3600)[1] for _ in range(RACERS)]
        answers = race_to_start(now, racers)
        assert sorted(answers) == sorted([SetStateStatus.ACCEPT] + [SetStateStatus.WAIT] * (RACERS - 1)), answers
        assert now.read_concurrency_limit(tag).active_slots == 1
        assert [h.lessee for h in store.read_slot_holders(tag)] != [dead.id]
        assert now.read_flow_run(dead.id).state.type is StateType.CRASHED
        assert now.read_task_run(dead_task.id).state.type is StateType.CRASHED
