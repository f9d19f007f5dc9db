"""Parameters: binding calls to signatures, futures passed as arguments, JSON-safe copies."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from mintaka.schemas import TaskInput

_CONTAINERS = (list, tuple, set, frozenset)


@lru_cache(maxsize=4096)
def signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


def bind_parameters(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Map a call's arguments onto the function's parameter names (defaults applied)."""
    from mintaka.exceptions import ParameterValidationError

    try:
        bound = signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise ParameterValidationError(f"{fn.__name__}() called with bad arguments: {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def call_with_parameters(fn: Callable, parameters: dict[str, Any]) -> Any:
    """Call `fn` with a parameters dict, honouring positional-only and variadic parameters."""
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


def _is_future(value: Any) -> bool:
    from mintaka.futures import MintakaFuture

    return isinstance(value, MintakaFuture)


def collect_task_inputs(parameters: dict[str, Any]) -> dict[str, list[TaskInput]]:
    """Upstream task runs whose futures (or states) feed each parameter."""
    from mintaka.states import State

    inputs: dict[str, list[TaskInput]] = {}
    for name, value in parameters.items():
        items = value if isinstance(value, _CONTAINERS) else (value.values() if isinstance(value, dict) else [value])
        found = []
        for item in items:
            if _is_future(item) and item.task_run_id is not None:
                found.append(TaskInput(id=item.task_run_id))
            elif isinstance(item, State) and item.state_details.task_run_id is not None:
                found.append(TaskInput(id=item.state_details.task_run_id))
        if found:
            inputs[name] = found
    return inputs


def _resolve(value: Any) -> Any:
    from mintaka.states import State

    if _is_future(value):
        return value.result()
    if isinstance(value, State):
        return value.result()
    if isinstance(value, list | tuple | set | frozenset):
        if not any(_is_future(v) or isinstance(v, State) for v in value):
            return value
        return type(value)(_resolve(v) for v in value)
    if isinstance(value, dict) and any(_is_future(v) or isinstance(v, State) for v in value.values()):
        return {k: _resolve(v) for k, v in value.items()}
    return value


def resolve_futures(parameters: dict[str, Any]) -> dict[str, Any]:
    """Wait for futures passed as arguments and replace them with their results."""
    return {name: _resolve(value) for name, value in parameters.items()}


def jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy for the API (objects that are not JSON become their repr)."""
    from pydantic_core import to_jsonable_python

    def fallback(value: Any) -> Any:
        if _is_future(value):
            return f"<future of task run {value.task_run_id}>"
        return repr(value)

    return to_jsonable_python(parameters, fallback=fallback)
