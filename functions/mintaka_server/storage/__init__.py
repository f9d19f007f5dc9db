"""Store port and adapters."""

from .port import SlotsUnavailable, Store, TransitionWrite, VersionConflict

__all__ = ["SlotsUnavailable", "Store", "TransitionWrite", "VersionConflict"]
