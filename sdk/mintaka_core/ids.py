"""Ids. Run ids are UUIDs in time order (RFC 9562 version 7), so that the rows a flow writes one
after another sit side by side in the embedded store's indexes (a random UUID touches a new page
of every index it is in, per write). Random bits come from a generator of our own, seeded from
the OS (again in a forked child): ids need to be unique, not secret, and several per task made
with `os.urandom` cost a system call each; a user's `random.seed(42)` does not touch it."""

from __future__ import annotations

import os
import random
import time
import uuid

_VERSION_4 = 0x4 << 76
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_CLEAR = ~((0xF << 76) | (0x3 << 62))

_random = random.Random(os.urandom(32))
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_id() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | _random.getrandbits(80)
    return _uuid(value & _CLEAR | _VERSION_7 | _VARIANT_RFC)


def random_uuid() -> uuid.UUID:
    """A version-4 (random) UUID."""
    return _uuid(_random.getrandbits(128) & _CLEAR | _VERSION_4 | _VARIANT_RFC)


def _uuid(value: int) -> uuid.UUID:
    """`uuid.UUID(int=value)` for a value known to be 128 bits: what its constructor stores,
    without the argument checks that made it cost three times as much (several ids a task)."""
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made
