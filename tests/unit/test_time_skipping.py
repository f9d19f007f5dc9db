"""`harness(time_skipping=True)`: retry delays, WAIT answers and pauses are instant, and the
embedded API sees the time they skipped (recorded times stay truthful)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from mintaka import clock, flow, pause_flow_run, task
from mintaka.pausing import PausedRunTimeout
from mintaka.schemas import FlowRunFilter
from mintaka.testing import harness


def test_an_hour_of_retry_delays_passes_at_once():
    attempts = []

    @task(retries=3, retry_delay_seconds=[600, 1200, 1800])
    def flaky():
        attempts.append(clock.now())
        if len(attempts) < 4:
            raise RuntimeError("not yet")
        return "done"

    @flow
    def f():
        return flaky()

    with harness(time_skipping=True):
        started = time.monotonic()
        assert f() == "done"
        assert time.monotonic() - started < 5
    gaps = [(b - a).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert [round(g, -1) for g in gaps] == [600, 1200, 1800]


def test_a_pause_times_out_at_once_and_the_clock_is_reset_after():
    @flow
    def waits():
        pause_flow_run(timeout=3600, poll_interval=60)

    with harness(time_skipping=True) as client:
        started = time.monotonic()
        with pytest.raises(PausedRunTimeout):
            waits()
        assert time.monotonic() - started < 30  # an hour's pause, skipped (30 s: a loaded machine)
        [run] = client.list_flow_runs(FlowRunFilter()).items
        states = client.read_flow_run_states(run.id)
        paused = next(s for s in states if s.type.value == "PAUSED")
        # The deadline is the client's time of pausing + 3600 s; the server stamps PAUSED a
        # moment later (under load, a millisecond or more), so the span may fall short by that.
        assert (states[-1].timestamp - paused.timestamp).total_seconds() >= 3600 - 1
    assert not clock.is_skipping()
    assert abs((clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 1


def test_without_time_skipping_the_clock_is_the_wall_clock():
    assert abs((clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 1
    started = time.monotonic()
    clock.sleep(0.05)
    assert time.monotonic() - started >= 0.05
