"""Where persisted results live: a directory (`LocalResultStore`) or an S3 bucket and prefix
(`S3ResultStore`), and the bytes a serializer makes of a value. Every write returns a
`ResultRef` carrying a digest (see `mintaka._result_trust`); `read_bytes` gives the stored bytes
for a reader to check before anything is deserialised. boto3 loads on first S3 use only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from mintaka._aws import ErrorMap, aws_client
from mintaka._json_codec import _dumps_json, _loads_json
from mintaka._result_trust import SECRET_NAME, UntrustedResult, digest, key_problem, parse_secret
from mintaka.exceptions import MintakaError
from mintaka.serializers import compress, decompress, serializer_name, split
from mintaka.states import ResultRef


class MissingResult(MintakaError):
    """The run completed but its result was neither kept in memory nor persisted."""


def _dumps(value: Any, serializer: str) -> bytes:
    base, compression = split(serializer)
    if base == "json":
        blob = _dumps_json(value)
    else:
        import cloudpickle

        blob = cloudpickle.dumps(value)
    return compress(blob, compression) if compression else blob


def _loads(blob: bytes, serializer: str) -> Any:
    base, compression = split(serializer)
    if compression:
        blob = decompress(blob, compression)
    if base == "json":
        return _loads_json(blob)
    import cloudpickle

    return cloudpickle.loads(blob)


class ResultStore(Protocol):
    url: str

    def write(
        self, value: Any, serializer: str = "cloudpickle", key: str | None = None, scope: str | None = None
    ) -> ResultRef: ...

    def read(self, key: str, serializer: str = "cloudpickle") -> Any: ...

    def read_bytes(self, key: str) -> bytes: ...

    def secret(self) -> bytes: ...


def _new_key(key: str | None) -> str:
    key = key or uuid.uuid4().hex
    problem = key_problem(key)
    if problem:
        raise MintakaError(f"Cannot write the result: {problem}")
    return key


# Each storage's signing secret, read (or created) once per process.
_secrets: dict[tuple[Any, ...], bytes] = {}
_secrets_lock = threading.Lock()


def _cached_secret(store: Any, *version: Any) -> bytes:
    """The store's secret, loaded once per `(url, *version)` (a local key file's inode and
    mtime: a directory wiped and started afresh is noticed)."""
    cache_key = (store.url, *version)
    secret = _secrets.get(cache_key)
    if secret is None:
        with _secrets_lock:
            secret = _secrets.get(cache_key)
            if secret is None:
                secret = _secrets[cache_key] = store._load_secret()
    return secret


class LocalResultStore:
    """Results as files in a directory (written atomically: temp file, then rename)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser().resolve()

    @property
    def url(self) -> str:
        return self.directory.as_uri()

    def write(
        self, value: Any, serializer: str = "cloudpickle", key: str | None = None, scope: str | None = None
    ) -> ResultRef:
        """Persist `value`; the reference carries a digest over the bytes and `scope` (the
        cache key it is written for, if any)."""
        serializer = serializer_name(serializer)
        blob = _dumps(value, serializer)  # an unencodable value fails before anything is written
        key = _new_key(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / key
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        signed = digest(self.secret(), key, serializer, blob, scope)
        return ResultRef(storage=self.url, key=key, serializer=serializer, digest=signed)

    def read(self, key: str, serializer: str = "cloudpickle") -> Any:
        return _loads(self.read_bytes(key), serializer)

    def read_bytes(self, key: str) -> bytes:
        path = (self.directory / key).resolve()
        if path.parent != self.directory:  # a link leading out of the directory
            raise UntrustedResult(f"Persisted result {key} in {self.url} leads outside it; not loaded")
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise MissingResult(f"Persisted result {key} is missing from {self.url}") from exc

    def secret(self) -> bytes:
        try:
            found = (self.directory / SECRET_NAME).stat()
        except FileNotFoundError:
            return self._load_secret()  # made now; cached from the next call on
        return _cached_secret(self, found.st_ino, found.st_mtime_ns)

    def _load_secret(self) -> bytes:
        path = self.directory / SECRET_NAME
        if not path.exists():  # created whole or not at all: written aside, then linked into place
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f"{SECRET_NAME}.{uuid.uuid4().hex}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: theirs is the key
            finally:
                tmp.unlink(missing_ok=True)
        return parse_secret(path.read_text(), str(path))


class S3ResultStore:
    """Results as objects under `s3://bucket/prefix/`, written with the client's own AWS
    credentials. boto3 loads on first use (never on `import mintaka`); its client is built once
    per AWS configuration and shared. `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) points it
    at moto or LocalStack."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise MintakaError(f"An S3 result storage URL reads s3://bucket/prefix (got {url!r})")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(
        self, value: Any, serializer: str = "cloudpickle", key: str | None = None, scope: str | None = None
    ) -> ResultRef:
        """Persist `value`; the reference carries a digest (see LocalResultStore.write)."""
        serializer = serializer_name(serializer)
        key = _new_key(key)
        blob = _dumps(value, serializer)
        s3 = _s3_client()
        with _s3_errors(self, key, "write"):
            s3.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=blob)
        signed = digest(self.secret(), key, serializer, blob, scope)
        return ResultRef(storage=self.url, key=key, serializer=serializer, digest=signed)

    def read(self, key: str, serializer: str = "cloudpickle") -> Any:
        return _loads(self.read_bytes(key), serializer)

    def read_bytes(self, key: str) -> bytes:
        s3 = _s3_client()
        with _s3_errors(self, key, "read"):
            return s3.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    def secret(self) -> bytes:
        return _cached_secret(self)

    def _load_secret(self) -> bytes:
        with contextlib.suppress(MissingResult):
            return parse_secret(self.read_bytes(SECRET_NAME).decode(), f"{self.url}/{SECRET_NAME}")
        with contextlib.suppress(SecretTaken), _s3_errors(self, SECRET_NAME, "write", _SECRET_WRITE_ERRORS):
            # only if absent: two first writers agree on the first one's key
            _s3_client().put_object(
                Bucket=self.bucket, Key=self.object_key(SECRET_NAME), Body=secrets.token_hex(32), IfNoneMatch="*"
            )
        return parse_secret(self.read_bytes(SECRET_NAME).decode(), f"{self.url}/{SECRET_NAME}")


class SecretTaken(MintakaError):
    """Another writer stored the results' secret first: theirs is the one."""


_S3_WRITE_ERRORS = ErrorMap(
    "S3",
    default=(MintakaError, "Cannot {action} result {key} in {url}: {code}"),
    unreachable=(MintakaError, "Cannot {action} result {key} in {url}: {message}"),
)
_MISSING = (MissingResult, "Persisted result {key} is missing from {url}")
_S3_READ_ERRORS = _S3_WRITE_ERRORS.extend({"NoSuchKey": _MISSING, "404": _MISSING, "NotFound": _MISSING})
_TAKEN = (SecretTaken, "{message}")
_SECRET_WRITE_ERRORS = _S3_WRITE_ERRORS.extend({"PreconditionFailed": _TAKEN, "ConditionalRequestConflict": _TAKEN})


def _s3_client() -> Any:
    """The shared S3 client (`mintaka._aws`: one per AWS configuration, built once)."""
    return aws_client("s3")


def _s3_errors(
    store: S3ResultStore, key: str, action: str, errors: ErrorMap | None = None
) -> contextlib.AbstractContextManager[None]:
    """S3 errors as Mintaka errors naming the result (a read of a missing one: `MissingResult`)."""
    errors = errors or (_S3_READ_ERRORS if action == "read" else _S3_WRITE_ERRORS)
    return errors.translating(action=action, key=key, url=store.url)


def result_store(url: str) -> ResultStore:
    """The result store a storage URL names: `file:///…` or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalResultStore(url2pathname(parsed.path))
    if parsed.scheme == "s3":
        return S3ResultStore(url)
    raise MintakaError(f"Result storage {url!r} is not readable by this client (use file:// or s3://)")
