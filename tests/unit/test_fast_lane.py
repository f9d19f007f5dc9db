"""The fast lane, `python -m pytest -m "not slow"` (README), keeps its promise: it holds at least
half of the tests, and it runs them on xdist workers with no option to remember. The whole suite,
`python -m pytest` (README, CI), runs on two workers, its timing tests on one of them in turn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # pytest sessions in fresh interpreters


def pytest_session(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_fast_lane_holds_at_least_half_of_the_tests():
    last = pytest_session("--collect-only", "-q", "-m", "not slow").strip().splitlines()[-1]
    match = re.match(r"(\d+)/(\d+) tests collected", last)
    assert match, last
    fast, everything = map(int, match.groups())
    assert fast >= everything / 2, f"the fast lane has {fast} of {everything} tests: mark fewer tests slow"


@pytest.mark.timeout(900)  # four pytest sessions, one collecting the whole suite on two workers
def test_the_fast_lane_and_the_whole_suite_run_on_workers_and_chosen_files_in_one_process():
    tests = "tests/unit/test_public_names.py"
    assert re.search(r"created: \d+/\d+ workers?", pytest_session("-m", "not slow", tests))
    assert "created:" not in pytest_session("-m", "not slow", "-n", "0", tests)
    assert "created:" not in pytest_session(tests)
    whole = pytest_session("-v", "-k", "test_public_names or test_races", "tests")
    assert re.search(r"created: 2/2 workers", whole), whole[-2000:]
    # The timing tests (test_races.py here) all ran on one worker.
    workers = set(re.findall(r"\[(gw\d)\] .*PASSED tests/integration/test_races\.py", whole))
    assert len(workers) == 1, whole[-3000:]
