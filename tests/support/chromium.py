"""A real headless Chromium for the dashboard and browser-attack tests: `render(url)` is the page's
DOM after its scripts ran (fetches included)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def require_chromium() -> None:
    """Skip the calling test module without Chromium; in CI its absence is an error."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must install Chromium (see .ci/run) for the browser tests")
        pytest.skip("Chromium is not installed", allow_module_level=True)


def render(url: str) -> str:
    """The page's DOM after its scripts ran (fetches included), as Chromium renders it."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
