"""Consuming work-queue messages: claim each run once and start it, here or on Fargate.

For one message (a flow run id), in order:
1. the run is gone, not SCHEDULED any more (someone else has it), not a deployment's, or
   awaiting a retry by the executor that ran it (AwaitingRetry): nothing to do — the message
   is acked;
2. its work queue is paused, the run is not due yet, or the queue is at its concurrency limit:
   `RetryLater` — the message is released with a delay and comes back (nothing is lost; the run
   stays SCHEDULED). The concurrency check is a cheap look before claiming; the rules still
   enforce the limit when the run proposes RUNNING;
3. `infrastructure=fargate`: start an ECS task (`mintaka flow-run execute RUN_ID`), then claim
   the run (PENDING) labelled with the task's ARN. If the claim is refused because another
   worker has the run, the task is stopped; if the task's own executor claimed first (it
   carries the same claim token), the run is the task's;
4. otherwise claim the run (PENDING, with a fresh claim token) and execute it in this process
   with the same executor as `mintaka flow-run execute`, which proceeds from that claim.

A refused claim (REJECT) means someone else has the run: acked. A WAIT answer: `RetryLater`.

Past the invocation's deadline (`mintaka.engine.deadline`, set by the Lambda handler) a run
stops starting tasks and goes back to SCHEDULED "Continuing": a fresh message is sent for it
(or, if that fails, this one is released at once), so the next invocation continues it by
replay; a message reached after the deadline is released unclaimed.

A message SQS gave up on (its receive count reached the queue's `maxReceiveCount` and it moved to
the dead-letter queue, which the worker function also consumes) is `dead_lettered`: its run, if
it is not executing (SCHEDULED or PENDING), ends CRASHED with the reason, rather than staying
SCHEDULED ("Late") forever. A run that started is its executor's (or the reaper's) to end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mintaka.engine.deadline import deadline_passed, is_continuing
from mintaka_core.exceptions import MintakaError, ObjectNotFound
from mintaka_core.schemas import FlowRun, OrchestrationResult, SetStateRequest, SetStateStatus
from mintaka_core.states import State, StateType
from mintaka_core.vocabulary import CLAIM_LABEL, ECS_CLUSTER_LABEL, ECS_TASK_LABEL, INFRASTRUCTURE_LABEL, WORKER_LABEL
from mintaka_server.orchestration.context import work_queue_slot
from mintaka_server.queues.port import QueuedRun, WorkQueuePort, due_time, seconds_until_due, work_queue_of

from .deployments import awaiting_its_executor

if TYPE_CHECKING:
    from .deployments import DeploymentService

FULL_QUEUE_RETRY_SECONDS = 15.0
LAUNCH_RETRY_SECONDS = 60.0
PAUSED_RETRY_SECONDS = 30.0
PAUSED_RETRY_MAX_SECONDS = 3600.0

Action = Literal["executed", "launched", "skipped", "crashed", "continued"]
NEVER_STARTED = frozenset({StateType.SCHEDULED, StateType.PENDING})


class Launcher(Protocol):
    """Starts a flow run on infrastructure of its own (`execution.fargate.FargateLauncher`: an
    ECS task running `mintaka flow-run execute RUN_ID`) and stops one the run is not for."""

    cluster: str

    def launch(self, run: FlowRun, claim: str) -> str:
        """Start it; the task's id (ARN). `claim` is the idempotency token: once per claim."""
        ...

    def stop(self, task_arn: str, reason: str) -> None: ...


class ExecutionResult(Protocol):
    """How an execution ended: the run's final state, or None (and why) when not ours to run."""

    state: State | None
    message: str


class Executor(Protocol):
    """Runs a claimed flow run here to its end or the invocation's deadline: on the store
    (`execution.in_process`) or through the API in a child process (`execution.through_api`)."""

    def __call__(
        self, run_id: uuid.UUID, service: Any, deployments: Any, *, claim: str | None = None
    ) -> ExecutionResult: ...


