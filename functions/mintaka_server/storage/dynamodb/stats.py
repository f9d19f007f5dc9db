"""Flow-run counts per (hour, current state) without a Scan: counter items kept by the run's own
transactions.

A flow run counts in the hour it was created, under its current state type. Creating it adds one
to its state's counter; a transition that changes the state type moves the one from the old
state's counter to the new one's, in the transition's TransactWriteItems: a transition refused or
lost to a race changes no counter. Counters exist for every run (scope ALL), per flow and per
deployment. Each is split in `SHARDS` items chosen by run id, so concurrent transitions rarely
contend for one item (DynamoDB cancels transactions that touch an item another is writing).

Reading a range is one Query per scope: up to hours x states x shards small items.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pynamodb.models import Model

from mintaka.schemas import FlowRun
from mintaka.states import StateType

from . import _keys as keys
from ._tx import Transaction

SHARDS = 4
_HOUR = 13  # len("2024-05-01T12")


def _scopes(run: FlowRun) -> list[str]:
    scopes = ["RUNSTATS#ALL", f"RUNSTATS#FLOW#{run.flow_name}"]
    if run.deployment_name:
        scopes.append(f"RUNSTATS#DEPLOYMENT#{run.deployment_name}")
    return scopes


def _scope(flow_name: str | None, deployment_name: str | None) -> str:
    if deployment_name is not None:
        return f"RUNSTATS#DEPLOYMENT#{deployment_name}"
    if flow_name is not None:
        return f"RUNSTATS#FLOW#{flow_name}"
    return "RUNSTATS#ALL"


def _counter_sk(run: FlowRun, state: StateType) -> str:
    return f"{keys.ts(run.created)[:_HOUR]}#{state.value}#{run.id.int % SHARDS}"


def count_changes(tx: Transaction, run: FlowRun, old: StateType | None, new: StateType | None) -> None:
    """Add to `tx` the counter updates for `run` going from state type `old` to `new`."""
    if old == new:
        return
    model = tx.model
    for scope in _scopes(run):
        if old is not None:
            tx.update(scope, _counter_sk(run, old), [model.active.add(-1)])
        if new is not None:
            tx.update(scope, _counter_sk(run, new), [model.active.add(1)])


def _parse(items: Iterable[Model]) -> dict[dt.datetime, dict[StateType, int]]:
    counts: dict[dt.datetime, dict[StateType, int]] = {}
    for item in items:
        hour, state, _shard = item.sk.split("#")
        n = int(item.active or 0)
        if n <= 0:  # a counter back at zero (every run moved on to another state)
            continue
        start = dt.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
        per_state = counts.setdefault(start, {})
        per_state[StateType(state)] = per_state.get(StateType(state), 0) + n
    return counts


def count_flow_runs(
    model: type[Model],
    since: dt.datetime,
    until: dt.datetime,
    flow_name: str | None = None,
    deployment_name: str | None = None,
    per_hour: bool = True,
) -> dict[dt.datetime, dict[StateType, int]]:
    """Runs created in [since, until) (whole hours), per hour (or all under `since`) and current state."""
    lower, upper = keys.ts(since)[:_HOUR], keys.ts(until)[:_HOUR]
    if lower >= upper:
        return {}
    # "<until hour>" sorts before every "<until hour>#...": the upper hour is left out.
    items = model.query(_scope(flow_name, deployment_name), model.sk.between(lower, upper), page_size=1000)
    counts = _parse(items)
    if per_hour or not counts:
        return counts
    total: dict[StateType, int] = {}
    for per_state in counts.values():
        for state, n in per_state.items():
            total[state] = total.get(state, 0) + n
    return {since: total}
