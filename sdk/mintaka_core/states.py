"""Run states, shared by the SDK and the server (defined once, on the wire and in memory).

A state is a type (drives orchestration) plus a name (what people read: "Cached",
"AwaitingRetry", or a user's own "Expected Failure"), a timestamp, a message, an optional
reference to a persisted result (`data`) and details the rules engine reads and writes.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mintaka_core.bounds import JsonObject, Time, check_json_schema
from mintaka_core.ids import random_uuid


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"


# The PENDING state of a task run whose upstream did not complete: Prefect 2 leaves it there.
NOT_READY = "NotReady"
# A suspended flow run's PAUSED state, and the SCHEDULED state a resume sends it to its queue in.
SUSPENDED = "Suspended"
RESUMING = "Resuming"
# A failed attempt with retries left (SCHEDULED): the executor that ran it retries it, no queue.
AWAITING_RETRY = "AwaitingRetry"
RETRYING = "Retrying"  # the attempt after AwaitingRetry
LATE = "Late"  # a SCHEDULED run not started in time
CACHED = "Cached"
# The SCHEDULED state of a run stopped at its execution's deadline: the next execution replays it.
CONTINUING = "Continuing"
TERMINAL_STATE_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})

_DEFAULT_NAMES = {t: t.value.title() for t in StateType}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ResultRef(BaseModel):
    """Where a persisted result lives; the API stores only this, never the value."""

    model_config = ConfigDict(frozen=True)

    storage: str = Field(description="Result store URL, e.g. file:///home/me/.mintaka/results")
    key: str
    serializer: str = "cloudpickle"
    # `hmac-sha256:HEX` of the stored bytes, keyed by a secret kept in the result storage itself
    # (see mintaka.results): a reader checks it before deserialising. None: written before digests.
    digest: str | None = Field(None, max_length=100)


class StateDetails(BaseModel):
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    scheduled_time: Time | None = None
    cache_key: str | None = None
    cache_expiration: Time | None = None
    idempotency_key: str | None = None
    pause_timeout: Time | None = None
    # A suspension (a pause whose executor exits): resuming sends the run to its work queue again.
    pause_reschedule: bool | None = None
    # Which pause of the flow's code this is: a replay that reaches a resumed one goes on.
    pause_key: str | None = Field(None, max_length=200)
    # Set by the client on a failure its `retry_condition_fn` declined to retry.
    retriable: bool | None = None
    # A task run asking to run even though its cache key has a live entry (its result replaces it).
    refresh_cache: bool | None = None
    # On the CRASHED state the reaper gives a silent run (and on its task runs ended with it): an
    # executor that was only cut off from the API may revive the run, naming this state.
    reaped: bool | None = None
    # A RUNNING proposal reviving the run from its reaped state with this id.
    revives: uuid.UUID | None = None
    # A RUNNING proposal re-entering a subflow run (or its parent task run) cut off in the state
    # with this id (CRASHED): its parent flow run is replaying it (`engine.replay`).
    reenters: uuid.UUID | None = None
    # A pause waiting for typed input (`wait_for_input`): the JSON schema the input must satisfy.
    run_input_schema: JsonObject | None = None
    # The input a resume gave (checked against the pause's schema), on the state it resumed to.
    run_input: JsonObject | None = None

    @field_validator("run_input_schema")
    @classmethod
    def _valid_json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The schema the server checks a resume's input with must itself be a JSON schema (2020-12)."""
        return check_json_schema(value)


class State(BaseModel):
    """The state of a flow run or task run at one moment."""

    id: uuid.UUID = Field(default_factory=random_uuid)
    type: StateType
    name: str = ""
    timestamp: dt.datetime = Field(default_factory=utcnow)
    message: str | None = None
    data: ResultRef | None = None
    state_details: StateDetails = Field(default_factory=StateDetails)

    # The in-memory result for the caller (value or exception); never serialized.
    _result: Any = PrivateAttr(default=None)
    _has_result: bool = PrivateAttr(default=False)

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        return self.type in TERMINAL_STATE_TYPES

    def with_result(self, value: Any) -> State:
        """Attach an in-memory result (value, or exception for failed states)."""
        private = self.__pydantic_private__
        if private is None:
            self._result, self._has_result = value, True
        else:  # straight into pydantic's dict: its __setattr__ looks the names up first, each time
            private["_result"], private["_has_result"] = value, True
        return self

    def result(self, raise_on_failure: bool = True, fetch: bool | None = None) -> Any:
        """The run's return value; raises the run's exception if it did not complete. A
        persisted result is always fetched; in async run code `await state.result(fetch=True)`
        (Prefect 2's form) is awaitable."""
        resolve, in_async_context = _result_layer()
        if fetch and in_async_context():
            return _aresult(self, raise_on_failure)
        return resolve(self, raise_on_failure=raise_on_failure)

    def copy_as(self, **changes: Any) -> State:
        """A new state (new id and timestamp) of this one with some fields changed."""
        fields = self.model_dump(exclude={"id", "timestamp"})
        fields["state_details"] = self.state_details.model_copy()
        fields.update(changes)
        if "type" in changes and "name" not in changes:
            fields["name"] = ""
        new = State(**fields)
        if self._has_result:
            new.with_result(self._result)
        return new

    def __repr__(self) -> str:
        parts = [] if self.name == _DEFAULT_NAMES[self.type] else [f"type={self.type.value}"]
        if self.message:
            parts.append(f"message={self.message!r}")
        return f"{self.name}({', '.join(parts)})"

    __str__ = __repr__


