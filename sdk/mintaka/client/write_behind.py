"""Task runs reported write-behind: a plain task run's body starts at once over HTTP.

A task run whose happy path no rule can refuse (in a flow run this client created RUNNING and
has heard nothing against since; no tags, so no concurrency limit; no cache key) is not sent to
the API when it starts nor when it completes. The client answers itself as the rules would
(RUNNING, then ACCEPT of COMPLETED), appends each report to a local journal, and a background
thread sends the reports in ordered batches (`POST /task_runs/batch`) every `interval`, or at
once when `SEND_AT` wait (the server applies a batch while the flow goes on). The
rules still decide each report; the batch answer says what they decided:

- a flow run the answer shows not RUNNING (cancelled, crashed) gets no more write-behind starts:
  its next task run goes through the synchronous calls, whose answer stops the flow;
- a report they refused is proposed again one by one (`engine.propose`), so a run the API
  reaped while out of reach is revived, as it would have been had the reports been synchronous.

Failures, retries and everything rule-governed stay synchronous; any call that may depend on
the reports (the flow run's end, reads of task runs, ...) first sends every report pending
(`flush`). Reports wait in the journal (a file per process and flush, in the log spool's
directory for the API, `_log_spool`) until the API took them: a process killed with reports
unsent leaves its journal behind, and the next process using that API sends it (idempotently:
a create is keyed by the task run's id, a state by its idempotency key).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter

from mintaka._log_spool import LogSpool
from mintaka.batch_schemas import (
    MAX_REPORTS,
    TaskRunReport,
    TaskRunReportsResult,
    TaskRunStarted,
    TaskRunStateReported,
)
from mintaka.exceptions import ApiUnavailable, MintakaError
from mintaka.schemas import (
    OrchestrationDetails,
    OrchestrationResult,
    SetStateRequest,
    SetStateStatus,
    TaskRun,
    TaskRunCreate,
)
from mintaka.states import State, StateType, utcnow

from .retrying import single_attempt

logger = logging.getLogger("mintaka.client")

DEFAULT_INTERVAL = 0.05  # seconds between background sends
# Reports that send a batch at once instead of at the next interval: the server applies one while
# the flow goes on (a flow's tasks and the server overlap), for one request per 64 task runs.
SEND_AT = 128
MAX_PENDING = 2000  # reports held unsent; past it, task runs start synchronously again
MAX_REQUEST_BYTES = 512 * 1024  # under the smallest body limit a server may set (1 MiB)
MAX_BACKOFF = 2.0


@dataclass(slots=True)
class _Report:
    flow_run_id: uuid.UUID
    run_id: uuid.UUID
    line: bytes  # the report as JSON, as sent

    @property
    def model(self) -> TaskRunStarted | TaskRunStateReported:
        return _REPORT.validate_json(self.line)


_NO_DETAILS = OrchestrationDetails()
_REPORT: TypeAdapter[TaskRunStarted | TaskRunStateReported] = TypeAdapter(TaskRunReport)


class ReportJournal(LogSpool):
    """Reports not yet taken by the API, on disk: one file per process and flush, named as a
    spool file this process has claimed (so a live process's file is its own, and a dead one's
    is claimed by the next process, as spooled log records are)."""

    def __init__(self, directory: Path, api_url: str):
        super().__init__(directory, api_url)
        self.path = self.path / "task-run-reports"

    def open_segment(self) -> tuple[Path, int]:
        self.path.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        path = self.path / f"{pid}-{uuid.uuid4().hex}.{pid}.sending"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, f"# {self.api_url}\n".encode())
        return path, fd

    @staticmethod
    def read_reports(path: Path) -> list[tuple[uuid.UUID, bytes]]:
        """(flow run id, the report's JSON) of each line written whole."""
        reports = []
        with path.open("rb") as lines:
            for line in lines:
                if not line.endswith(b"\n") or line.startswith(b"#"):
                    continue  # a line cut short by a kill was never acknowledged to anyone
                flow_run_id, _, report = line.rstrip(b"\n").partition(b" ")
                reports.append((uuid.UUID(flow_run_id.decode()), report))
        return reports


class TaskRunReporter:
    """The write-behind reports of one HTTP transport. `send(flow_run_id, body)` posts one batch
    (`body`: the request's JSON) and returns the answer; `propose(run_id, state)` proposes a
    state synchronously (revival-aware)."""

    def __init__(
        self,
        send: Callable[[bytes], TaskRunReportsResult],
        propose: Callable[[uuid.UUID, object], object],
        journal: ReportJournal | None,
        interval: float = DEFAULT_INTERVAL,
        max_pending: int = MAX_PENDING,
        send_at: int = SEND_AT,
    ):
        self._send = send
        self._propose = propose
        self.journal = journal
        self.interval = interval
        self.max_pending = max_pending
        self.send_at = send_at
        self._reset()
        _REPORTERS.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()  # the queue, the run sets, the journal file
        self._send_lock = threading.Lock()  # one flush at a time, so batches arrive in order
        self._local = threading.local()
        self._queue: list[_Report] = []
        self._open: dict[uuid.UUID, uuid.UUID] = {}  # started write-behind, not ended: run -> flow run
        self._unsent_runs: dict[uuid.UUID, int] = {}  # task runs with reports not yet taken
        self._ours: set[uuid.UUID] = set()  # flow runs this client created RUNNING
        self._running: set[uuid.UUID] = set()  # ... and has heard nothing against since
        self._segment: tuple[Path, int] | None = None
        self._sealed: list[Path] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        # The thread sleeps on `_has_reports` while nothing is queued; the first report wakes it.
        self._has_reports = threading.Event()
        self._idle = False
        self._thread: threading.Thread | None = None
        self._orphans_looked_for = False
        self._backing_off = False  # the last send failed: wait the backoff, not the next report
        self.sent_requests = 0

    # -- what the transport tells it
    def flow_run_running(self, flow_run_id: uuid.UUID, created: bool = False) -> None:
        """This client created the flow run RUNNING (`created`), or its RUNNING was accepted again."""
        with self._lock:
            if created:
                self._ours.add(flow_run_id)
            if flow_run_id in self._ours:
                self._running.add(flow_run_id)

    def flow_run_left_running(self, flow_run_id: uuid.UUID) -> None:
        with self._lock:
            self._running.discard(flow_run_id)

    def has_unsent(self, run_id: uuid.UUID) -> bool:
        return run_id in self._unsent_runs

    # -- the engine's two calls, answered here when they can be
    def start(self, body: TaskRunCreate) -> TaskRun | None:
        """The run, started (None: create it synchronously)."""
        state = body.state
        if (
            body.id is None
            or body.flow_run_id is None
            or state is None
            or state.type is not StateType.RUNNING
            or body.tags
            or state.state_details.cache_key
            or state.state_details.refresh_cache
            or state.state_details.revives is not None
            or body.flow_run_id not in self._running
            or len(self._queue) >= self.max_pending
        ):
            return None
        # The body and its state are this call's (the engine builds them for it): stamped in place.
        now = state.timestamp = utcnow()
        state.state_details.task_run_id, state.state_details.flow_run_id = body.id, body.flow_run_id
        line = b'{"op":"create","task_run":%s}' % body.__pydantic_serializer__.to_json(body)
        with self._lock:
            if body.flow_run_id not in self._running:
                return None
            self._open[body.id] = body.flow_run_id
            self._enqueue(_Report(body.flow_run_id, body.id, line))
        return TaskRun(
            id=body.id,
            name=body.name or f"{body.task_key}-{body.dynamic_key}",
            flow_run_id=body.flow_run_id,
            task_key=body.task_key,
            dynamic_key=body.dynamic_key,
            tags=body.tags,
            task_inputs=body.task_inputs,
            empirical_policy=body.empirical_policy,
            state=state,
            state_version=1,
            run_count=1,
            created=now,
            start_time=now,
        )

    def end(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult | None:
        """ACCEPT of a plain COMPLETED for a run started write-behind (None: propose it
        synchronously, after every report pending)."""
        with self._lock:
            flow_run_id = self._open.pop(run_id, None)
        state = body.state
        if (
            flow_run_id is None
            or flow_run_id not in self._running
            or body.force
            or body.labels
            or body.heartbeat_interval is not None
            or state.type is not StateType.COMPLETED
            or state.state_details.cache_key
            or not state.state_details.idempotency_key
        ):
            return None
        # The proposal is this call's (`engine.propose` makes one per call): stamped in place.
        state.timestamp = utcnow()
        state.state_details.task_run_id, state.state_details.flow_run_id = run_id, flow_run_id
        line = b'{"op":"set_state","task_run_id":"%s","state":%s}' % (
            str(run_id).encode(),
            state.__pydantic_serializer__.to_json(state),
        )
        with self._lock:
            self._enqueue(_Report(flow_run_id, run_id, line))
        return OrchestrationResult(status=SetStateStatus.ACCEPT, state=state, details=_NO_DETAILS)

    def _enqueue(self, report: _Report) -> None:
        """(With the lock held.) Queued in memory and appended to the journal, in one order."""
        self._queue.append(report)
        self._unsent_runs[report.run_id] = self._unsent_runs.get(report.run_id, 0) + 1
        if self._idle:
            self._idle = False
            self._has_reports.set()
        if self.journal is not None:
            if self._segment is None:
                self._segment = self.journal.open_segment()
            os.write(self._segment[1], str(report.flow_run_id).encode() + b" " + report.line + b"\n")
        if self._thread is None:
            self._start_thread()
        elif len(self._queue) == self.send_at and not self._backing_off:
            self._wake.set()

    # -- sending
    def flush(self) -> None:
        """Send every report queued so far; returns once the API took them (or raises what the
        transport raised: the reports stay queued)."""
        if getattr(self._local, "flushing", False):
            return  # a proposal made while answering a batch: the reports before it are sent
        if not self._queue and not self._sealed and self._segment is None:
            if self._thread is None and not self._orphans_looked_for:
                self._orphans_looked_for = True  # once a process: a journal a dead one left is sent
                if self.journal is not None and self.journal.pending():
                    with self._lock:
                        if self._thread is None:
                            self._start_thread()
            return
        with self._send_lock:
            with self._lock:
                batch, self._queue = self._queue, []
                segments = self._sealed
                if self._segment is not None:
                    os.close(self._segment[1])
                    segments.append(self._segment[0])
                self._segment, self._sealed = None, []
            try:
                self._deliver(batch)
            except BaseException:
                with self._lock:
                    self._queue[:0] = batch
                    self._sealed[:0] = segments
                raise
            with self._lock:
                for report in batch:
                    left = self._unsent_runs.pop(report.run_id, 1) - 1
                    if left > 0:
                        self._unsent_runs[report.run_id] = left
            for path in segments:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _deliver(self, batch: list[_Report]) -> None:
        self._local.flushing = True
        try:
            for flow_run_id, chunk in _chunks(batch):
                body = _request_body(flow_run_id, [r.line for r in chunk])
                self.sent_requests += 1
                try:
                    result = self._send(body)
                except ApiUnavailable:
                    raise
                except MintakaError as exc:  # refused whole: it can never be taken; say so, drop it
                    logger.error("The API refused %d task-run reports of flow run %s: %s", len(chunk), flow_run_id, exc)
                    self.flow_run_left_running(flow_run_id)
                    continue
                self._answered(flow_run_id, chunk, result)
        finally:
            self._local.flushing = False

    def _answered(self, flow_run_id: uuid.UUID, chunk: list[_Report], result: TaskRunReportsResult) -> None:
        if result.flow_run_state is not StateType.RUNNING:
            self.flow_run_left_running(flow_run_id)
        for report, answer in zip(chunk, result.answers, strict=False):
            if answer.status is SetStateStatus.ACCEPT:
                continue
            self.flow_run_left_running(flow_run_id)
            model = report.model
            if isinstance(model, TaskRunStarted):
                state = State(type=StateType.RUNNING, timestamp=model.task_run.state.timestamp)
            else:
                state = model.state.model_copy(deep=True)
            try:
                # One by one: the rules' answer is obeyed (a reaped flow run is revived first).
                self._propose(report.run_id, state)
            except ApiUnavailable:
                raise
            except MintakaError as exc:
                logger.warning("Task run %s: its reported %s was refused: %s", report.run_id, state.type.value, exc)

    # -- the background thread
    def _sleep_if_idle(self) -> bool:
        """(The thread's.) True if nothing waits to be sent: the next report says so."""
        with self._lock:
            if self._queue or self._sealed or self._segment is not None or self._backing_off:
                return False
            self._idle = True
            self._has_reports.clear()
            return True

    def _start_thread(self) -> None:
        weakref.finalize(self, self._has_reports.set)  # a collected reporter wakes its thread, which ends
        self._thread = threading.Thread(target=_send_loop, args=(weakref.ref(self),), daemon=True)
        self._thread.name = "mintaka-task-run-reports"
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread and send what is left (reports the API cannot take now stay in the
        journal for the next process)."""
        self._stop.set()
        self._wake.set()
        self._has_reports.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        try:
            with single_attempt():
                self.flush()
        except MintakaError:
            logger.warning("%d task-run reports wait in %s for the next process", len(self._queue), self._where())
            with self._lock:
                if self._segment is not None:
                    os.close(self._segment[1])
                    self._sealed.append(self._segment[0])
                    self._segment = None

    def _where(self) -> str:
        return str(self.journal.path) if self.journal is not None else "memory (no journal)"

    def deliver_orphans(self) -> None:
        """Send the journals of processes that died with reports unsent."""
        if self.journal is None or not self.journal.pending():
            return
        for path in self.journal.claim():
            try:
                reports = self.journal.read_reports(path)
            except (OSError, ValueError) as exc:
                logger.warning("Could not read task-run reports in %s: %s", path, exc)
                continue
            try:
                with single_attempt():
                    self._deliver(_parsed(reports))
            except ApiUnavailable:
                self.journal.release(path)
                return
            except MintakaError as exc:
                logger.warning("Task-run reports in %s could not be delivered: %s", path, exc)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _parsed(lines: list[tuple[uuid.UUID, bytes]]) -> list[_Report]:
    reports = []
    for flow_run_id, line in lines:
        model = _REPORT.validate_json(line)
        run_id = model.task_run.id if isinstance(model, TaskRunStarted) else model.task_run_id
        reports.append(_Report(flow_run_id, run_id, line))
    return reports


def _request_body(flow_run_id: uuid.UUID, lines: list[bytes]) -> bytes:
    """A `TaskRunReports` request, as JSON, from reports already encoded."""
    return b'{"flow_run_id":"%s","reports":[%s]}' % (str(flow_run_id).encode(), b",".join(lines))


def _chunks(batch: list[_Report]) -> Iterator[tuple[uuid.UUID, list[_Report]]]:
    """Per flow run (in order within each), at most MAX_REPORTS and MAX_REQUEST_BYTES a request."""
    by_flow_run: dict[uuid.UUID, list[_Report]] = {}
    for report in batch:
        by_flow_run.setdefault(report.flow_run_id, []).append(report)
    for flow_run_id, reports in by_flow_run.items():
        chunk: list[_Report] = []
        size = 0
        for report in reports:
            if chunk and (len(chunk) >= MAX_REPORTS or size + len(report.line) > MAX_REQUEST_BYTES):
                yield flow_run_id, chunk
                chunk, size = [], 0
            chunk.append(report)
            size += len(report.line) + 1
        if chunk:
            yield flow_run_id, chunk


def _send_loop(ref: weakref.ref[TaskRunReporter]) -> None:
    reporter = ref()
    if reporter is None:
        return
    try:
        reporter.deliver_orphans()
    except Exception:  # never stop sending this process's own reports for another's
        logger.warning("Delivering task-run reports left by another process failed", exc_info=True)
    delay = reporter.interval
    stop, wake, has_reports = reporter._stop, reporter._wake, reporter._has_reports
    del reporter
    while not stop.is_set():
        reporter = ref()
        idle = reporter is not None and reporter._sleep_if_idle()
        del reporter
        if idle:
            has_reports.wait()  # asleep until a report is queued (or the reporter stops or goes)
        wake.wait(delay)  # then the interval gathers a batch, unless SEND_AT reports wake it first
        wake.clear()
        reporter = ref()
        if reporter is None or stop.is_set():
            return
        try:
            with single_attempt():  # an outage is waited out here, not inside one attempt
                reporter.flush()
            delay = reporter.interval
        except ApiUnavailable:
            delay = min(max(delay * 2, reporter.interval), MAX_BACKOFF)
        except Exception as exc:
            logger.warning("Sending task-run reports failed (%s); retrying", exc)
            delay = min(max(delay * 2, reporter.interval), MAX_BACKOFF)
        reporter._backing_off = delay > reporter.interval
        del reporter


_REPORTERS: weakref.WeakSet[TaskRunReporter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for reporter in list(_REPORTERS):
        try:
            reporter.close(timeout=5)
        except Exception:  # at exit nothing is left to report to
            logger.debug("Closing a task-run reporter at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    # A forked child starts with no reports of its own: the parent sends (and journals) its own.
    for reporter in list(_REPORTERS):
        reporter._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
