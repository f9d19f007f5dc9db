"""The embedded scheduler: `mintaka server start` fires deployment schedules with no AWS.

A daemon thread ticks every few seconds: it creates the SCHEDULED runs that schedules make due
soon (each fire time once: see `cursors`), renames runs not started in time "Late" and reaps runs
whose executors stopped heartbeating. Of several servers on one store only the one holding the
leader lease ticks (`leader`); the others take over when its lease expires. The cloud does the
same with EventBridge Scheduler.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mintaka_server.services.deployments import DeploymentService

from .leader import LeaderLease

logger = logging.getLogger("mintaka_server.scheduler")

LEASE_TICKS = 5  # the leader lease lasts this many intervals
MIN_TERM_SECONDS = 1.0


class EmbeddedScheduler:
    def __init__(self, deployments: DeploymentService, interval: float = 2.0, lease: LeaderLease | None = None):
        self.deployments = deployments
        self.interval = interval
        # A leader renews every tick; a term of several ticks rides out a slow one.
        term = dt.timedelta(seconds=max(LEASE_TICKS * interval, MIN_TERM_SECONDS))
        self.lease = lease or LeaderLease(deployments.store, term, clock=deployments.clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> bool:
        """One pass if this scheduler leads: schedule due runs, mark late ones, reap lost ones.
        False if another scheduler leads. Errors are logged, never raised."""
        try:
            if not self.lease.hold():
                logger.debug("Another scheduler on this store leads; not ticking")
                return False
            created = self.deployments.schedule_runs()
            late = self.deployments.mark_late_runs()
            reaped = self.deployments.reap_stale_runs()
        except Exception:
            logger.exception("Scheduler tick failed; retrying in %.1fs", self.interval)
            return True
        if late:
            logger.info("Marked %d run(s) Late", late)
        if reaped:
            logger.warning("Reaped %d run(s) whose executors stopped heartbeating (crashed, or requeued)", reaped)
        logger.debug("Scheduler tick: %d run(s) created", len(created))
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mintaka-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.lease.release()
        except Exception:  # the store may be closed or gone: the lease then expires by itself
            logger.warning("Could not hand back the scheduler lease; it expires by itself", exc_info=True)
