"""The embedded transport: the orchestration service in-process, on the local SQLite store.
It skips only the socket and HTTP parsing; validation, rules and writes are the API's own."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

from mintaka._serial import serial_threads

from .base import MintakaClient
from .deployments import DeploymentClient


def _delegate(name: str, target: str):
    def method(self, *args, **kwargs):
        ident = threading.get_ident()
        serial_threads.add(ident)  # more task-runner threads cannot speed the store up
        try:
            return getattr(getattr(self, target), name)(*args, **kwargs)
        finally:
            serial_threads.discard(ident)

    method.__name__ = name
    return method


class EmbeddedTransport(MintakaClient):
    """Calls `OrchestrationService` (and, for deployments and work queues, `DeploymentService`)
    directly on a SQLite file (default `$MINTAKA_HOME/mintaka.db`)."""

    def __init__(self, database: str | Path, clock: Callable[[], dt.datetime] | None = None):
        from mintaka_server.services import OrchestrationService
        from mintaka_server.services.deployments import DeploymentService
        from mintaka_server.storage.sqlite import SQLiteStore

        self.database = Path(database)
        from mintaka.clock import now

        # The SDK's clock: under time skipping, the API sees the time the waits skipped to.
        self.service = OrchestrationService(SQLiteStore(self.database), clock=clock or now)
        self.deployments = DeploymentService(self.service)

    def close(self) -> None:
        self.service.store.close()


for _name in MintakaClient.__abstractmethods__:
    _target = "deployments" if _name in DeploymentClient.__abstractmethods__ else "service"
    setattr(EmbeddedTransport, _name, _delegate(_name, _target))
EmbeddedTransport.__abstractmethods__ = frozenset()
