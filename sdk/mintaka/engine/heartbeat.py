"""The process's heartbeat: one daemon thread renews the lease of every flow run this process
is running, every `MINTAKA_HEARTBEAT_INTERVAL` seconds (one request per run, none per task in
a flow; a task called outside any flow is leased, and beaten for, as a run of its own).

A flow run declares that interval when it starts RUNNING; the server keeps its concurrency
slots and calls it alive for three intervals after each beat. Once they pass in silence (the
process was killed), a run waiting for those slots takes them back and the reaper ends the run.
This thread shares the process with user code: a C call holding the GIL for longer than three
intervals silences it. Deployed runs (`mintaka flow-run execute`) are also beaten for by a parent
process that user code cannot block.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mintaka.client.retrying import single_attempt

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import FlowRun, TaskRun

OnBeat = Callable[["FlowRun | TaskRun"], None]
RETRY_MISSED_BEAT_SECONDS = 1.0


def heartbeat_interval() -> float:
    from mintaka.settings import get_settings

    return get_settings().heartbeat_interval


@dataclass
class _Beating:
    client: MintakaClient
    kind: str = "flow_run"
    holders: int = 0
    listeners: list[OnBeat] = field(default_factory=list)


class Heartbeat:
    """The runs to beat for and the thread that does it (started on the first run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[uuid.UUID, _Beating] = {}
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    @contextmanager
    def beating(
        self, client: MintakaClient, run_id: uuid.UUID, on_beat: OnBeat | None = None, kind: str = "flow_run"
    ) -> Iterator[None]:
        """Beat for `run_id` (a flow run, or a `task_run` outside any flow) while the block runs;
        `on_beat` gets the run each beat answers with."""
        self._add(client, run_id, on_beat, kind)
        try:
            yield
        finally:
            self._remove(run_id, on_beat)

    def is_beating(self, run_id: uuid.UUID) -> bool:
        return run_id in self._runs

    def _add(self, client: MintakaClient, run_id: uuid.UUID, on_beat: OnBeat | None, kind: str) -> None:
        with self._lock:
            entry = self._runs.setdefault(run_id, _Beating(client, kind))
            entry.holders += 1
            if on_beat is not None:
                entry.listeners.append(on_beat)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mintaka-heartbeat", daemon=True)
                self._thread.start()

    def _remove(self, run_id: uuid.UUID, on_beat: OnBeat | None) -> None:
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is None:
                return
            entry.holders -= 1
            if on_beat is not None and on_beat in entry.listeners:
                entry.listeners.remove(on_beat)
            if entry.holders <= 0:
                del self._runs[run_id]

    def _loop(self) -> None:
        missed = False
        while True:
            every = heartbeat_interval()
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
                # After a missed beat, try again soon: the lease runs out three intervals after the
                # last beat that got through, so the first beat after an outage must not wait long.
                self._wake.wait(min(every, RETRY_MISSED_BEAT_SECONDS) if missed else every)
                due = [(run_id, entry, list(entry.listeners)) for run_id, entry in self._runs.items()]
            missed = not all([self._beat(entry, run_id, every, listeners) for run_id, entry, listeners in due])

    @staticmethod
    def _beat(entry: _Beating, run_id: uuid.UUID, every: float, listeners: list[OnBeat]) -> bool:
        # A missed beat must not fail the run. One try per beat (the loop tries again soon): a
        # beat retried through an outage would hold back the beats of the process's other runs.
        try:
            with single_attempt():
                beat = entry.client.heartbeat_task_run if entry.kind == "task_run" else entry.client.heartbeat_flow_run
                run = beat(run_id, every)
        except Exception:
            return False
        with suppress(Exception):
            for listener in listeners:
                listener(run)
        return True

    def _after_fork(self) -> None:
        # The thread did not survive the fork, and the runs are the parent's to beat for.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._runs = {}
        self._thread = None


HEARTBEAT = Heartbeat()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HEARTBEAT._after_fork)


def start_beating(client: MintakaClient, run_id: uuid.UUID, on_beat: OnBeat | None = None) -> Callable[[], None]:
    """Beat for `run_id` until the returned function is called (for code that cannot use `with`)."""
    beating = HEARTBEAT.beating(client, run_id, on_beat)
    beating.__enter__()
    return lambda: beating.__exit__(None, None, None)
