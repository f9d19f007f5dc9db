"""Test your own flows against a fresh, throwaway embedded store.

    from mintaka.testing import harness

    def test_my_flow():
        with harness():
            assert my_flow() == 42

or use the `mintaka_harness` pytest fixture (`pytest_plugins = ["mintaka.testing"]`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from mintaka.client import MintakaClient


@contextmanager
def harness(home: str | Path | None = None, time_skipping: bool = False) -> Iterator[MintakaClient]:
    """Point the SDK at a new embedded store (under a temporary MINTAKA_HOME) for the block;
    yields the client, so tests can inspect the runs their flows made.

    `time_skipping=True`: waits are instant (retry delays, scheduled starts, pauses, WAIT
    answers); the clock jumps instead, for the SDK and the embedded API alike, so recorded
    times and cache expiry still see the time pass."""
    from mintaka.client import build_client, set_client
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


try:
    import pytest

    @pytest.fixture
    def mintaka_harness() -> Iterator[MintakaClient]:
        """A fresh embedded store for one test."""
        with harness() as client:
            yield client

except ImportError:  # pytest is optional for users of the harness context manager
    pass
