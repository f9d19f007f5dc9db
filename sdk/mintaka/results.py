"""Results: kept in memory for the caller; persisted (cloudpickle or JSON) only when asked.

The API stores a `ResultRef` (storage URL + key + serializer); the value itself stays
client-side: the SDK writes and reads it with its own credentials, in the local filesystem
(`$MINTAKA_HOME/results`) or on S3 (`s3://bucket/prefix`). Where to persist by default is the
operator's choice, asked of the API once per client (`GET /api/settings/result-storage`), so
flows need no code change to persist to the team's bucket.

`result_serializer="json"` writes readable JSON and reads back the same Python types, as
Prefect 2's JSONSerializer does (and more exactly: see `_dumps_json`).

Every result written carries a digest, and a reader checks where a reference points and its
digest before it deserialises anything (`mintaka._result_trust`; README, "Trust model").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from mintaka._json_codec import _dumps_json, _loads_json
from mintaka._result_trust import SECRET_NAME, UntrustedResult, digest, digest_matches, key_problem, parse_secret
from mintaka.exceptions import MintakaError, UnfinishedRun
from mintaka.serializers import compress, decompress, serializer_name, split
from mintaka.states import ResultRef, State, StateType

if TYPE_CHECKING:
    from mintaka.client import MintakaClient


class FailedRun(MintakaError):
    """The run ended FAILED, CRASHED or CANCELLED and has no exception to re-raise."""


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
_secrets: dict[str, bytes] = {}
_secrets_lock = threading.Lock()


def _cached_secret(store: Any) -> bytes:
    secret = _secrets.get(store.url)
    if secret is None:
        with _secrets_lock:
            secret = _secrets.get(store.url)
            if secret is None:
                secret = _secrets[store.url] = store._load_secret()
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
        return _cached_secret(self)

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
        from botocore.exceptions import ClientError

        with _s3_errors(self, SECRET_NAME, "write"):
            try:  # only if absent: two first writers agree on the first one's key
                s3 = _s3_client()
                s3.put_object(
                    Bucket=self.bucket, Key=self.object_key(SECRET_NAME), Body=secrets.token_hex(32), IfNoneMatch="*"
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise
        return parse_secret(self.read_bytes(SECRET_NAME).decode(), f"{self.url}/{SECRET_NAME}")


_s3_clients: dict[tuple[str | None, ...], Any] = {}
_s3_lock = threading.Lock()
# The environment a boto3 client captures when built: a change (e.g. between tests) builds another.
_S3_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
)


def _s3_client() -> Any:
    """One boto3 S3 client per AWS configuration (clients are thread-safe; building one is slow)."""
    config = tuple(os.environ.get(name) for name in _S3_ENVIRONMENT)
    client = _s3_clients.get(config)
    if client is None:
        with _s3_lock:
            client = _s3_clients.get(config)
            if client is None:
                try:
                    import boto3
                except ImportError as exc:
                    raise MintakaError("Results on S3 need boto3: pip install boto3") from exc
                client = _s3_clients[config] = boto3.session.Session().client("s3")
    return client


@contextlib.contextmanager
def _s3_errors(store: S3ResultStore, key: str, action: str) -> Iterator[None]:
    """botocore errors → Mintaka errors, here and only here."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if action == "read" and code in ("NoSuchKey", "404", "NotFound"):
            raise MissingResult(f"Persisted result {key} is missing from {store.url}") from exc
        raise MintakaError(f"Cannot {action} result {key} in {store.url}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise MintakaError(f"Cannot {action} result {key} in {store.url}: {exc}") from exc


def result_store(url: str) -> ResultStore:
    """The result store a storage URL names: `file:///…` or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalResultStore(url2pathname(parsed.path))
    if parsed.scheme == "s3":
        return S3ResultStore(url)
    raise MintakaError(f"Result storage {url!r} is not readable by this client (use file:// or s3://)")


def read_result(ref: ResultRef, scope: str | None = None, store: ResultStore | None = None) -> Any:
    """Load a persisted result, once checked: it must lie in the reader's own result storage
    (`store`, by default `default_result_store()`) and match its digest (`scope`: the cache
    key it was written for). A result written before digests, in the reader's storage, reads.
    Raises UntrustedResult (nothing is deserialised) or MissingResult."""
    own = store or default_result_store()
    return _loads(_checked_bytes(ref, own, scope, require_digest=False), ref.serializer)


def cached_result_problem(ref: ResultRef, scope: str | None, store: ResultStore) -> str | None:
    """Why a cache hit's result may not be used (the task runs instead), or None. It must pass
    `read_result`'s checks and have a digest; its bytes are read, never deserialised here."""
    try:
        _checked_bytes(ref, store, scope, require_digest=True)
    except MintakaError as exc:  # untrusted, missing, or unreadable: the task computes it again
        return str(exc)
    return None


def _checked_bytes(ref: ResultRef, own: ResultStore, scope: str | None, require_digest: bool) -> bytes:
    problem = _location_problem(ref, own)
    if problem is None and ref.digest is None and require_digest:
        problem = "it has no digest (written before Mintaka recorded them)"
    if problem:
        raise UntrustedResult(f"Result reference {ref.key[:80]!r} not loaded: {problem}")
    blob = own.read_bytes(ref.key)
    if ref.digest is not None and not digest_matches(own.secret(), ref.key, ref.serializer, blob, scope, ref.digest):
        raise UntrustedResult(
            f"Result {ref.key!r} in {own.url} not loaded: its digest does not match (it was not written "
            "there for this reference by a client of that storage)"
        )
    return blob


def _location_problem(ref: ResultRef, own: ResultStore) -> str | None:
    try:
        theirs = result_store(ref.storage).url
    except MintakaError:
        theirs = None
    if theirs != own.url:
        return f"it points into {ref.storage[:200]!r}, not this client's result storage {own.url}"
    return key_problem(ref.key)


# The store each client persists to by default, asked of its API once (per client, not per result).
_defaults: weakref.WeakKeyDictionary[MintakaClient, ResultStore] = weakref.WeakKeyDictionary()
_defaults_lock = threading.Lock()


def default_result_store(client: MintakaClient | None = None) -> ResultStore:
    """Where results are persisted unless a flow says otherwise: the operator's server-side
    setting (e.g. `s3://bucket/prefix`), else `$MINTAKA_HOME/results`. `client` defaults to
    the current run's client, else the process-wide one."""
    client = client or _current_client()
    store = _defaults.get(client)
    if store is None:
        with _defaults_lock:
            store = _defaults.get(client)
            if store is None:
                store = _defaults[client] = _store_for(client)
    return store


def _current_client() -> MintakaClient:
    from mintaka.client import get_client
    from mintaka.context import flow_run_context, task_run_context

    ctx = task_run_context.get() or flow_run_context.get()
    return ctx.client if ctx is not None else get_client()


def _store_for(client: MintakaClient) -> ResultStore:
    from mintaka.exceptions import ObjectNotFound
    from mintaka.settings import get_settings

    try:
        setting = client.read_result_storage()
    except ObjectNotFound:  # an API from before server-side settings
        setting = None
    if setting is None:
        return LocalResultStore(get_settings().results_path)
    return result_store(setting.url)


def _states_in(value: Any) -> list[State]:
    if isinstance(value, State):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if isinstance(v, State)]
    return []


def resolve_state_result(state: State, raise_on_failure: bool = True) -> Any:
    """The value a finished state holds (or the exception it raised)."""
    if state.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        if not raise_on_failure:
            return state._result if state._has_result else None
        if state._has_result and isinstance(state._result, BaseException):
            raise state._result
        if state._has_result:  # an aggregate of run states (a flow returned them): raise the first failure's
            for inner in _states_in(state._result):
                if not inner.is_completed():
                    inner.result()
        raise FailedRun(f"Run finished in state {state.name}: {state.message or 'no message'}")
    if state.type is not StateType.COMPLETED:
        if state._has_result and isinstance(state._result, BaseException):  # e.g. NotReady: UpstreamTaskError
            if raise_on_failure:
                raise state._result
            return state._result
        if raise_on_failure:
            raise UnfinishedRun(f"Run is {state.name}; it has no result yet")
        return None
    if state._has_result:
        return state._result
    if state.data is not None:
        value = read_result(state.data, scope=state.state_details.cache_key)
        state.with_result(value)
        return value
    return None
