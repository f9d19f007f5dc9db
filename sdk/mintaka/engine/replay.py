"""Replay: a flow run that executes again in another process (requeued after its executor was
lost, resumed, retried by a new worker) runs its flow function from the top, and every task run
and subflow that already COMPLETED in it returns its recorded result instead of running.

A call is recognised by its call key, (task key, index of the call among that task's calls in
its attempt), which its task run's dynamic key spells: "3" in the first attempt, "3.2" in the
second (`FlowRunContext.next_keys`). Only completed runs whose result was persisted are
recalled (deployed runs persist them by default): one whose value was kept in memory only runs
again. Within one process a flow retry needs none of this (`FlowRunContext.completed`).
Pauses are recognised by their key the same way: one resumed before is not paused again. A
subflow cut off halfway is re-entered, and replays what completed in it (`engine.reentry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from mintaka.states import RESUMING, StateType

from .reentry import is_cut_off_stand_in
from .steps import Call, Machine

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.context import FlowRunContext
    from mintaka.schemas import TaskRun
    from mintaka.states import State


def call_key_of(task_run: TaskRun) -> tuple[str, int] | None:
    """The call key a task run's dynamic key spells, or None (not one this engine made)."""
    index, _, _ = task_run.dynamic_key.partition(".")
    return (task_run.task_key, int(index)) if index.isdigit() else None


def key_suffix_of(task_run: TaskRun) -> str:
    _, dot, suffix = task_run.dynamic_key.partition(".")
    return f"{dot}{suffix}"


def recallable(state: State | None) -> bool:
    """A completed run whose result was persisted, so another process can read it."""
    return state is not None and state.type is StateType.COMPLETED and state.data is not None


def completed_before(ctx: FlowRunContext, call_key: tuple[str, int] | None) -> State | None:
    """The state this call completed with in an earlier attempt, or None: it runs. A recalled
    result is read here: one that cannot be (written on another machine's disk, deleted, or
    failing its digest) is forgotten, and the call runs again instead of failing the flow."""
    done = ctx.completed.get(call_key) if call_key is not None else None
    if done is None or done._has_result or done.data is None:
        return done
    try:
        done.result()
    except Exception as exc:  # missing, untrusted, or no longer unpicklable by this code
        from mintaka.logging import engine_logger

        engine_logger(ctx).warning("%s %s: the recorded result is unreadable (%s); it runs again", *call_key, exc)
        ctx.completed.pop(call_key, None)
        return None
    return done


def recall_from_api(client: MintakaClient, ctx: FlowRunContext, logger: Any) -> Machine[int]:
    """`recall` from the flow run as the API has it now (one read); says how much it recalled."""
    detail = yield Call(client, "read_flow_run_detail", ctx.flow_run.id)
    recalled = recall(ctx, detail.task_runs, detail.states)
    if recalled:
        logger.info("Replaying: %d completed call(s) return their recorded results", recalled)
    return recalled


def recall(ctx: FlowRunContext, task_runs: list[TaskRun], history: Sequence[State] = ()) -> int:
    """Fill `ctx` from the flow run's task runs and state history as the API has them: what
    completed is returned by the calls that made it, the attempts' key suffixes are not used
    again, and the pauses that were resumed are passed. Returns the number of calls recalled."""
    ctx.resumed_pauses.update(resumed_pauses(history))
    recalled = 0
    for task_run in task_runs:
        ctx.used_key_suffixes.add(key_suffix_of(task_run))
        key = call_key_of(task_run)
        if key is not None and key not in ctx.completed and recallable(task_run.state):
            ctx.completed[key] = task_run.state
            ctx.cut_off.pop(key, None)
            recalled += 1
        elif key is not None and key not in ctx.completed and is_cut_off_stand_in(task_run):
            ctx.cut_off[key] = task_run  # a subflow cut off halfway: re-entered when called again
    return recalled


def resumed_pauses(history: Sequence[State]) -> dict[str, dict[str, Any] | None]:
    """The pauses in a flow run's history that were resumed, by key, with the input each resume
    gave: the state after the PAUSED one is RUNNING (resumed in place) or SCHEDULED "Resuming"
    (a suspension resumed), and carries it."""
    resumed = {}
    for paused, after in pairwise(history):
        key = paused.state_details.pause_key
        if paused.type is StateType.PAUSED and key and _resumes(after):
            resumed[key] = after.state_details.run_input
    return resumed


def _resumes(state: State) -> bool:
    return state.type is StateType.RUNNING or (state.type is StateType.SCHEDULED and state.name == RESUMING)