def _post_init(self: State, context: Any, /) -> None:
    """`State.model_post_init`, installed after the class is made: pydantic wraps a
    `model_post_init` defined in the body with its generic private-attribute set-up (a deep copy
    and a default lookup per attribute), which took over a third of building a State, and a
    task run builds several. Same effect: fresh private attributes, then the default name."""
    object.__setattr__(self, "__pydantic_private__", {"_result": None, "_has_result": False})
    if not self.name:
        self.name = _DEFAULT_NAMES[self.type]


State.model_post_init = _post_init  # type: ignore[method-assign]


async def _aresult(state: State, raise_on_failure: bool) -> Any:
    resolve, _ = _result_layer()
    return resolve(state, raise_on_failure=raise_on_failure)


# `State.result()` is the SDK's (Prefect's API on the state), but this module is the vocabulary
# the server shares and imports nothing of the SDK's runtime: the SDK's result layer registers
# how to resolve a result when it loads (`mintaka.results`), and is loaded on first use otherwise.
_RESULT_LAYER: tuple[Callable[..., Any], Callable[[], bool]] | None = None


def register_result_layer(resolve: Callable[..., Any], in_async_context: Callable[[], bool]) -> None:
    """How `State.result()` reads a result, and whether its caller is async run code."""
    global _RESULT_LAYER
    _RESULT_LAYER = (resolve, in_async_context)


def _result_layer() -> tuple[Callable[..., Any], Callable[[], bool]]:
    if _RESULT_LAYER is None:
        importlib.import_module("mintaka.results")  # registers itself
    assert _RESULT_LAYER is not None
    return _RESULT_LAYER


def _factory(state_type: StateType, default_name: str | None = None):
    def make(message: str | None = None, name: str | None = None, **kwargs: Any) -> State:
        details = kwargs.pop("state_details", None) or StateDetails()
        for field in list(kwargs):
            if field in StateDetails.model_fields:
                setattr(details, field, kwargs.pop(field))
        result = kwargs.pop("result", None)
        if "data" in kwargs and not isinstance(kwargs["data"], ResultRef | None):
            result = kwargs.pop("data")  # Prefect 2's `Completed(data=value)`: the value itself
        has_result = "data" not in kwargs and result is not None
        state = State(
            type=state_type,
            name=name or default_name or "",
            message=message,
            state_details=details,
            **kwargs,
        )
        if has_result:
            state.with_result(result)
        return state

    make.__name__ = default_name or state_type.value.title()
    make.__doc__ = f"A {state_type.value} state{f' named {default_name!r}' if default_name else ''}."
    return make


Scheduled = _factory(StateType.SCHEDULED)
Pending = _factory(StateType.PENDING)
Running = _factory(StateType.RUNNING)
Completed = _factory(StateType.COMPLETED)
Failed = _factory(StateType.FAILED)
Cancelling = _factory(StateType.CANCELLING)
Cancelled = _factory(StateType.CANCELLED)
Crashed = _factory(StateType.CRASHED)
Paused = _factory(StateType.PAUSED)
AwaitingRetry = _factory(StateType.SCHEDULED, AWAITING_RETRY)
Retrying = _factory(StateType.RUNNING, RETRYING)
Late = _factory(StateType.SCHEDULED, LATE)
Cached = _factory(StateType.COMPLETED, CACHED)

__all__ = [
    "TERMINAL_STATE_TYPES",
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Late",
    "Paused",
    "Pending",
    "ResultRef",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateDetails",
    "StateType",
]
