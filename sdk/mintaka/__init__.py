"""Mintaka: code as workflows. `from mintaka import flow, task, get_run_logger`.

Importing is cheap: every public name (the engine, pydantic models, the embedded API) loads on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Every public name loads on first use: importing any `mintaka.*` module runs this file, and the
# server, which imports only the SDK's vocabulary (`mintaka.states`, `mintaka.schemas`, ...), must
# not load the engine, flows, tasks and logging with it (tests/unit/test_layers.py).
_LAZY = {
    "Flow": "mintaka.flows",
    "flow": "mintaka.flows",
    "Task": "mintaka.tasks",
    "task": "mintaka.tasks",
    "FlowRunContext": "mintaka.context",
    "TaskRunContext": "mintaka.context",
    "get_run_context": "mintaka.context",
    "tags": "mintaka.context",
    "get_run_logger": "mintaka.logging",
    "allow_failure": "mintaka.utilities.annotations",
    "quote": "mintaka.utilities.annotations",
    "unmapped": "mintaka.utilities.annotations",
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
    from mintaka.context import FlowRunContext, TaskRunContext, get_run_context, tags
    from mintaka.flows import Flow, flow
    from mintaka.futures import MintakaFuture
    from mintaka.logging import get_run_logger
    from mintaka.pausing import pause_flow_run, resume_flow_run, suspend_flow_run
    from mintaka.states import State, StateType
    from mintaka.task_runners import ConcurrentTaskRunner, SequentialTaskRunner
    from mintaka.tasks import Task, task
    from mintaka.utilities.annotations import allow_failure, quote, unmapped


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

    if name == module.rpartition(".")[2]:  # a submodule, e.g. `from mintaka import runtime`
        return importlib.import_module(module)
    value = globals()[name] = getattr(importlib.import_module(module), name)  # once
    return value


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
