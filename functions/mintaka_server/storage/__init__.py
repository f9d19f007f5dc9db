"""Store port and adapters."""

from .port import ApiKeyRecord, SlotsUnavailable, Store, TransitionWrite, VersionConflict

__all__ = ["ApiKeyRecord", "SlotsUnavailable", "Store", "TransitionWrite", "VersionConflict"]
