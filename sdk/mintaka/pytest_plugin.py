"""The pytest plugin `pip install mintaka` registers (entry point `pytest11`): the `mintaka_harness`
fixture, with no import or `pytest_plugins` line in the user's tests.

    def test_my_flow(mintaka_harness):
        assert my_flow() == 42
        assert mintaka_harness.read_flow_runs()[0].state.is_completed()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pytest loads this module in every session: importing the client waits for a test to ask
    from mintaka.client import MintakaClient


@pytest.fixture
def mintaka_harness() -> Iterator[MintakaClient]:
    """A fresh embedded store for one test (`mintaka.testing.harness`); yields its client."""
    from mintaka.testing import harness

    with harness() as client:
        yield client
