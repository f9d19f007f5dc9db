"""The outage policy (`mintaka.client.retrying`) on a test clock: backoff with jitter capped per
sleep, one warning when the API goes and one when it is back (however many threads fail),
giving up past the window, extra patience for a final report, single attempts for loops."""

from __future__ import annotations

import threading

import pytest

from mintaka.client.retrying import Backoff, Outage, patience, single_attempt
from mintaka.exceptions import ApiOutageExceeded, ApiUnavailable

URL = "http://api.example/api"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def outage(clock, warnings) -> Outage:
    return Outage(URL, tolerance=60, clock=clock, warn=warnings.append)


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_backoff_grows_exponentially_with_jitter_and_a_cap(draw):
    backoff = Backoff(first=0.5, cap=10, rng=lambda: draw)
    delays = [backoff.delay(n) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(10, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 10


def test_retry_after_is_obeyed_within_reason():
    backoff = Backoff(first=0.5, cap=10, rng=lambda: 0.0)
    assert backoff.delay(0, retry_after=7) == 7
    assert backoff.delay(0, retry_after=10_000) == 30  # a server cannot park a client for hours


def test_one_warning_when_the_api_goes_and_one_when_it_is_back(outage, clock, warnings):
    threads = [threading.Thread(target=outage.next_delay, args=(0, "ConnectError")) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for attempt in range(5):
        clock.now += 5
        outage.next_delay(attempt, "502 Bad Gateway")
    assert warnings == [f"The Mintaka API at {URL} is unavailable (ConnectError); retrying for up to 60 s"]
    outage.answered()
    outage.answered()
    assert warnings[1:] == [f"The Mintaka API at {URL} is back after 25.0 s"]


def test_a_blip_retried_at_once_says_nothing(outage, warnings):
    outage.next_delay(0, "RemoteProtocolError")
    outage.answered()
    assert warnings == []


def test_past_the_window_every_call_gives_up_at_once(outage, clock):
    outage.next_delay(0, "ConnectError")
    clock.now += 59
    assert outage.next_delay(5, "ConnectError") <= 1  # never sleeps past the window
    count = outage.exceeded_count
    clock.now += 1
    with pytest.raises(ApiOutageExceeded, match=f"The Mintaka API at {URL} was unreachable for more than 60 s"):
        outage.next_delay(6, "ConnectError")
    with pytest.raises(ApiOutageExceeded):
        outage.next_delay(0, "ConnectError")  # another call of the same outage: no new wait
    assert outage.exceeded_count == count + 1  # one outage, counted once


def test_a_new_outage_gets_a_new_window(outage, clock, warnings):
    outage.next_delay(0, "ConnectError")
    clock.now += 100
    with pytest.raises(ApiOutageExceeded):
        outage.next_delay(1, "ConnectError")
    outage.answered()
    clock.now += 1
    assert outage.next_delay(0, "ConnectError") > 0
    assert outage.next_delay(1, "ConnectError") > 0
    assert len(warnings) == 3  # away, back, away again


def test_patience_outlasts_the_window_for_a_final_report(outage, clock):
    outage.next_delay(0, "ConnectError")
    clock.now += 61
    with patience(30):
        assert outage.next_delay(0, "ConnectError") > 0
        clock.now += 29
        assert outage.next_delay(9, "ConnectError") <= 1
        clock.now += 1
        with pytest.raises(ApiOutageExceeded):
            outage.next_delay(10, "ConnectError")
    with pytest.raises(ApiOutageExceeded):
        outage.next_delay(0, "ConnectError")


def test_single_attempt_notes_the_outage_but_never_waits(outage, warnings):
    for _ in range(3):  # a worker's polls, a few seconds apart
        with single_attempt(), pytest.raises(ApiUnavailable) as raised:
            outage.next_delay(0, "503 Service Unavailable")
        assert not isinstance(raised.value, ApiOutageExceeded)
    assert len(warnings) == 1 and outage.since is not None


def test_a_capped_call_reports_its_own_failure_without_a_warning(outage, warnings):
    for attempt in range(3):  # `mintaka flow-run ls` at a terminal: a few quick tries, then one error line
        outage.next_delay(attempt, "ConnectError", quiet=True)
    outage.answered()
    assert warnings == []
