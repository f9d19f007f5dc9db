"""The SDK suite runs against every transport: the embedded API (default) and, with
`--sdk-transport http`, an HTTP API served by uvicorn (see tests/e2e)."""

from __future__ import annotations

import pytest

from mintaka.testing import harness


@pytest.fixture
def client():
    """A fresh embedded store; yields the client so tests can inspect what was recorded."""
    with harness() as c:
        yield c


@pytest.fixture
def history(client):
    """history("task" | "flow", run_id) -> the names of the run's states, oldest first."""

    def names(kind: str, run_id) -> list[str]:
        if kind == "task":
            return [s.name for s in client.read_task_run_states(run_id)]
        return [s.name for s in client.read_flow_run_states(run_id)]

    return names
