"""API keys: created with a random secret shown once, stored as a hash, verified in constant time.
Each key has a scope (`read`, `write`, `admin`; see `mintaka_server.api.scopes`), fixed at creation.

A key reads `mk_<id>_<secret>`: the id (12 hex characters) names the stored record, so a check
is one `read_api_key` (GetItem), never a scan; the secret is `secrets.token_urlsafe(32)`.

Verified records are cached per process for `cache_seconds`, so a busy client costs one store
read per window. A key revoked through this service is dropped from the cache at once; one
revoked elsewhere (another Lambda container, the CLI on the store) is refused within the window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from mintaka_core.exceptions import ObjectNotFound
from mintaka_core.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated
from mintaka_core.states import utcnow
from mintaka_server.storage import ApiKeyRecord, ApiKeyStore

KEY_PREFIX = "mk"
CACHE_SECONDS = 5.0
MAX_CACHED_KEYS = 1024


class ApiKeyService:
    """Create, list, revoke and verify API keys on a store."""

    def __init__(
        self,
        store: ApiKeyStore,
        clock: Callable = utcnow,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, ApiKeyRecord]] = {}
        self._lock = threading.Lock()

    def create(self, body: ApiKeyCreate) -> ApiKeyCreated:
        """A new key; the answer is the only place its secret ever appears."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=key_id, name=body.name, created=self.clock(), scope=body.scope, secret_hash=_hash(secret)
        )
        self.store.create_api_key(record)
        return ApiKeyCreated(**_public(record).model_dump(), key=f"{KEY_PREFIX}_{key_id}_{secret}")

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first (never a secret or a hash)."""
        return [_public(record) for record in self.store.list_api_keys()]

    def revoke(self, key_id: str) -> None:
        """Revoke the key (again is harmless); `ObjectNotFound` if there is no such key."""
        if not self.store.revoke_api_key(key_id, self.clock()):
            raise ObjectNotFound(f"No API key with id {key_id!r}")
        with self._lock:
            self._cache.pop(key_id, None)

    def verify(self, key: str) -> ApiKey | None:
        """The key's record if `key` is a live key; None if malformed, unknown, wrong or revoked."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        record = self._record(key_id)
        if record is None:
            return None
        # Compare digests of equal length in constant time: the answer's timing says nothing
        # about how much of the secret was right.
        if not hmac.compare_digest(_hash(secret), record.secret_hash):
            return None
        if record.revoked is not None:
            return None
        return _public(record)

    def _record(self, key_id: str) -> ApiKeyRecord | None:
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        record = self.store.read_api_key(key_id)
        with self._lock:
            if record is None:
                self._cache.pop(key_id, None)  # unknown ids are not cached: a new key works at once
            else:
                if len(self._cache) >= MAX_CACHED_KEYS:
                    self._cache.clear()
                self._cache[key_id] = (now, record)
        return record


def parse_key(key: str) -> tuple[str, str] | None:
    """`mk_<id>_<secret>` → (id, secret); None for anything else. The id is hex, so the first
    two underscores split it even though the secret may contain more."""
    prefix, _, rest = key.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not secret or not key_id or not all(c in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


def _hash(secret: str) -> str:
    # A plain SHA-256 is enough here: the secret is 256 random bits, not a password, so there is
    # no dictionary to try and a slow, salted hash (bcrypt, scrypt) would only slow every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def _public(record: ApiKeyRecord) -> ApiKey:
    return ApiKey(id=record.id, name=record.name, created=record.created, revoked=record.revoked, scope=record.scope)
