"""The embedded work queue: the store is the queue.

A SCHEDULED run *is* its message, so `send` has nothing to write; `receive` lists the store's
due SCHEDULED runs of the queue (`store.list_due_flow_runs`). Visibility (in flight, released
with a delay) and acks are kept in this process's memory, like a broker's; claiming a run
(PENDING) is what takes it out of the queue for every process sharing the store.

Which runs a consumer may take (not one awaiting a retry by its own executor) is the services'
rule (`DeploymentService.get_work_queue_runs`, `RunWorker`), the same for every adapter.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable

from mintaka_core.schemas import FlowRun
from mintaka_core.states import utcnow
from mintaka_server.storage import RunStore

from .port import QueuedRun, WorkQueuePort, due_time


class EmbeddedWorkQueues(WorkQueuePort):
    def __init__(self, store: RunStore, clock: Callable[[], dt.datetime] = utcnow):
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._hidden_until: dict[uuid.UUID, dt.datetime] = {}
        self._acked: set[uuid.UUID] = set()
        self._receives: Counter[uuid.UUID] = Counter()
        self._receipts = itertools.count(1)

    def send(self, run: FlowRun) -> None:
        with self._lock:  # sent again (re-dispatched): deliverable again
            self._acked.discard(run.id)
            self._hidden_until.pop(run.id, None)

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout: float = 30.0) -> list[QueuedRun]:
        now = self.clock()
        with self._lock:
            limit = max_messages + len(self._acked) + len(self._hidden_until) + 10
            runs = self.store.list_due_flow_runs(now, work_queue_name=queue, limit=limit)
            if len(runs) < limit:  # a complete listing: forget runs that left the queue
                listed = {run.id for run in runs}
                self._acked &= listed
                self._hidden_until = {k: v for k, v in self._hidden_until.items() if k in listed}
                self._receives = Counter({k: v for k, v in self._receives.items() if k in listed})
            out: list[QueuedRun] = []
            for run in runs:
                if len(out) >= max_messages:
                    break
                if run.id in self._acked or self._hidden_until.get(run.id, now) > now:
                    continue
                self._hidden_until[run.id] = now + dt.timedelta(seconds=visibility_timeout)
                self._receives[run.id] += 1
                out.append(
                    QueuedRun(
                        flow_run_id=run.id,
                        work_queue=queue,
                        due=due_time(run),
                        receipt=f"{run.id}:{next(self._receipts)}",
                        receive_count=self._receives[run.id],
                        source=queue,
                    )
                )
            return out

    def ack(self, message: QueuedRun) -> None:
        with self._lock:
            self._hidden_until.pop(message.flow_run_id, None)
            self._acked.add(message.flow_run_id)

    def release(self, message: QueuedRun, delay: float = 0.0) -> None:
        with self._lock:
            if message.flow_run_id not in self._acked:
                self._hidden_until[message.flow_run_id] = self.clock() + dt.timedelta(seconds=max(delay, 0.0))
