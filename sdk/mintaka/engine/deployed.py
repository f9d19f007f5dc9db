"""Executing a run a deployment created: `mintaka flow-run execute RUN_ID`.

The one code path for a worker's subprocess, a Fargate container and debugging a deployed run
on a laptop: claim the run (propose PENDING: exactly one executor wins), fetch the deployment's
code (local, git at the branch's HEAD, S3 archive) and its built dependencies (a Lambda
deployment's requirements), import the entrypoint in a fresh module namespace
(`engine.isolation`: no module an earlier run imported from deployed code), and run the flow for
that run: RUNNING (labelled with the git commit), the body with the run's parameters, the
final state. A run executing again (requeued, resumed, retried) replays: what completed in it
returns its recorded result (`engine.replay`); task results are persisted unless the
deployment says `persist_results=False`.

A launcher that claimed the run for this process (the Lambda worker before running it here or
starting a Fargate task for it) passes a claim token (`claim`, or `MINTAKA_FLOW_RUN_CLAIM` in the
environment) and labels its PENDING proposal `mintaka.claim=<token>`: a run already PENDING
under that token is this process's to run. The RUNNING proposal still admits one executor only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mintaka.client import get_client
from mintaka.client.retrying import single_attempt
from mintaka.dependencies import fetch_dependencies
from mintaka.exceptions import Abort, FlowRunCancelled, MintakaError, ParameterValidationError
from mintaka.schemas import SetStateStatus
from mintaka.states import State, StateType
from mintaka_core.vocabulary import CLAIM_LABEL, GIT_COMMIT_LABEL

from .cancellation import STOPPING_STATES, CancelScope
from .deadline import is_continuing
from .heartbeat import HEARTBEAT, heartbeat_interval
from .isolation import fresh_modules
from .propose import propose

if TYPE_CHECKING:
    from mintaka.client import MintakaClient

CLAIM_ENV = "MINTAKA_FLOW_RUN_CLAIM"
_FORWARDED = (signal.SIGTERM, signal.SIGINT)


@dataclass
class Execution:
    """What happened: `state` is the run's final state, or None when another executor has it."""

    run_id: uuid.UUID
    state: State | None
    message: str
    cancelled: bool = False  # interrupted here: task bodies may still be running in threads

    @property
    def ok(self) -> bool:
        """Completed, suspended (a resume runs it again), stopped at its execution's deadline (the
        next execution continues it), or not this executor's to run."""
        return self.state is None or self.state.is_completed() or self.state.is_paused() or is_continuing(self.state)


def execute_flow_run(run_id: uuid.UUID, client: MintakaClient | None = None, claim: str | None = None) -> Execution:
    from mintaka.code_storage import fetch_code
    from mintaka.settings import get_settings

    client = client or get_client()
    run = client.read_flow_run(run_id)
    if not run.deployment_name:
        raise MintakaError(f"Flow run {run_id} was not created by a deployment: there is no code to run it with")
    claim = claim or os.environ.get(CLAIM_ENV) or None
    if not _claimed_for(run, claim):
        answer = propose(
            client, "flow_run", run_id, State(type=StateType.PENDING), labels={CLAIM_LABEL: claim} if claim else None
        )
        claimed = answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.PENDING
        if not claimed and not _claimed_for(client.read_flow_run(run_id), claim):
            current = answer.state.name if answer.state else "unknown"
            reason = answer.details.reason or "the orchestrator refused it"
            return Execution(run_id, None, f"Flow run {run_id} not claimed ({reason}; it is {current}): nothing to do")

    try:
        flow_name, _, name = run.deployment_name.partition("/")
        deployment = client.read_deployment(flow_name, name)
        home = get_settings().home_path
        code_dir, commit = fetch_code(deployment.storage, home)
        roots = [code_dir]
        if deployment.dependencies:  # a Lambda deployment's requirements, built for the runtime
            roots.append(fetch_dependencies(deployment.dependencies, home))
    except MintakaError as exc:
        state = _fail(client, run_id, f"Could not load the flow: {exc}")
        return Execution(run_id, state, f"Flow run {run_id} failed before it started: {exc}")
    with fresh_modules(*roots):  # this run's code and dependencies; none of an earlier run's
        return _load_and_run(client, run, deployment, code_dir, commit)


