"""Move a table written by the unsharded key layout into the sharded one.

    python -m mintaka_server.storage.dynamodb.migrate TABLE [--endpoint-url URL] [--region R]

Safe to run while the stack serves traffic, and to run again: every move is conditional on the
item still being where the old layout put it. Until it has run, the store reads both layouts
(README, "Key layout versions"), so nothing is lost in between; afterwards the old partitions
are empty and cost one empty Query each per listing.

What moves: each flow run's three GSI keys (found through gsi1 `RUNS`), its tag and deployment
facet items, and the due items of `DUE`. Run counters stay where they are: readers add the old
partition's counts to the shards'. Runs suspended before suspensions had timeout items
(`_keys.suspended`) get theirs, each conditional on the run not having moved since it was read.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass

from pynamodb.models import Model

from mintaka_core.exceptions import Conflict
from mintaka_core.schemas import FlowRun, FlowRunFilter
from mintaka_core.states import StateType

from . import _keys as keys
from . import _writes
from ._codec import load_flow_run
from ._errors import call
from ._tx import Transaction
from .store import DynamoDBStore


@dataclass
class Moved:
    runs: int = 0
    facets: int = 0
    due: int = 0
    stale_due: int = 0
    suspensions: int = 0


def migrate_key_layout(store: DynamoDBStore) -> Moved:
    """Move every item of the unsharded layout into its shard; what was moved."""
    model, moved = store._model, Moved()
    legacy_runs = call(lambda: list(model.gsi1.query(keys.LEGACY_ALL_RUNS)), "read unsharded runs")
    for item in legacy_runs:
        run = load_flow_run(item)
        if _move_run(model, item, run):
            moved.runs += 1
        moved.facets += _move_facets(model, run)
    due_items = call(lambda: list(model.query(keys.LEGACY_DUE, consistent_read=True)), "read unsharded due runs")
    for item in due_items:
        live = store.read_flow_run(uuid.UUID(item.ref))
        tx = Transaction(model, "move due run")
        tx.delete(keys.LEGACY_DUE, item.sk, condition=model.pk.exists())
        if live is not None and _writes.due_sk(live) == item.sk:
            _writes._put_due(tx, live, item.sk)
            moved.due += 1
        else:
            moved.stale_due += 1
        _commit(tx)
    moved.suspensions = _index_suspensions(store)
    return moved


def _index_suspensions(store: DynamoDBStore) -> int:
    """The timeout item of each suspended run (PAUSED runs: through the state index)."""
    model, count, cursor = store._model, 0, None
    while True:
        page = store.list_flow_runs(FlowRunFilter(state_type=StateType.PAUSED, limit=200, cursor=cursor))
        for run in page.items:
            if (sk := _writes.suspension_sk(run)) is None:
                continue
            tx = Transaction(model, "index suspension")
            tx.check(keys.flow_run(run.id), keys.RUN, model.version == run.state_version)
            tx.put(keys.suspended(keys.shard(run.id)), sk, condition=model.pk.does_not_exist(), ref=str(run.id))
            count += _commit(tx)
        if not page.next_cursor:
            return count
        cursor = page.next_cursor


def _move_run(model: type[Model], item: Model, run: FlowRun) -> bool:
    """The run item's GSI keys into its shard, unless a transition did it meanwhile."""
    state = run.state.type.value if run.state else None
    actions = [getattr(model, name).set(value) for name, value in _writes._index_keys(run, state).items() if value]
    condition = (model.gsi1pk == keys.LEGACY_ALL_RUNS) & (model.version == item.version)
    tx = Transaction(model, "move run keys")
    tx.update(item.pk, keys.RUN, actions, condition)
    return _commit(tx)


def _move_facets(model: type[Model], run: FlowRun) -> int:
    sort, n = keys.run_sort(run.created, run.id), keys.shard(run.id)
    pairs = [(keys.tag_facet(tag), keys.tag_facet(tag, n)) for tag in dict.fromkeys(run.tags)]
    if run.deployment_name:
        pairs.append((keys.deployment_facet(run.deployment_name), keys.deployment_facet(run.deployment_name, n)))
    count = 0
    for old, new in pairs:
        tx = Transaction(model, "move facet")
        tx.delete(old, sort, condition=model.pk.exists())
        tx.put(new, sort, ref=str(run.id))
        count += _commit(tx)
    return count


def _commit(tx: Transaction) -> bool:
    try:
        tx.commit()
    except Conflict:  # already moved (by a transition, or an earlier run of this command)
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    store = DynamoDBStore(args.table, endpoint_url=args.endpoint_url, region=args.region)
    try:
        moved = migrate_key_layout(store)
    finally:
        store.close()
    print(
        f"moved {moved.runs} runs, {moved.facets} facet items, {moved.due} due items "
        f"(dropped {moved.stale_due} stale due items); indexed {moved.suspensions} suspensions"
    )


if __name__ == "__main__":
    main()
