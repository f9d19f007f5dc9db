"""Results: kept in memory for the caller; persisted (cloudpickle or JSON) only when asked.

The API stores a `ResultRef` (storage URL + key + serializer); the value itself stays
client-side in the result store (the local filesystem under `MINTAKA_HOME` by default).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from mintaka.exceptions import MintakaError, UnfinishedRun
from mintaka.states import ResultRef, State, StateType

SERIALIZERS = ("cloudpickle", "json")


class FailedRun(MintakaError):
    """The run ended FAILED, CRASHED or CANCELLED and has no exception to re-raise."""


class MissingResult(MintakaError):
    """The run completed but its result was neither kept in memory nor persisted."""


def _dumps(value: Any, serializer: str) -> bytes:
    if serializer == "json":
        return json.dumps(value).encode()
    import cloudpickle

    return cloudpickle.dumps(value)


def _loads(blob: bytes, serializer: str) -> Any:
    if serializer == "json":
        return json.loads(blob)
    import cloudpickle

    return cloudpickle.loads(blob)


class LocalResultStore:
    """Results as files in a directory (written atomically: temp file, then rename)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser().resolve()

    @property
    def url(self) -> str:
        return self.directory.as_uri()

    def write(self, value: Any, serializer: str = "cloudpickle", key: str | None = None) -> ResultRef:
        if serializer not in SERIALIZERS:
            raise MintakaError(f"Unknown result serializer {serializer!r}; use one of {SERIALIZERS}")
        key = key or uuid.uuid4().hex
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / key
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_dumps(value, serializer))
        os.replace(tmp, path)
        return ResultRef(storage=self.url, key=key, serializer=serializer)


def read_result(ref: ResultRef) -> Any:
    """Load a persisted result from wherever its reference points."""
    parsed = urlparse(ref.storage)
    if parsed.scheme != "file":
        raise MintakaError(f"Result storage {ref.storage!r} is not readable by this client")
    path = Path(url2pathname(parsed.path)) / ref.key
    try:
        return _loads(path.read_bytes(), ref.serializer)
    except FileNotFoundError as exc:
        raise MissingResult(f"Persisted result {ref.key} is missing from {ref.storage}") from exc


def default_result_store() -> LocalResultStore:
    from mintaka.settings import get_settings

    return LocalResultStore(get_settings().results_path)


def resolve_state_result(state: State, raise_on_failure: bool = True) -> Any:
    """The value a finished state holds (or the exception it raised)."""
    if state.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        if not raise_on_failure:
            return state._result if state._has_result else None
        if state._has_result and isinstance(state._result, BaseException):
            raise state._result
        raise FailedRun(f"Run finished in state {state.name}: {state.message or 'no message'}")
    if state.type is not StateType.COMPLETED:
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
