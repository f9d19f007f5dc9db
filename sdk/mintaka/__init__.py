"""Mintaka: code as workflows. `from mintaka import flow, task, get_run_logger`.

Importing is cheap: the engine, pydantic models and the embedded API load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mintaka.context import FlowRunContext, TaskRunContext, get_run_context, tags
from mintaka.flows import Flow, flow
from mintaka.logging import get_run_logger
from mintaka.tasks import Task, task
from mintaka.utilities.annotations import allow_failure, quote, unmapped

_LAZY = {
    "State": "mintaka.states",
    "StateType": "mintaka.states",
    "MintakaFuture": "mintaka.futures",
    "ConcurrentTaskRunner": "mintaka.task_runners",
    "SequentialTaskRunner": "mintaka.task_runners",
    "get_client": "mintaka.client",
    "pause_flow_run": "mintaka.pausing",
    "get_async_client": "mintaka.client",
    "runtime": "mintaka.runtime",
    "resume_flow_run": "mintaka.pausing",
    "suspend_flow_run": "mintaka.pausing",
}

if TYPE_CHECKING:
    from mintaka import runtime
    from mintaka.client import get_async_client, get_client
    from mintaka.futures import MintakaFuture
    from mintaka.pausing import pause_flow_run, resume_flow_run, suspend_flow_run
    from mintaka.states import State, StateType
    from mintaka.task_runners import ConcurrentTaskRunner, SequentialTaskRunner


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed package on first use, not at import
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mintaka")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mintaka' has no attribute {name!r}")
    import importlib

    if name == module.rpartition(".")[2]:  # a submodule, e.g. `from mintaka import runtime`
        return importlib.import_module(module)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public names, the lazy ones included (a module's own `dir()` would miss them until first
    use): what `dir(mintaka)`, editors and REPL completion show."""
    return sorted(__all__)


__all__ = [
    "ConcurrentTaskRunner",
    "Flow",
    "FlowRunContext",
    "MintakaFuture",
    "SequentialTaskRunner",
    "State",
    "StateType",
    "Task",
    "TaskRunContext",
    "allow_failure",
    "flow",
    "get_async_client",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "pause_flow_run",
    "quote",
    "resume_flow_run",
    "runtime",
    "suspend_flow_run",
    "tags",
    "task",
    "unmapped",
]
