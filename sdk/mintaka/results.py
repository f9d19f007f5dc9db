"""Results: kept in memory for the caller; persisted (cloudpickle or JSON) only when asked.

The API stores a `ResultRef` (storage URL + key + serializer); the value itself stays
client-side: the SDK writes and reads it with its own credentials, in the local filesystem
(`$MINTAKA_HOME/results`) or on S3 (`s3://bucket/prefix`). Where to persist by default is the
operator's choice, asked of the API once per client (`GET /api/settings/result-storage`), so
flows need no code change to persist to the team's bucket.

`result_serializer="json"` writes readable JSON and reads back the same Python types, as
Prefect 2's JSONSerializer does (and more exactly: see `_dumps_json`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from mintaka._json_codec import _dumps_json, _loads_json
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

    def write(self, value: Any, serializer: str = "cloudpickle", key: str | None = None) -> ResultRef: ...

    def read(self, key: str, serializer: str = "cloudpickle") -> Any: ...


class LocalResultStore:
    """Results as files in a directory (written atomically: temp file, then rename)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser().resolve()

    @property
    def url(self) -> str:
        return self.directory.as_uri()

    def write(self, value: Any, serializer: str = "cloudpickle", key: str | None = None) -> ResultRef:
        serializer = serializer_name(serializer)
        blob = _dumps(value, serializer)  # an unencodable value fails before anything is written
        key = key or uuid.uuid4().hex
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / key
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        return ResultRef(storage=self.url, key=key, serializer=serializer)

    def read(self, key: str, serializer: str = "cloudpickle") -> Any:
        try:
            return _loads((self.directory / key).read_bytes(), serializer)
        except FileNotFoundError as exc:
            raise MissingResult(f"Persisted result {key} is missing from {self.url}") from exc


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

    def write(self, value: Any, serializer: str = "cloudpickle", key: str | None = None) -> ResultRef:
        serializer = serializer_name(serializer)
        key = key or uuid.uuid4().hex
        blob = _dumps(value, serializer)
        s3 = _s3_client()
        with _s3_errors(self, key, "write"):
            s3.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=blob)
        return ResultRef(storage=self.url, key=key, serializer=serializer)

    def read(self, key: str, serializer: str = "cloudpickle") -> Any:
        s3 = _s3_client()
        with _s3_errors(self, key, "read"):
            blob = s3.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()
        return _loads(blob, serializer)


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


def read_result(ref: ResultRef) -> Any:
    """Load a persisted result from wherever its reference points."""
    return result_store(ref.storage).read(ref.key, ref.serializer)


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
        value = read_result(state.data)
        state.with_result(value)
        return value
    return None
