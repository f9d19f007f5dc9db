"""Parameters: binding calls to signatures, futures and states passed as arguments (resolved
to their values, recorded as dependencies), and JSON-safe copies for the API."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from pydantic_core import to_jsonable_python

from mintaka.exceptions import MintakaError, ParameterValidationError, UpstreamTaskError
from mintaka.schemas import TaskInput
from mintaka.states import State, StateType
from mintaka.utilities.annotations import BaseAnnotation, allow_failure, quote

_CONTAINERS = (list, tuple, set, frozenset)
_SCALARS = (str, int, float, bool, bytes, type(None))


@lru_cache(maxsize=4096)
def signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


@lru_cache(maxsize=4096)
def _plain_shape(fn: Callable) -> tuple[tuple[str, ...], frozenset[str], dict[str, Any]] | None:
    """For a function whose parameters are all positional-or-keyword: their names and defaults
    (a call binds them without `inspect`, whose `bind` is slow). None for any other shape."""
    names, defaults = [], {}
    for name, param in signature(fn).parameters.items():
        if param.kind is not param.POSITIONAL_OR_KEYWORD:
            return None
        names.append(name)
        if param.default is not param.empty:
            defaults[name] = param.default
    return tuple(names), frozenset(names), defaults


def _bind_plain(shape, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    """The binding `inspect` would make, or None to let `inspect` bind (and word the error)."""
    names, known, defaults = shape
    if len(args) > len(names) or not kwargs.keys() <= known:
        return None
    bound = dict(zip(names, args, strict=False))
    if kwargs.keys() & bound.keys():
        return None
    bound.update(kwargs)
    result = {}
    for name in names:  # in the signature's order, defaults applied
        if name in bound:
            result[name] = bound[name]
        elif name in defaults:
            result[name] = defaults[name]
        else:
            return None
    return result


def bind_parameters(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Map a call's arguments onto the function's parameter names (defaults applied)."""

    shape = _plain_shape(fn)
    if shape is not None and (bound := _bind_plain(shape, args, kwargs)) is not None:
        return bound
    try:
        bound = signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise ParameterValidationError(f"{fn.__name__}() called with bad arguments: {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def call_with_parameters(fn: Callable, parameters: dict[str, Any]) -> Any:
    """Call `fn` with a parameters dict, honouring positional-only and variadic parameters."""
    shape = _plain_shape(fn)
    if shape is not None and parameters.keys() <= shape[1]:
        return fn(**parameters)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in signature(fn).parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        if param.kind is param.VAR_POSITIONAL:
            args.extend(value)
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind is param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[name] = value
    return fn(*args, **kwargs)


def format_run_name(option: str, owner: str, template: Any, parameters: dict[str, Any], call: Callable) -> str:
    """A run name from `flow_run_name` / `task_run_name`: a template over the parameters (format
    specs too: `{day:%A}`), or a callable, called through `call` (within the run's context)."""

    try:
        name = call(template) if callable(template) else template.format(**parameters)
    except Exception as exc:
        raise MintakaError(f"{option} of {owner} could not be formed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(name, str):
        raise TypeError(f"{option} callable of {owner} returned {type(name).__name__}")
    return name


def _future_type():
    from mintaka.futures import MintakaFuture

    return MintakaFuture


def _upstreams(value: Any, allowed: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every future or state inside `value` (any depth of lists, tuples, sets and dicts), with
    whether it sits under `allow_failure`. Nothing under `quote` is searched."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, BaseAnnotation):
        if isinstance(value, quote):
            return
        yield from _upstreams(value.value, allowed or isinstance(value, allow_failure))
    elif isinstance(value, State | _future_type()):
        yield value, allowed
    elif isinstance(value, _CONTAINERS):
        for item in value:
            yield from _upstreams(item, allowed)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _upstreams(item, allowed)


def _run_id(upstream: Any) -> Any:
    if isinstance(upstream, State):
        return upstream.state_details.task_run_id
    return upstream.task_run_id


def _all_scalars(parameters: dict[str, Any]) -> bool:
    return all(type(v) in _SCALAR_TYPES for v in parameters.values())


_SCALAR_TYPES = frozenset(_SCALARS)


def collect_task_inputs(parameters: dict[str, Any]) -> dict[str, list[TaskInput]]:
    """Upstream task runs whose futures (or states) feed each parameter."""
    if _all_scalars(parameters):  # the common case: nothing to look into
        return {}
    inputs: dict[str, list[TaskInput]] = {}
    for name, value in parameters.items():
        found = [TaskInput(id=run_id) for upstream, _ in _upstreams(value) if (run_id := _run_id(upstream))]
        if found:
            inputs[name] = found
    return inputs


def upstream_futures(values: Any) -> list[Any]:
    """The futures inside `values` (to wait for them without blocking an event loop)."""
    future_type = _future_type()
    return [u for u, _ in _upstreams(values) if isinstance(u, future_type)]


def _final_state(upstream: Any) -> State:
    return upstream if isinstance(upstream, State) else upstream._inner.result()  # engine code: always blocks


def _check(upstream: Any, allowed: bool) -> State:
    state = _final_state(upstream)
    if state.type is StateType.COMPLETED or (allowed and state.type is StateType.FAILED):
        return state
    raise UpstreamTaskError(f"Upstream task run '{_run_id(upstream)}' did not reach a 'COMPLETED' state.")


def _resolve(value: Any, allowed: bool = False) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, BaseAnnotation):
        if isinstance(value, quote):
            return value.value
        return _resolve(value.value, allowed or isinstance(value, allow_failure))
    if isinstance(value, State | _future_type()):
        return _check(value, allowed).result(raise_on_failure=False)
    if isinstance(value, _CONTAINERS):
        if not any(True for _ in _upstreams(value)) and not any(isinstance(v, BaseAnnotation) for v in value):
            return value
        return type(value)(_resolve(v, allowed) for v in value)
    if isinstance(value, dict):
        if not any(True for _ in _upstreams(value)) and not any(isinstance(v, BaseAnnotation) for v in value.values()):
            return value
        return {k: _resolve(v, allowed) for k, v in value.items()}
    return value


def resolve_futures(parameters: dict[str, Any]) -> dict[str, Any]:
    """Wait for futures and states passed as arguments and replace them with their values.
    Raises `UpstreamTaskError` when one did not complete (unless under `allow_failure`, which
    passes a failed upstream's exception as the value)."""
    if _all_scalars(parameters):
        return parameters
    return {name: _resolve(value) for name, value in parameters.items()}


def check_wait_for(wait_for: list[Any]) -> None:
    """Wait for `wait_for=[...]`; raises `UpstreamTaskError` if one did not complete."""
    for upstream, allowed in _upstreams(list(wait_for)):
        _check(upstream, allowed)


def jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy for the API (objects that are not JSON become their repr)."""

    def fallback(value: Any) -> Any:
        if isinstance(value, _future_type()):
            return f"<future of task run {value.task_run_id}>"
        if isinstance(value, BaseAnnotation):
            return to_jsonable_python(value.value, fallback=fallback)
        return repr(value)

    return to_jsonable_python(parameters, fallback=fallback)
