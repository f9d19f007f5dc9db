"""Reviving a run the API reaped while this process was running it.

The API ends a flow run CRASHED once it has heard no heartbeat for three intervals: that frees
its concurrency slots for others within seconds of a `kill -9`. A process that was only cut off
from the API (a network outage with the server up looks the same from the server) is still
running the flow: when it reaches the API again, it finds its run reaped, proposes RUNNING naming
the reaped state, and goes on as the same attempt. History tells it as it happened: Running,
Crashed ("No heartbeat for ..."), Running ("Resumed ..."), then the run's end. The reaped run's
task runs in flight are revived with it. A run the API gave to another executor meanwhile (a
deployment's run requeued) is not revived: this process stops it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import TYPE_CHECKING

from mintaka.schemas import FlowRun, SetStateRequest, SetStateStatus
from mintaka.states import State, StateDetails, StateType

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import OrchestrationResult, TaskRun

logger = logging.getLogger("mintaka.flow_runs")
_REQUEUED = "Requeued"
_lock = threading.Lock()
_NOUNS = {"flow_run": "Flow run", "task_run": "Task run"}


def is_reaped(state: State | None) -> bool:
    """A state the reaper gave a run, that its executor may revive."""
    return (
        state is not None
        and bool(state.state_details.reaped)
        and state.type in (StateType.CRASHED, StateType.SCHEDULED)
        and state.name != _REQUEUED
    )


def beating_here(run_id: uuid.UUID | None) -> bool:
    """This process runs the run (its heartbeat beats for it)."""
    from .heartbeat import HEARTBEAT

    return run_id is not None and HEARTBEAT.is_beating(run_id)


def revive(client: MintakaClient, run: FlowRun | TaskRun) -> bool:
    """Revive `run` (a flow run, or a task run called outside any flow) if the API reaped it
    and this process runs it; True if it runs again."""
    if not is_reaped(run.state) or not beating_here(run.id):
        return False
    kind = "flow_run" if isinstance(run, FlowRun) else "task_run"
    from .heartbeat import heartbeat_interval

    with _lock:  # the heartbeat thread and a task's proposal may find it reaped at once
        current = client.read_flow_run(run.id) if kind == "flow_run" else client.read_task_run(run.id)
        if current.state_type is StateType.RUNNING:
            return True  # revived by the other one
        if not is_reaped(current.state):
            return False
        reaped = current.state
        message = f"Resumed: its executor was alive, only out of touch with the API ({reaped.message})"
        revival = State(type=StateType.RUNNING, message=message, state_details=StateDetails(revives=reaped.id))
        request = SetStateRequest(state=revival, heartbeat_interval=heartbeat_interval())
        setter = client.set_flow_run_state if kind == "flow_run" else client.set_task_run_state
        answer = setter(run.id, request)
    revived = answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING
    if revived:
        logger.warning("%s %s was declared lost while the API was out of reach; resumed", _NOUNS[kind], current.name)
    return revived


def revive_for_answer(client: MintakaClient, kind: str, run_id: uuid.UUID, answer: OrchestrationResult) -> bool:
    """After a refused proposal: revive the run behind it (the flow run, or a task run called
    outside any flow) if the API reaped it while this process ran it. True: propose again (once).
    Reads only after an answer the reaping explains: a reaped state, or a task refused its start
    (ABORT: its flow run is not running)."""
    state = answer.state
    if kind == "flow_run":
        if not is_reaped(state):
            return False
        flow_run_id = run_id
    else:
        if not (is_reaped(state) or answer.status is SetStateStatus.ABORT) or state is None:
            return False
        flow_run_id = state.state_details.flow_run_id
        if flow_run_id is None:  # outside any flow: the task run holds its own lease
            return is_reaped(state) and beating_here(run_id) and revive(client, client.read_task_run(run_id))
    if not beating_here(flow_run_id):
        return False
    flow_run = client.read_flow_run(flow_run_id)
    if revive(client, flow_run):
        return True
    # The heartbeat revived it (and this task run with it) since this answer was made.
    return kind == "task_run" and is_reaped(state) and flow_run.state_type is StateType.RUNNING
