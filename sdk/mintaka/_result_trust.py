"""What a reader checks before it loads a persisted result (see README, "Trust model").

A result reference (`ResultRef`) comes back from the API, and any API key holder can write
states. So a reference is never taken at its word:

1. Where: it must point into the reader's own result storage (the same directory or the same
   S3 bucket and prefix), with a plain key (no `/`, no `..`, no leading `.`).
2. What: the stored bytes must match the reference's digest, an HMAC-SHA256 keyed by a secret
   kept in the result storage itself (`.mintaka-result-key`, created on first write). Whoever can
   read the storage can check results; only whoever can read it can make a digest that checks,
   so a key holder who cannot read a client's storage cannot forge one. The digest covers the
   cache key the result was written for, so one cached result cannot stand in for another.

A cache hit failing either check is a cache miss (the task runs); an ordinary read failing
them raises `UntrustedResult`. Nothing failing them is ever deserialised.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from mintaka.exceptions import MintakaError

SECRET_NAME = ".mintaka-result-key"
DIGEST_PREFIX = "hmac-sha256:"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")
_SECRET = re.compile(r"^[0-9a-f]{64}$")


class UntrustedResult(MintakaError):
    """A result reference failed the reader's checks (where it points, or its digest); the
    result was not loaded."""


def key_problem(key: str) -> str | None:
    """Why `key` is not a plain result key (a name inside the storage), or None."""
    if _PLAIN_KEY.match(key):
        return None
    return f"its key {key[:80]!r} is not a plain name (letters, digits, '.', '_', '-'; no '/' or leading '.')"


def parse_secret(text: str, where: str) -> bytes:
    value = text.strip()
    if not _SECRET.match(value):
        raise MintakaError(f"The result signing key {where} is malformed (expected 64 hex digits)")
    return bytes.fromhex(value)


def digest(secret: bytes, key: str, serializer: str, blob: bytes, scope: str | None) -> str:
    """The digest a writer records: over the bytes, their key, serializer and cache key."""
    mac = hmac.new(secret, f"mintaka-result-v1\0{scope or ''}\0{key}\0{serializer}\0".encode(), hashlib.sha256)
    mac.update(blob)
    return DIGEST_PREFIX + mac.hexdigest()


def digest_matches(secret: bytes, key: str, serializer: str, blob: bytes, scope: str | None, recorded: str) -> bool:
    return hmac.compare_digest(digest(secret, key, serializer, blob, scope), recorded)
