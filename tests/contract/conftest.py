"""Builders for the contract suite: well-formed runs and transitions, as the service makes them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import EmpiricalPolicy, FlowRun, TaskRun
from mintaka.states import State, StateType
from mintaka_server.storage import Store, TransitionWrite

BASE_TIME = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return BASE_TIME + dt.timedelta(seconds=seconds)


@pytest.fixture
def new_flow_run(store: Store):
    """Create a flow run (PENDING unless told) in the store and return what the store returned."""

    def make(
        flow_name: str = "etl",
        *,
        created: dt.datetime | None = None,
        tags: list[str] | None = None,
        state: State | None = None,
        idempotency_key: str | None = None,
        **fields,
    ) -> FlowRun:
        flow = store.ensure_flow(flow_name)
        created = created or _at(0)
        run = FlowRun(
            id=uuid.uuid4(),
            flow_id=flow.id,
            flow_name=flow.name,
            name=fields.pop("name", f"run-{uuid.uuid4().hex[:6]}"),
            tags=tags or [],
            idempotency_key=idempotency_key,
            state=state or State(type=StateType.PENDING, timestamp=created),
            created=created,
            **fields,
        )
        return store.create_flow_run(run)

    return make


@pytest.fixture
def new_task_run(store: Store):
    """Create a task run (PENDING unless told) in the store and return what the store returned."""

    def make(
        flow_run_id: uuid.UUID | None,
        task_key: str = "extract",
        dynamic_key: str = "0",
        *,
        created: dt.datetime | None = None,
        tags: list[str] | None = None,
        state: State | None = None,
        retries: int = 0,
    ) -> TaskRun:
        created = created or _at(0)
        run = TaskRun(
            id=uuid.uuid4(),
            flow_run_id=flow_run_id,
            task_key=task_key,
            dynamic_key=dynamic_key,
            name=f"{task_key}-{dynamic_key}",
            tags=tags or [],
            empirical_policy=EmpiricalPolicy(retries=retries),
            state=state or State(type=StateType.PENDING, timestamp=created),
            created=created,
        )
        return store.create_task_run(run)

    return make


def _transition(run: FlowRun | TaskRun, state: State, **fields) -> TransitionWrite:
    kind = "flow_run" if isinstance(run, FlowRun) else "task_run"
    return TransitionWrite(kind=kind, run=run, state=state, **fields)


@pytest.fixture
def transition():
    """`transition(run, state, **fields)`: the write that moves `run` (as last read) to `state`."""
    return _transition


@pytest.fixture
def at():
    """`at(seconds)`: a fixed instant after BASE_TIME (tests never depend on the wall clock)."""
    return _at
