"""`from mintaka.client.embedded import EmbeddedTransport` keeps working: the class lives with
the server (`mintaka_server.embedded`) and is found through its entry point."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "EmbeddedTransport":
        from .transports import transport_class

        return transport_class("embedded")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
