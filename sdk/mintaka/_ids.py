"""Run ids: UUIDs in time order (RFC 9562 version 7), so that the rows a flow writes one after
another sit side by side in the embedded store's indexes (a random UUID touches a new page of
every index it is in, per write)."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_CLEAR = ~((0xF << 76) | (0x3 << 62))


def new_id() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return uuid.UUID(int=value & _CLEAR | _VERSION_7 | _VARIANT_RFC)
