"""How `SQLiteStore` writes runs and states: compact JSON documents, and a task run's row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from mintaka_core.schemas import TaskRun
from mintaka_core.states import State

from ._sqlite_records import _ts

INSERT_TASK_RUN = (
    "INSERT OR IGNORE INTO task_runs"
    " (id, flow_run_id, task_key, dynamic_key, created, version, doc, history)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _doc(model: Any) -> str:
    """A run or state as stored: its JSON without null fields (all default to null), so rows and
    the pages each write touches stay small (a state is ~40% smaller)."""
    return model.model_dump_json(exclude_none=True)


_STATE_LIST = TypeAdapter(list[State])


def _history(states: Sequence[State]) -> str:
    """States as a task run's `history` column holds them: their JSON objects, comma-joined, so
    appending is a string concatenation in SQL (read back as a JSON array)."""
    return _STATE_LIST.dump_json(list(states), exclude_none=True)[1:-1].decode()


def _read_history(history: str | None) -> list[State]:
    return _STATE_LIST.validate_json(f"[{history}]") if history else []


def task_run_row(run: TaskRun, doc: str, history: str | None) -> tuple:
    """`INSERT_TASK_RUN`'s parameters for `run`, whose document and history are given."""
    flow_run_id = str(run.flow_run_id) if run.flow_run_id else None
    return (str(run.id), flow_run_id, run.task_key, run.dynamic_key, _ts(run.created), run.state_version, doc, history)
