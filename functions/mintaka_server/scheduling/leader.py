"""Leader election for schedulers sharing a store: one lease document, taken and renewed by
conditional writes (`Store.swap_document`), so of several `mintaka server start` on one SQLite
file or one DynamoDB table only the holder does a tick's work. A holder that stops renewing
(killed, its machine gone) is replaced once its lease has expired; one that stops cleanly hands
the lease back at once.

Leases compare the holders' clocks: the term must be much longer than their skew (seconds)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from mintaka_core.states import utcnow
from mintaka_server.storage import Store

LEADER_LEASE = "leader_lease"  # document kind


class LeaderLease:
    def __init__(
        self,
        store: Store,
        term: dt.timedelta,
        clock: Callable[[], dt.datetime] = utcnow,
        name: str = "scheduler",
        holder: str | None = None,
    ):
        self.store = store
        self.term = term
        self.clock = clock
        self.name = name
        self.holder = holder or uuid.uuid4().hex

    def hold(self) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True while we lead."""
        now = self.clock()
        current = self.store.read_document(LEADER_LEASE, self.name)
        if current is not None and current["holder"] != self.holder and _at(current["expires"]) > now:
            return False
        lease = {"holder": self.holder, "expires": (now + self.term).isoformat()}
        expected = current["version"] if current is not None else None
        return self.store.swap_document(LEADER_LEASE, self.name, lease, expected)

    def release(self) -> None:
        """Hand the lease back (it expires now) if we hold it, so another scheduler leads at once."""
        current = self.store.read_document(LEADER_LEASE, self.name)
        if current is not None and current["holder"] == self.holder:
            ended = {"holder": self.holder, "expires": self.clock().isoformat()}
            self.store.swap_document(LEADER_LEASE, self.name, ended, current["version"])


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
