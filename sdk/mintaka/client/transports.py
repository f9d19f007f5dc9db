"""Transports the SDK does not hold: the embedded one runs the orchestration service, which lives
in the server package. The SDK never names that package; it finds the transport through the
`mintaka.transports` entry point group (`embedded` = the service in-process on a SQLite file),
which the distribution declares in pyproject.toml."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mintaka.exceptions import MintakaError

if TYPE_CHECKING:
    from .base import MintakaClient

GROUP = "mintaka.transports"


@functools.cache
def transport_class(name: str) -> Any:
    """The class the `mintaka.transports` entry point `name` names (loaded once per process)."""
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise MintakaError(
            f"No {name!r} transport is installed (entry point group {GROUP!r}): reinstall Mintaka"
            " (`pip install mintaka`), or set MINTAKA_API_URL to use a server"
        )
    return next(iter(found)).load()


def embedded_transport(database: str | Path) -> MintakaClient:
    """The orchestration service in this process, on the SQLite file `database`."""
    return transport_class("embedded")(database)


def is_embedded(client: object) -> bool:
    """Whether `client` is the embedded transport (or built on it)."""
    return isinstance(client, transport_class("embedded"))
