"""Users test their own flows against a throwaway store with `mintaka.testing.harness`."""

from __future__ import annotations

import os

from mintaka import flow
from mintaka.schemas import FlowRunFilter
from mintaka.settings import get_settings
from mintaka.testing import harness, mintaka_harness  # noqa: F401 - the fixture users import


@flow
def answer():
    return 42


def test_harness_isolates_each_block():
    before = os.environ.get("MINTAKA_HOME")
    with harness() as first:
        home = get_settings().home_path
        assert answer() == 42
        assert len(first.list_flow_runs(FlowRunFilter()).items) == 1
    with harness() as second:
        assert get_settings().home_path != home
        assert second.list_flow_runs(FlowRunFilter()).items == []
    assert os.environ.get("MINTAKA_HOME") == before
    assert not home.exists()


def test_pytest_fixture(mintaka_harness):  # noqa: F811
    answer()
    assert mintaka_harness.list_flow_runs(FlowRunFilter()).items[0].flow_name == "answer"
