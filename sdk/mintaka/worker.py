"""`mintaka worker start`: poll a work queue from any machine and run its flow runs.

Each released run is executed in its own subprocess, `mintaka flow-run execute ID` (the same
code path as a Fargate container): the subprocess claims the run by proposing PENDING, so two
workers polling one queue never run a run twice. At most `limit` subprocesses run at once;
while one runs, the worker heartbeats its run. A run being cancelled (CANCELLING) is stopped:
its subprocess is asked to stop the flow (SIGUSR1: it reports the run and its task runs
CANCELLED), then terminated if it has not exited within a grace period; a run its subprocess
left CANCELLING is marked CANCELLED.

The server hands out only runs a worker may take (not one awaiting a retry by the executor that
ran it).

A run whose subprocess fails `max_deliveries` times without ever starting it (it exits non-zero
and the run is still SCHEDULED, its run count unchanged: the interpreter or the environment is
broken) ends CRASHED with the reason, as a dead-lettered SQS message's run does in the cloud,
instead of being handed out forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mintaka.client.retrying import single_attempt
from mintaka.deployment_schemas import WorkQueueCreate
from mintaka.engine.cancellation import CANCEL_SIGNAL, STOPPING_STATES
from mintaka.exceptions import ApiUnavailable, MintakaError, ObjectNotFound
from mintaka.states import State, StateType

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import FlowRun

TERMINATE_GRACE_SECONDS = 10.0
MAX_DELIVERIES = 5  # failed starts of one run before it ends CRASHED (SQS: maxReceiveCount)
CANCEL_GRACE_SECONDS = 10.0  # after asking a subprocess to stop a cancelled flow, before SIGTERM
_TICK = 0.2


@dataclass
class _Child:
    run: FlowRun
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    cancelled_at: float | None = None
    terminated_at: float | None = None


class Worker:
    def __init__(
        self,
        client: MintakaClient,
        queue: str,
        limit: int = 4,
        poll_interval: float = 2.0,
        heartbeat_interval: float = 5.0,
        say: Callable[[str], None] = print,
        command: list[str] | None = None,
        max_deliveries: int = MAX_DELIVERIES,
    ):
        self.client = client
        self.queue = queue
        self.limit = limit
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.say = say
        # The flow runs in that subprocess itself (`flow-run execute --inline`, without loading the
        # CLI); this worker heartbeats for it.
        self.command = command or [sys.executable, "-m", "mintaka.engine.child_execution"]
        self.children: dict[uuid.UUID, _Child] = {}
        self.finished: dict[uuid.UUID, int] = {}  # run id -> exit code
        self.max_deliveries = max_deliveries
        self.failed_deliveries: Counter[uuid.UUID] = Counter()
        self._stop = threading.Event()

    # -- the loop
    def run(self, run_once: bool = False) -> None:
        """Poll until stopped (SIGTERM, SIGINT); with `run_once`, poll once and wait for those runs."""
        self.ensure_queue()
        next_poll = next_heartbeat = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self.reap()
                if now >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = now + self.heartbeat_interval
                if now >= next_poll:
                    self.poll()
                    next_poll = now + self.poll_interval
                    if run_once:
                        break
                self._stop.wait(_TICK)
            while run_once and self.children and not self._stop.is_set():
                self.reap()
                if time.monotonic() >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = time.monotonic() + self.heartbeat_interval
                self._stop.wait(_TICK)
        finally:
            self.shutdown()

    def ensure_queue(self) -> None:
        try:
            self.client.read_work_queue(self.queue)
        except ObjectNotFound:
            self.client.create_work_queue(WorkQueueCreate(name=self.queue))
            self.say(f"Created work queue {self.queue!r}")

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    # -- steps
    def poll(self) -> list[FlowRun]:
        """Ask the queue for runs and start a subprocess for each one we have room for."""
        free = self.limit - len(self.children)
        if free <= 0:
            return []
        try:
            # Ask for more than `free`: runs we started but whose subprocess has not claimed yet come back too.
            with single_attempt():  # the loop polls again soon; meanwhile it keeps reaping
                runs = self.client.get_work_queue_runs(self.queue, limit=free + len(self.children))
        except ApiUnavailable:
            return []  # the client said once that the API is away (and will say when it is back)
        except MintakaError as exc:
            self.say(f"Could not poll work queue {self.queue!r}: {exc}")
            return []
        started = []
        for run in runs:
            if len(started) >= free:
                break
            if run.id in self.children:
                continue
            self.submit(run)
            started.append(run)
        return started

    def submit(self, run: FlowRun) -> None:
        process = subprocess.Popen([*self.command, str(run.id)], start_new_session=True)
        self.children[run.id] = _Child(run=run, process=process)
        self.say(f"Submitted flow run {run.id} ({run.deployment_name or run.flow_name}, pid {process.pid})")

    def reap(self) -> None:
        now = time.monotonic()
        for run_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                if child.terminated_at and now - child.terminated_at > TERMINATE_GRACE_SECONDS:
                    child.process.kill()
                elif child.cancelled_at and not child.terminated_at and now - child.cancelled_at > CANCEL_GRACE_SECONDS:
                    self._terminate(child)
                continue
            del self.children[run_id]
            self.finished[run_id] = code
            self.say(f"Flow run {run_id} exited with code {code}")
            if child.cancelled_at is not None:
                self._end_cancelled(run_id)
            elif code != 0:
                self._count_failed_delivery(child, code)

    def heartbeat(self) -> None:
        for run_id, child in list(self.children.items()):
            try:
                with single_attempt():
                    run = self.client.heartbeat_flow_run(run_id, self.heartbeat_interval)
            except ApiUnavailable:
                continue  # the client said once that the API is away
            except MintakaError as exc:
                self.say(f"Heartbeat for flow run {run_id} failed: {exc}")
                continue
            state = run.state.type if run.state else None
            if state in STOPPING_STATES and child.cancelled_at is None:
                self.cancel(child)

    def cancel(self, child: _Child) -> None:
        """The run is being cancelled: ask its subprocess to stop the flow (it reports the run)."""
        child.cancelled_at = time.monotonic()
        self.say(f"Flow run {child.run.id} was cancelled: stopping its subprocess (pid {child.process.pid})")
        if child.process.poll() is None and CANCEL_SIGNAL is not None:
            os.kill(child.process.pid, CANCEL_SIGNAL)
        else:
            self._terminate(child)

    def _count_failed_delivery(self, child: _Child, code: int) -> None:
        """The subprocess failed; if it never started the run, count it, and at the limit end it."""
        from mintaka.engine.propose import propose

        run_id = child.run.id
        try:
            with single_attempt():
                run = self.client.read_flow_run(run_id)
        except MintakaError:
            return  # judged on a later failure
        if run.state is None or run.state.type is not StateType.SCHEDULED or run.run_count != child.run.run_count:
            return  # it started (its executor or the reaper ends it): not a failed delivery
        self.failed_deliveries[run_id] += 1
        if self.failed_deliveries[run_id] < self.max_deliveries:
            return
        reason = (
            f"The worker's subprocess failed {self.failed_deliveries[run_id]} times without starting the "
            f"run (last exit code {code}): the run is not handed out again"
        )
        try:
            propose(self.client, "flow_run", run_id, State(type=StateType.CRASHED, message=reason))
        except MintakaError as exc:
            self.say(f"Could not end flow run {run_id}: {exc}")
            return
        del self.failed_deliveries[run_id]
        self.say(f"Flow run {run_id} crashed: {reason}")

    def _end_cancelled(self, run_id: uuid.UUID) -> None:
        """The subprocess exited without ending its cancelled run (it was killed): end it here."""
        from mintaka.engine.propose import propose

        try:
            propose(self.client, "flow_run", run_id, State(type=StateType.CANCELLED))
        except MintakaError as exc:
            self.say(f"Could not mark flow run {run_id} cancelled: {exc}")

    def shutdown(self) -> None:
        """Stop: subprocesses still running are terminated (their runs are reported CRASHED)."""
        for child in self.children.values():
            if child.terminated_at is None:
                self.say(f"Worker stopping: terminating flow run {child.run.id} (pid {child.process.pid})")
                self._terminate(child)
        deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
        for child in self.children.values():
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.reap()

    @staticmethod
    def _terminate(child: _Child) -> None:
        child.terminated_at = time.monotonic()
        if child.process.poll() is None:
            os.kill(child.process.pid, signal.SIGTERM)
