"""State hooks (Prefect 2): flows `on_completion`, `on_failure`, `on_cancellation`,
`on_crashed`, `on_running`; tasks `on_completion`, `on_failure`. Each is called as
`hook(flow, flow_run, state)` / `hook(task, task_run, state)`; one that raises is logged with
its traceback and never changes the run's state."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from mintaka.states import State, StateType

FLOW_HOOKS = {
    StateType.COMPLETED: "on_completion",
    StateType.FAILED: "on_failure",
    StateType.CANCELLED: "on_cancellation",
    StateType.CANCELLING: "on_cancellation",
    StateType.CRASHED: "on_crashed",
    StateType.RUNNING: "on_running",
}
TASK_HOOKS = {StateType.COMPLETED: "on_completion", StateType.FAILED: "on_failure"}


def check_hooks(owner: str, **hooks: Iterable[Callable] | None) -> dict[str, list[Callable]]:
    """Each hook option as a list of callables; a clear TypeError otherwise."""
    checked: dict[str, list[Callable]] = {}
    for option, value in hooks.items():
        if value is None:
            checked[option] = []
            continue
        if callable(value):
            value = [value]
        items = list(value)
        for hook in items:
            if not callable(hook):
                raise TypeError(f"{owner} {option} hooks must be callables; got {type(hook).__name__}")
        checked[option] = items
    return checked


def hook_name(hook: Callable) -> str:
    if isinstance(hook, functools.partial):
        return getattr(hook.func, "__name__", type(hook.func).__name__)
    return getattr(hook, "__name__", type(hook).__name__)


def hooks_for(owner: Any, state: State, table: dict[StateType, str]) -> list[Callable]:
    option = table.get(state.type)
    return list(getattr(owner, option, None) or []) if option else []


def run_hooks(hooks: list[Callable], kwargs: dict[str, Any], state: State, logger: Any):
    """Call each hook in turn (a coroutine when a hook is async: the step driver awaits it)."""
    if any(asyncio.iscoroutinefunction(h) for h in hooks):
        return _run_async(hooks, kwargs, state, logger)
    for hook in hooks:
        with _reported(hook, state, logger):
            hook(**kwargs)
    return None


async def _run_async(hooks: list[Callable], kwargs: dict[str, Any], state: State, logger: Any) -> None:
    for hook in hooks:
        with _reported(hook, state, logger):
            result = hook(**kwargs)
            if asyncio.iscoroutine(result):
                await result


@contextmanager
def _reported(hook: Callable, state: State, logger: Any) -> Iterator[None]:
    """Announce the hook, and log (never raise) what it raised."""
    logger.info("Running hook %r in response to entering state %r", hook_name(hook), state.name)
    try:
        yield
    except Exception:
        logger.error("An error was encountered while running hook %r", hook_name(hook), exc_info=True)
    else:
        logger.info("Hook %r finished running successfully", hook_name(hook))
