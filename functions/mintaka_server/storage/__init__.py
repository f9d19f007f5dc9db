"""Store port and adapters."""

from .port import ApiKeyRecord, FlowRunClosed, SlotsUnavailable, Store, TransitionWrite, VersionConflict

__all__ = ["ApiKeyRecord", "FlowRunClosed", "SlotsUnavailable", "Store", "TransitionWrite", "VersionConflict"]
