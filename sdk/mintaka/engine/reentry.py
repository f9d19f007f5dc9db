"""Re-entering a subflow cut off halfway: the replay of its parent runs it again as the same
subflow run, so that what completed in it returns its recorded result instead of running again.

A subflow of a replayable run (a deployment's: its context persists results) is created under an
idempotency key naming its stand-in, the task run that represents it in its parent. When the
parent executes again (requeued after its process was killed, continuing after its executor ran
out of time) and replays, a call whose stand-in did not end (RUNNING, or CRASHED with the run)
takes that stand-in back, and creating the subflow under the same key answers with the run made
before. That run, CRASHED (or still RUNNING: nothing beats for it any more), is proposed RUNNING
naming its crashed state (`reenters`, which the rules require); it starts a new attempt, which
recalls what completed in it (`engine.replay`), its own cut-off subflows included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mintaka.schemas import SetStateStatus
from mintaka.states import State, StateDetails, StateType

from .propose import propose

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.context import FlowRunContext
    from mintaka.schemas import FlowRun, TaskRun

# A stand-in whose subflow may have been cut off: it never ended, or ended with its flow run.
CUT_OFF = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CRASHED})
_REPLAYED = "its parent flow run is replaying it"


def is_cut_off_stand_in(task_run: TaskRun) -> bool:
    return task_run.task_key.startswith("subflow.") and task_run.state is not None and task_run.state.type in CUT_OFF


def subflow_key(parent: FlowRunContext, stand_in: TaskRun) -> str | None:
    """The subflow run's idempotency key: only in a replayable run (one that persists results)."""
    return f"subflow/{stand_in.id}" if parent.persist_results else None


def take_back_stand_in(
    client: MintakaClient, parent: FlowRunContext, call_key: tuple[str, int] | None
) -> TaskRun | None:
    """The stand-in an earlier execution made for this call, running again; None: make a new one."""
    stand_in = parent.cut_off.pop(call_key, None) if call_key is not None else None
    if stand_in is None:
        return None
    state = stand_in.state
    if state.type is StateType.RUNNING:
        return stand_in
    details = StateDetails(reenters=state.id) if state.type is StateType.CRASHED else StateDetails()
    running = State(type=StateType.RUNNING, message=f"Re-entered: {_REPLAYED}", state_details=details)
    answer = propose(client, "task_run", stand_in.id, running)
    return stand_in if answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING else None


def reenter(client: MintakaClient, run: FlowRun) -> FlowRun:
    """The subflow run an earlier execution made, RUNNING again as a new attempt if it was cut
    off; as it is otherwise (it ended: its own state stands, and the engine's start gets it)."""
    state = run.state
    if state.type is StateType.RUNNING:  # the reaper has not got to it yet: nothing runs it any more
        crashed = State(type=StateType.CRASHED, message=f"Cut off: {_REPLAYED}")
        state = propose(client, "flow_run", run.id, crashed).state
    if state.type is not StateType.CRASHED:
        return run.model_copy(update={"state": state})
    running = State(
        type=StateType.RUNNING, message=f"Re-entered: {_REPLAYED}", state_details=StateDetails(reenters=state.id)
    )
    answer = propose(client, "flow_run", run.id, running)
    if answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING:
        return run.model_copy(update={"state": answer.state, "run_count": run.run_count + 1})
    return run.model_copy(update={"state": answer.state})
