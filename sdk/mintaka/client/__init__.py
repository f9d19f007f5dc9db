"""Clients of the orchestration API: one interface, embedded and HTTP transports."""

from __future__ import annotations

import threading

from .base import MintakaClient
from .transports import embedded_transport

_lock = threading.Lock()
_client: MintakaClient | None = None


def get_client() -> MintakaClient:
    """The process-wide client, built from settings on first use."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = build_client()
    return _client


def get_async_client():
    """The process-wide client with awaitable methods (also: `async with get_client() as c`)."""
    from .asynchronous import AsyncMintakaClient

    return AsyncMintakaClient(get_client())


def build_client() -> MintakaClient:
    from mintaka.settings import get_settings

    settings = get_settings()
    if settings.api_url:
        from .http import HttpTransport

        return HttpTransport(
            settings.api_url,
            api_key=settings.api_key,
            timeout=settings.api_timeout,
            outage_tolerance=settings.api_outage_tolerance,
            write_behind=settings.task_run_reports,
            journal_dir=settings.log_spool_path,
        )

    return embedded_transport(settings.database_path)


def set_client(client: MintakaClient | None) -> MintakaClient | None:
    """Replace the process-wide client (returns the previous one); None resets to settings."""
    global _client
    with _lock:
        previous, _client = _client, client
    return previous


__all__ = ["MintakaClient", "build_client", "get_async_client", "get_client", "set_client"]
