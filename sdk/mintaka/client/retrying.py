"""Riding out API outages: which failures are retried, how long to wait, when to give up.

One `Outage` per API a process talks to (shared by every thread and every call of one
transport) remembers since when the API has been away. Each failed attempt asks it how long
to wait before trying again: exponential backoff with jitter, capped per sleep, until the
API has been away for longer than the tolerance window (`MINTAKA_API_OUTAGE_TOLERANCE`);
then `ApiOutageExceeded`. The user sees one WARNING when the API goes away and one when it
answers again, never one per call; a single failure retried at once (a dropped connection)
is a blip, not an outage, and says nothing.

The policy holds no I/O of its own (the transport sends, the caller sleeps), so the sync
transport and anything awaiting it share it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mintaka.exceptions import ApiOutageExceeded, ApiUnavailable

# Answers that mean "not now" rather than "no": the gateway, a restarting server, throttling.
OUTAGE_STATUS = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0

logger = logging.getLogger("mintaka.client")

_patience: contextvars.ContextVar[list | None] = contextvars.ContextVar("mintaka_api_patience", default=None)


@contextlib.contextmanager
def patience(seconds: float) -> Iterator[None]:
    """Calls in this block keep retrying for at least `seconds` from the block's first failure,
    even past the window (the engine's last report of a run's final state)."""
    token = _patience.set([seconds, None])  # [seconds, when the first call in the block failed]
    try:
        yield
    finally:
        _patience.reset(token)


_single_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("mintaka_api_single_attempt", default=False)


@contextlib.contextmanager
def single_attempt() -> Iterator[None]:
    """Calls in this block do not wait for the API: a failure raises `ApiUnavailable` at once
    (the outage is still noted and warned about once). For loops that try again anyway, such
    as a worker's poll, which must keep reaping and answering signals while the API is away."""
    token = _single_attempt.set(True)
    try:
        yield
    finally:
        _single_attempt.reset(token)


_retry_cap: contextvars.ContextVar[int | None] = contextvars.ContextVar("mintaka_api_retry_cap", default=None)


@contextlib.contextmanager
def at_most(retries: int | None) -> Iterator[None]:
    """Calls in this block retry at most `retries` times (None: for the whole window), then
    raise what they met: for a person at a terminal, who wants an answer now."""
    token = _retry_cap.set(retries)
    try:
        yield
    finally:
        _retry_cap.reset(token)


def retry_cap() -> int | None:
    return _retry_cap.get()


@dataclass
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between half and all of
    min(cap, first * 2**n), so clients that failed together do not retry together."""

    first: float = 0.5
    cap: float = 10.0
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.first * (2 ** min(attempt, 30)))
        delay = ceiling / 2 + ceiling / 2 * self.rng()
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return delay


@dataclass
class Outage:
    """Whether the API at `api_url` is away, since when, and whether the window was exceeded."""

    api_url: str
    tolerance: float
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    warn: Callable[[str], None] = logger.warning
    since: float | None = None
    exceeded_count: int = 0  # outages that outlasted the window
    _counted_since: float | None = None
    _failures: int = 0
    _announced: bool = False
    _first_reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_delay(self, attempt: int, reason: str, retry_after: float | None = None, *, quiet: bool = False) -> float:
        """How long to wait before attempt `attempt + 1`; raises `ApiOutageExceeded` when the
        API has been away for longer than the window (and this call has no extra patience).
        `quiet`: the caller will report a failure itself (a capped call): no warning from here."""
        now = self.clock()
        with self._lock:
            if self.since is None:
                self.since, self._failures, self._announced, self._first_reason = now, 0, False, reason
            self._failures += 1
            since = self.since
        deadline = since + self.tolerance
        extra = _patience.get()
        if extra is not None:
            if extra[1] is None:
                extra[1] = now
            deadline = max(deadline, extra[1] + extra[0])
        # One failure is a blip (a dropped connection, retried at once); a second one is an outage.
        if not quiet and (self._failures >= 2 or now >= deadline):
            self._announce()
        if _single_attempt.get():
            raise ApiUnavailable(f"The Mintaka API at {self.api_url} is unavailable ({reason})")
        if now >= deadline:
            raise self._exceeded(since)
        return min(self.backoff.delay(attempt, retry_after), max(deadline - now, 0.05))

    def _announce(self) -> None:
        with self._lock:
            if self._announced or self.since is None:
                return
            self._announced = True
        self.warn(
            f"The Mintaka API at {self.api_url} is unavailable ({self._first_reason}); "
            f"retrying for up to {self.tolerance:g} s"
        )

    def answered(self) -> None:
        """The API answered: an outage in progress is over."""
        if self.since is None:  # the common case, without the lock
            return
        with self._lock:
            since, self.since = self.since, None
            announced, self._announced = self._announced, False
        if since is not None and announced:
            self.warn(f"The Mintaka API at {self.api_url} is back after {self.clock() - since:.1f} s")

    def _exceeded(self, since: float) -> ApiOutageExceeded:
        message = f"The Mintaka API at {self.api_url} was unreachable for more than {self.tolerance:g} s"
        with self._lock:
            if self._counted_since != since:  # the first call to give up on this outage
                self._counted_since = since
                self.exceeded_count += 1
                install_excepthook()
        return ApiOutageExceeded(message)  # one per raise: threads never share a traceback


def outage_of(client: object) -> Outage | None:
    """The outage tracker of a client's transport (None: an embedded API has no outages)."""
    return getattr(client, "outage", None)


_hook_installed = False


def install_excepthook() -> None:
    """A script ended by an outage past the window prints one line, not a traceback (the exit
    status stays 1)."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if isinstance(exc, ApiOutageExceeded):
            sys.stderr.write(f"mintaka: error: {exc}\n")
            return
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare from our API; backoff applies


__all__ = [
    "OUTAGE_STATUS",
    "Backoff",
    "Outage",
    "at_most",
    "outage_of",
    "parse_retry_after",
    "patience",
    "retry_cap",
    "single_attempt",
]
