"""Results: kept in memory for the caller; persisted (cloudpickle or JSON) when asked, and in
deployed runs by default (`persist_by_default`: their replay reads them back).

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

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from mintaka._result_stores import (
    LocalResultStore,
    MissingResult,
    ResultStore,
    S3ResultStore,
    _loads,
    result_store,
)
from mintaka._result_trust import UntrustedResult, digest_matches, key_problem
from mintaka.context import flow_run_context, task_run_context
from mintaka.exceptions import MintakaError, ObjectNotFound, UnfinishedRun
from mintaka.states import ResultRef, State, StateType, register_result_layer

if TYPE_CHECKING:
    from mintaka.client import MintakaClient

_logger = logging.getLogger("mintaka.results")


__all__ = [
    "FailedRun",
    "LocalResultStore",
    "MissingResult",
    "ResultStore",
    "S3ResultStore",
    "UntrustedResult",
    "cached_result_problem",
    "default_result_store",
    "persist_by_default",
    "read_result",
    "resolve_state_result",
    "result_store",
]


class FailedRun(MintakaError):
    """The run ended FAILED, CRASHED or CANCELLED and has no exception to re-raise."""


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


def persist_by_default(value: Any, serializer: str, logger: Any = None) -> ResultRef | None:
    """Persist a result nobody asked to persist (a deployed run keeps its results so that it
    can be replayed): a value that cannot be written is kept in memory only, with a warning,
    and its run is not recalled by a replay (it runs again)."""
    try:
        return default_result_store().write(value, serializer)
    except Exception as exc:  # unpicklable (a client, a lock), or the storage is unreachable
        (logger or _logger).warning(
            "Result not persisted (%s: %s); if the flow run executes again, this runs again",
            type(exc).__name__,
            exc,
        )
        return None


def _current_client() -> MintakaClient:
    from mintaka.client import get_client

    ctx = task_run_context.get() or flow_run_context.get()
    return ctx.client if ctx is not None else get_client()


def _store_for(client: MintakaClient) -> ResultStore:
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


def _in_async_context() -> bool:
    from mintaka.futures import in_async_context

    return in_async_context()


register_result_layer(resolve_state_result, _in_async_context)
