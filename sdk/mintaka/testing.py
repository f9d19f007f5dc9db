"""Test your own flows against a fresh, throwaway embedded store.

    from mintaka.testing import harness

    def test_my_flow():
        with harness():
            assert my_flow() == 42

or take the `mintaka_harness` pytest fixture: installing mintaka registers it with pytest
(entry point `pytest11`, module `mintaka.pytest_plugin`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

from mintaka.client import MintakaClient, build_client, set_client


@contextmanager
def harness(home: str | Path | None = None, time_skipping: bool = False) -> Iterator[MintakaClient]:
    """Point the SDK at a new embedded store (under a temporary MINTAKA_HOME) for the block;
    yields the client, so tests can inspect the runs their flows made.

    `time_skipping=True`: waits are instant (retry delays, scheduled starts, pauses, WAIT
    answers); the clock jumps instead, for the SDK and the embedded API alike, so recorded
    times and cache expiry still see the time pass."""
    from mintaka.clock import time_skipping as skipping
    from mintaka.logging import flush_logs
    from mintaka.settings import reset_settings

    with tempfile.TemporaryDirectory(prefix="mintaka-test-") as tmp, skipping() if time_skipping else nullcontext():
        saved = {k: os.environ.get(k) for k in ("MINTAKA_HOME", "MINTAKA_API_URL", "MINTAKA_DATABASE")}
        os.environ["MINTAKA_HOME"] = str(home or tmp)
        os.environ.pop("MINTAKA_API_URL", None)
        os.environ.pop("MINTAKA_DATABASE", None)
        reset_settings()
        client = build_client()
        previous = set_client(client)
        try:
            yield client
        finally:
            flush_logs()
            set_client(previous)
            client.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_settings()


# `pytest_plugins = ["mintaka.testing"]` still works (the pytest11 entry point makes it unneeded);
# pytest is optional for users of the harness context manager.
with suppress(ImportError):
    from mintaka.pytest_plugin import mintaka_harness  # noqa: F401
