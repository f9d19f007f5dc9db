"""The embedded transport: the orchestration service in-process, on the local SQLite store.
It skips only the socket and HTTP parsing; validation, rules and writes are the API's own.

It lives with the server, which it runs; the SDK, which never names the server package, finds it
through the `mintaka.transports` entry point (`embedded`, see `mintaka.client.transports`)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

# The SDK's run-time: which threads run tasks serially, and its clock (a test clock in tests).
# This module is the one the layering lets import both sides; the wire types come from the core.
from mintaka._serial import serial_threads
from mintaka.clock import now
from mintaka_core.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka_core.client import MintakaClient
from mintaka_core.deployment_client import DeploymentClient

from . import composition
from .services.batch_reports import TaskRunReporting
from .storage.sqlite import SQLiteStore

# Calls that leave task starts deferred (see the service's `defer_task_starts`): a task's start
# and end, and the background log shipper and heartbeat, which touch no task run. Any other call
# writes them first, so it reads and decides on everything.
_KEEP_STARTS_DEFERRED = frozenset(
    {"create_task_run", "set_task_run_state", "create_logs", "heartbeat_flow_run", "heartbeat_task_run"}
)


def _delegate(name: str, target: str):
    writes_deferred_starts = name not in _KEEP_STARTS_DEFERRED

    def method(self, *args, **kwargs):
        ident = threading.get_ident()
        serial_threads.add(ident)  # more task-runner threads cannot speed the store up
        try:
            if writes_deferred_starts:
                self.service.write_deferred_starts()
            return getattr(getattr(self, target), name)(*args, **kwargs)
        finally:
            serial_threads.discard(ident)

    method.__name__ = name
    return method


class EmbeddedTransport(MintakaClient):
    """Calls `OrchestrationService` (and, for deployments and work queues, `DeploymentService`)
    directly on a SQLite file (default `$MINTAKA_HOME/mintaka.db`)."""

    def __init__(self, database: str | Path, clock: Callable[[], dt.datetime] | None = None):
        self.database = Path(database)
        # The SDK's clock: under time skipping, the API sees the time the waits skipped to.
        services = composition.build(composition.embedded_settings(), SQLiteStore(self.database), clock=clock or now)
        self.service = services.orchestration
        self.service.defer_task_starts()
        self.deployments = services.deployments

    def report_task_runs(self, body: TaskRunReports) -> TaskRunReportsResult:
        self.service.write_deferred_starts()
        return TaskRunReporting(self.service).apply(body)

    def publish_writes(self) -> None:
        self.service.write_deferred_starts()
        self.service.store.commit_grouped()

    def close(self) -> None:
        self.service.deferred_starts.close()
        self.service.store.close()


for _name in MintakaClient.__abstractmethods__ - set(vars(EmbeddedTransport)):
    _target = "deployments" if _name in DeploymentClient.__abstractmethods__ else "service"
    setattr(EmbeddedTransport, _name, _delegate(_name, _target))
EmbeddedTransport.__abstractmethods__ = frozenset()
