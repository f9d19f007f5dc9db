"""Flow-run counts per (hour, current state) without a Scan: counter items kept by the run's own
transactions, for the states runs pile up in, and the state index for the few runs in flight.

A flow run counts in the hour it was created, under its current state type. SCHEDULED and the
final states (COUNTED) have counters: creating a run in one adds one to it; a transition from or
to one moves the one, in the transition's TransactWriteItems, so a transition refused or lost to
a race changes no counter. The in-flight states (PENDING, RUNNING, CANCELLING, PAUSED) have none:
few runs are in them at once, so they are counted from the state index (gsi3, sort key
`<created>#<id>`) when read, and a run's start costs no counter write (a scheduled run: 3 counter
moves instead of 7, per scope). Counter items of in-flight states written before are ignored.
Counters exist for every run (scope ALL), per flow and per deployment. Each scope is split in
`keys.STATS_SHARDS` partitions chosen by run id (`RUNSTATS.<nn>#<scope>`), so no partition takes
every run's counter writes and concurrent transitions rarely contend for one item (DynamoDB
cancels transactions that touch an item another is writing).

Reading a range is one Query per counter shard (hours x states small items each), plus one of
the unsharded layout's partition (`RUNSTATS#<scope>`, sort keys `<hour>#<state>#<0-3>`, whose
counts add up with the shards'), plus one per in-flight state and index shard (its runs in the
window, flow or deployment as a filter): all sent at once and summed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pynamodb.models import Model

from mintaka_core.schemas import FlowRun
from mintaka_core.states import StateType

from . import _keys as keys
from ._merge import parallel
from ._tx import Transaction

# States with counters: those runs accumulate in (many SCHEDULED ahead of time, finished ones).
COUNTED = frozenset(
    {StateType.SCHEDULED, StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)
FROM_INDEX = [state for state in StateType if state not in COUNTED]  # counted from gsi3 instead
LEGACY_SHARDS = 4  # items per (hour, state) in the unsharded layout's partition
_HOUR = 13  # len("2024-05-01T12")


def _scopes(run: FlowRun) -> list[str]:
    scopes = ["ALL", f"FLOW#{run.flow_name}"]
    if run.deployment_name:
        scopes.append(f"DEPLOYMENT#{run.deployment_name}")
    return scopes


def _scope(flow_name: str | None, deployment_name: str | None) -> str:
    if deployment_name is not None:
        return f"DEPLOYMENT#{deployment_name}"
    if flow_name is not None:
        return f"FLOW#{flow_name}"
    return "ALL"


def counter_pk(scope: str, n: int | None) -> str:
    """A scope's counters in shard `n` (None: the unsharded layout's partition)."""
    return f"RUNSTATS#{scope}" if n is None else f"RUNSTATS.{n:02d}#{scope}"


def _counter_sk(run: FlowRun, state: StateType) -> str:
    return f"{keys.ts(run.created)[:_HOUR]}#{state.value}"


def count_changes(tx: Transaction, run: FlowRun, old: StateType | None, new: StateType | None) -> None:
    """Add to `tx` the counter updates for `run` going from state type `old` to `new`."""
    old, new = (old if old in COUNTED else None), (new if new in COUNTED else None)
    if old == new:
        return
    model, n = tx.model, keys.shard(run.id, keys.STATS_SHARDS)
    for scope in _scopes(run):
        pk = counter_pk(scope, n)
        if old is not None:
            tx.update(pk, _counter_sk(run, old), [model.active.add(-1)])
        if new is not None:
            tx.update(pk, _counter_sk(run, new), [model.active.add(1)])


def _parse(items: Iterable[Model]) -> dict[dt.datetime, dict[StateType, int]]:
    # Summed per (hour, state, run id mod 4), the unsharded layout's unit (STATS_SHARDS is a
    # multiple of 4, so a shard's runs all have one residue): a transition of a run created
    # before counters existed leaves that unit below zero, and such a unit counts nothing, as before.
    units: dict[tuple[str, str, int], int] = {}
    for item in items:
        parts = item.sk.split("#")
        if StateType(parts[1]) not in COUNTED:  # kept before in-flight states left the counters
            continue
        residue = int(parts[2]) if len(parts) == 3 else int(item.pk[len("RUNSTATS.") :].split("#")[0]) % LEGACY_SHARDS
        unit = (parts[0], parts[1], residue)
        units[unit] = units.get(unit, 0) + int(item.active or 0)
    counts: dict[dt.datetime, dict[StateType, int]] = {}
    for (hour, state, _residue), n in units.items():
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
    scope = _scope(flow_name, deployment_name)
    partitions = [counter_pk(scope, n) for n in range(keys.STATS_SHARDS)] + [counter_pk(scope, None)]
    reads = [lambda p=p: list(model.query(p, model.sk.between(lower, upper), page_size=1000)) for p in partitions]
    in_flight = [(s, n) for s in FROM_INDEX for n in [*range(keys.SHARDS), None]]
    condition = None
    if deployment_name is not None:
        condition = model.deployment == deployment_name
    elif flow_name is not None:
        condition = model.flow_name == flow_name
    reads += [
        lambda s=s, n=n: list(
            model.gsi3.query(
                keys.state_runs(s.value, n),
                model.gsi3sk.between(lower, upper),
                filter_condition=condition,
                attributes_to_get=["gsi3sk", "state_type"],
                page_size=1000,
            )
        )
        for s, n in in_flight
    ]
    pages = parallel(reads)
    counts = _parse(item for part in pages[: len(partitions)] for item in part)
    for (state, _), items in zip(in_flight, pages[len(partitions) :], strict=True):
        for item in items:
            start = dt.datetime.strptime(item.gsi3sk[:_HOUR], "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
            per_state = counts.setdefault(start, {})
            per_state[state] = per_state.get(state, 0) + 1
    if per_hour or not counts:
        return counts
    total: dict[StateType, int] = {}
    for per_state in counts.values():
        for state, n in per_state.items():
            total[state] = total.get(state, 0) + n
    return {since: total}
