"""Store port and adapters."""

from .port import (
    ApiKeyRecord,
    ApiKeyStore,
    ConcurrencyLimitStore,
    DocumentStore,
    FlowRunClosed,
    LogStore,
    RunStore,
    SlotsUnavailable,
    Store,
    TransitionWrite,
    VersionConflict,
)

__all__ = [
    "ApiKeyRecord",
    "ApiKeyStore",
    "ConcurrencyLimitStore",
    "DocumentStore",
    "FlowRunClosed",
    "LogStore",
    "RunStore",
    "SlotsUnavailable",
    "Store",
    "TransitionWrite",
    "VersionConflict",
]
