"""The embedded scheduler: `mintaka server start` fires deployment schedules with no AWS.

A daemon thread ticks every few seconds: it creates the SCHEDULED runs that schedules make due
soon (idempotent, so a repeated tick or a second server on the same store never doubles a run)
and renames runs not started in time "Late". The cloud does the same with EventBridge Scheduler.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mintaka_server.services.deployments import DeploymentService

logger = logging.getLogger("mintaka_server.scheduler")


class EmbeddedScheduler:
    def __init__(self, deployments: DeploymentService, interval: float = 2.0):
        self.deployments = deployments
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One pass: schedule due runs, mark late ones, reap lost ones. Errors are logged, never raised."""
        try:
            created = self.deployments.schedule_runs()
            late = self.deployments.mark_late_runs()
            reaped = self.deployments.reap_stale_runs()
        except Exception:
            logger.exception("Scheduler tick failed; retrying in %.1fs", self.interval)
            return
        if late:
            logger.info("Marked %d run(s) Late", late)
        if reaped:
            logger.warning("Reaped %d run(s) whose executors stopped heartbeating (crashed, or requeued)", reaped)
        logger.debug("Scheduler tick: %d scheduled run(s) due soon", len(created))

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
