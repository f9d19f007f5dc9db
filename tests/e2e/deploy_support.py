"""Helpers for the deployment e2e tests: long-running CLI processes (server, worker) with their
output in a log file, and polling until something is true."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "deployable.py"

T = TypeVar("T")


@dataclass
class Background:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def wait_for(
    check: Callable[[], T], timeout: float = 60.0, interval: float = 0.2, what: str | Callable[[], str] = "condition"
) -> T:
    """Poll `check` until it returns something truthy; that value is returned. `what` describes
    it in the failure (a callable is called then, e.g. to show a log as it is at that time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


@pytest.fixture
def spawn(mintaka_home, tmp_path) -> Iterator[Callable[..., Background]]:
    """`spawn("worker", "start", ..., api_url=URL)`: the CLI in the background on the test's
    MINTAKA_HOME, output in a log file; terminated (SIGTERM, then SIGKILL) at the end."""
    started: list[tuple[Background, object]] = []

    def start(*args: str, api_url: str | None = None, env: dict[str, str] | None = None) -> Background:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
        environment.update(MINTAKA_HOME=str(mintaka_home), NO_COLOR="1", PYTHONUNBUFFERED="1", **(env or {}))
        if api_url:
            environment["MINTAKA_API_URL"] = api_url
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        handle = open(log, "w")  # noqa: SIM115 - closed at teardown
        process = subprocess.Popen(
            [sys.executable, "-m", "mintaka.cli", *args], env=environment, stdout=handle, stderr=subprocess.STDOUT
        )
        background = Background(process, log)
        started.append((background, handle))
        return background

    yield start
    for background, handle in started:
        background.process.terminate()
        try:
            background.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            background.process.kill()
            background.process.wait()
        handle.close()