class RetryLater(MintakaError):
    """The message must come back after `delay` seconds (the run stays SCHEDULED)."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


@dataclass
class Outcome:
    flow_run_id: uuid.UUID
    action: Action
    detail: str
    state: State | None = None


def paused_retry_delay(receive_count: int) -> float:
    """30 s, 60 s, 120 s, … up to an hour: a long pause costs few deliveries."""
    return min(PAUSED_RETRY_SECONDS * 2 ** max(receive_count - 1, 0), PAUSED_RETRY_MAX_SECONDS)


class RunWorker:
    def __init__(
        self,
        deployments: DeploymentService,
        queues: WorkQueuePort,
        *,
        execute: Executor,
        launcher: Launcher | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.deployments = deployments
        self.orchestration = deployments.orchestration
        self.queues = queues
        self.launcher = launcher
        self.execute = execute
        self.clock = clock or deployments.clock

    def process(self, message: QueuedRun) -> Outcome:
        """Handle one message; `RetryLater` after releasing it with the delay."""
        try:
            return self._process(message)
        except RetryLater as exc:
            self.queues.release(message, exc.delay)
            raise

    def _process(self, message: QueuedRun) -> Outcome:
        if deadline_passed():  # this invocation is nearly out of time: the next one takes it
            raise RetryLater(f"Flow run {message.flow_run_id} waits for the next invocation (out of time)", 0)
        try:
            run = self.orchestration.read_flow_run(message.flow_run_id)
        except ObjectNotFound:
            return Outcome(message.flow_run_id, "skipped", "no such flow run")
        if run.state is None or run.state.type is not StateType.SCHEDULED:
            current = run.state.name if run.state else "without a state"
            return Outcome(run.id, "skipped", f"it is {current}: someone else has it", run.state)
        if not run.deployment_name:
            return Outcome(run.id, "skipped", "not a deployment's run: there is no code to run it with", run.state)
        if awaiting_its_executor(run):
            return Outcome(run.id, "skipped", "it awaits a retry by the executor that ran it", run.state)
        self._check_ready(run, message)
        token = uuid.uuid4().hex
        if run.labels.get(INFRASTRUCTURE_LABEL) == "fargate":
            return self._launch(run, token)
        return self._execute_here(run, token)

    def dead_lettered(self, message: QueuedRun) -> Outcome:
        """The message reached its dead-letter queue: a run that never started ends CRASHED."""
        try:
            run = self.orchestration.read_flow_run(message.flow_run_id)
        except ObjectNotFound:
            return Outcome(message.flow_run_id, "skipped", "no such flow run")
        if run.state is None or run.state.type not in NEVER_STARTED:
            current = run.state.name if run.state else "without a state"
            return Outcome(run.id, "skipped", f"dead-lettered, but it is {current}", run.state)
        started = (
            f"it had executed {run.run_count} time(s) and was waiting to go on"
            if run.run_count
            else "the run never started"
        )
        reason = (
            f"Its work-queue message was dead-lettered: it was delivered to workers the queue's "
            f"maximum number of times ({message.source or message.work_queue}) and {started}"
        )
        answer = self.orchestration.set_flow_run_state(
            run.id, SetStateRequest(state=State(type=StateType.CRASHED, message=reason))
        )
        return Outcome(run.id, "crashed", reason, answer.state)

    def _check_ready(self, run: FlowRun, message: QueuedRun) -> None:
        name = work_queue_of(run)
        try:
            queue = self.deployments.read_work_queue(name)
        except ObjectNotFound:
            queue = None  # deleted meanwhile: no pause, no limit
        if queue is not None and queue.paused:
            raise RetryLater(f"Work queue {name!r} is paused", paused_retry_delay(message.receive_count))
        wait = seconds_until_due(due_time(run), self.clock())
        if wait:
            raise RetryLater(f"Flow run {run.id} is not due for {wait:.0f} s", wait)
        if queue is not None and queue.concurrency_limit is not None:
            slot = work_queue_slot(name)
            usage = self.orchestration.store.read_concurrency_limits([slot]).get(slot)
            if (usage.active_slots if usage else 0) >= queue.concurrency_limit:
                raise RetryLater(f"Work queue {name!r} is at its concurrency limit", FULL_QUEUE_RETRY_SECONDS)

    def _claim(self, run: FlowRun, token: str, labels: dict[str, str] | None = None) -> OrchestrationResult:
        request = SetStateRequest(
            state=State(type=StateType.PENDING, state_details={"idempotency_key": f"claim:{token}"}),
            labels={CLAIM_LABEL: token, **(labels or {})},
        )
        return self.orchestration.set_flow_run_state(run.id, request)

    def _execute_here(self, run: FlowRun, token: str) -> Outcome:
        answer = self._claim(run, token, {"mintaka.worker": "lambda"})
        if not _accepted(answer):
            return self._not_claimed(run, answer)
        execution = self.execute(run.id, self.orchestration, self.deployments, claim=token)
        if execution.state is None:
            return Outcome(run.id, "skipped", execution.message)
        if is_continuing(execution.state):  # stopped at the deadline: the next invocation continues it
            return self._continue(run.id, execution.state)
        return Outcome(run.id, "executed", execution.message, execution.state)

    def _continue(self, run_id: uuid.UUID, state: State) -> Outcome:
        """A fresh message for the next invocation (the receive count starts again: a long flow
        never reaches the DLQ by continuing); if it cannot be sent, this one is released."""
        why = f"continues in the next invocation: {state.message}"
        try:
            self.queues.send(self.orchestration.read_flow_run(run_id))
        except MintakaError as exc:
            raise RetryLater(f"Flow run {run_id} {why} (its message is released: {exc})", 0) from exc
        return Outcome(run_id, "continued", why, state)

    def _launch(self, run: FlowRun, token: str) -> Outcome:
        from mintaka_server.execution.fargate import LaunchFailed

        if self.launcher is None:
            raise MintakaError(
                f"Flow run {run.id} needs Fargate, which is not configured (MINTAKA_ECS_CLUSTER, "
                "MINTAKA_ECS_TASK_DEFINITION, MINTAKA_ECS_SUBNETS)"
            )
        try:
            task_arn = self.launcher.launch(run, token)
        except LaunchFailed as exc:
            raise RetryLater(str(exc), LAUNCH_RETRY_SECONDS) from exc
        labels = {ECS_TASK_LABEL: task_arn, ECS_CLUSTER_LABEL: self.launcher.cluster, WORKER_LABEL: "fargate"}
        answer = self._claim(run, token, labels)
        if _accepted(answer):
            return Outcome(run.id, "launched", f"ECS task {task_arn}", answer.state)
        current = self.orchestration.read_flow_run(run.id)
        if current.labels.get(CLAIM_LABEL) == token:  # the task's executor claimed it first
            return Outcome(run.id, "launched", f"ECS task {task_arn}", current.state)
        why = "is not ready to start" if answer.status is SetStateStatus.WAIT else "was claimed by another worker"
        self.launcher.stop(task_arn, f"Flow run {run.id} {why}")
        return self._not_claimed(run, answer)

    @staticmethod
    def _not_claimed(run: FlowRun, answer: OrchestrationResult) -> Outcome:
        if answer.status is SetStateStatus.WAIT:
            raise RetryLater(
                answer.details.reason or "The orchestrator asked to wait", answer.details.delay_seconds or 1
            )
        current = answer.state.name if answer.state else "unknown"
        return Outcome(run.id, "skipped", f"not claimed ({answer.details.reason}; it is {current})", answer.state)


def _accepted(answer: OrchestrationResult) -> bool:
    return (
        answer.status is SetStateStatus.ACCEPT and answer.state is not None and answer.state.type is StateType.PENDING
    )