def _load_and_run(client: MintakaClient, run, deployment, code_dir, commit: str | None) -> Execution:
    from mintaka.deployments import load_flow

    from .flow_engine import FlowRunEngine

    run_id = run.id
    try:
        flow = load_flow(deployment.entrypoint, root=code_dir)
    except MintakaError as exc:
        state = _fail(client, run_id, f"Could not load the flow: {exc}")
        return Execution(run_id, state, f"Flow run {run_id} failed before it started: {exc}")

    labels = {GIT_COMMIT_LABEL: commit} if commit else {}
    run = client.read_flow_run(run_id)
    try:
        engine = FlowRunEngine.for_existing_run(flow, run, labels=labels, persist_results=deployment.persist_results)
    except ParameterValidationError as exc:
        return Execution(run_id, client.read_flow_run(run_id).state, str(exc))
    try:
        with CancelScope() as scope, _heartbeats(client, run_id, scope):
            if flow.isasync:
                from mintaka._sync import run_coroutine_sync

                state = run_coroutine_sync(engine.run_async())
            else:
                state = engine.run()
    except Abort as exc:
        return Execution(run_id, client.read_flow_run(run_id).state, f"Flow run {run_id} aborted: {exc}")
    except FlowRunCancelled:
        # The engine reported the run unless the interrupt came while it was reporting: end it here.
        state = propose(client, "flow_run", run_id, State(type=StateType.CANCELLED)).state
        _cancel_unfinished_task_runs(client, run_id)
        message = f"Flow run {run_id} of {run.deployment_name} was cancelled: {state.message}"
        return Execution(run_id, state, message, cancelled=True)
    where = f" at commit {commit[:12]}" if commit else ""
    return Execution(run_id, state, f"Flow run {run_id} of {run.deployment_name}{where} finished: {state.name}")


@contextmanager
def _heartbeats(client: MintakaClient, run_id: uuid.UUID, scope: CancelScope) -> Iterator[None]:
    """The process's heartbeat beats for the run while the flow runs; its answer is the run:
    once it is being cancelled, the flow is interrupted. (That thread shares the process with
    user code; `supervise_flow_run` beats from a parent process too, which user code cannot block.)"""

    def on_beat(run) -> None:
        if run.state is not None and run.state.type in STOPPING_STATES:
            scope.cancel()

    with HEARTBEAT.beating(client, run_id, on_beat):
        yield


def supervise_flow_run(
    run_id: uuid.UUID,
    command: Sequence[str],
    client: MintakaClient | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run `command` (this run's `flow-run execute --inline`) as a child process and heartbeat for
    the run from here until it exits: a task holding the GIL in a C call, or a busy loop, cannot
    silence this process, so the reaper never takes a live run for a lost one; both processes
    killed, the run's lease lapses and it is reaped. SIGTERM and SIGINT are passed on to the child
    (it reports the run). A child that dies without ending the run (killed, out of memory) leaves
    it CRASHED. Returns the child's exit code (128 + N if killed by signal N). `env`: the child's
    environment (default: this process's)."""

    client = client or get_client()
    every = heartbeat_interval()
    child = subprocess.Popen(list(command), env=None if env is None else dict(env))
    forwarded = {signum: signal.signal(signum, lambda signum, _: child.send_signal(signum)) for signum in _FORWARDED}
    try:
        while True:
            try:
                code = child.wait(timeout=every)
                break
            except subprocess.TimeoutExpired:
                # One try per beat: a beat retried through an outage would hold back noticing the
                # child's exit, and the next beat comes soon anyway.
                with suppress(Exception), single_attempt():
                    client.heartbeat_flow_run(run_id, every)
    finally:
        for signum, previous in forwarded.items():
            signal.signal(signum, previous)
    if code not in (0, 1):  # 0: completed or not ours; 1: it ended otherwise and said so
        _crash_if_unfinished(client, run_id, code)
    return 128 - code if code < 0 else code


def _crash_if_unfinished(client: MintakaClient, run_id: uuid.UUID, code: int) -> None:
    with suppress(MintakaError):
        run = client.read_flow_run(run_id)
        if run.state is not None and run.state.type in (StateType.RUNNING, StateType.CANCELLING):
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            propose(client, "flow_run", run_id, State(type=StateType.CRASHED, message=f"The flow's process {how}"))


def _cancel_unfinished_task_runs(client: MintakaClient, run_id: uuid.UUID) -> None:
    """Task runs whose bodies were stuck when the flow was cancelled (a blocking call outlives
    the interrupt) end CANCELLED with it, not RUNNING forever."""
    for task_run in client.read_flow_run_detail(run_id).task_runs:
        if task_run.state is not None and not task_run.state.is_final():
            cancelled = State(type=StateType.CANCELLED, message="The flow run was cancelled")
            propose(client, "task_run", task_run.id, cancelled)


def _claimed_for(run, claim: str | None) -> bool:
    """The run is PENDING under this process's claim token (a launcher claimed it for us)."""
    return (
        bool(claim)
        and run.state is not None
        and run.state.type is StateType.PENDING
        and (run.labels.get(CLAIM_LABEL) == claim)
    )


def _fail(client: MintakaClient, run_id: uuid.UUID, message: str) -> State | None:
    answer = propose(client, "flow_run", run_id, State(type=StateType.FAILED, message=message))
    return answer.state
