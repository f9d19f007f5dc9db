"""The transactions that write runs: create a flow run, create a task run, commit a transition.

Each is ONE TransactWriteItems: the run item (conditional on its absence or on its version), its
state-history items, its uniqueness item, concurrency-slot counters, index items and the cache
entry — written whole or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pynamodb.models import Model

from mintaka_core.schemas import FlowRun, TaskRun
from mintaka_core.states import State, StateType
from mintaka_server.orchestration.context import SlotReclaim
from mintaka_server.orchestration.rules import FLOW_RUN_CLOSED

from ..port import TransitionWrite, lessee_of, suspension_timeout
from . import _codec, stats
from . import _keys as keys
from ._errors import FLOW_RUN, IDENTITY, VERSION, Role
from ._models import dump
from ._scheduling import lease_index
from ._tx import Transaction


def _put_history(tx: Transaction, pk: str, version: int, states: Sequence[State]) -> None:
    """A flow run's history item of the transition that wrote `version`: the states it moved the
    run past, in order (the state it left, then any the rules put before the new one, e.g. a
    retry's Failed before AwaitingRetry). The current state is in the run item only, so a run
    created with no states before its first (a scheduled run) writes no history item."""
    if not states:
        return
    doc = "[" + ",".join(dump(state) for state in states) + "]"
    # Never overwrite history: a clash means another writer got this version first.
    tx.put(pk, keys.history_sk(version), condition=tx.model.sk.does_not_exist(), role=VERSION, doc=doc)


def due_sk(run: FlowRun) -> str | None:
    """Where a SCHEDULED run waits in the due list (None if it is not waiting)."""
    if run.state is None or run.state.type is not StateType.SCHEDULED or run.expected_start_time is None:
        return None
    return keys.due_sk(run.expected_start_time, run.id)


def _put_due(tx: Transaction, run: FlowRun, sk: str) -> None:
    # The due item carries a copy of the run: while the run stays SCHEDULED every change to it
    # is a transition, and every transition rewrites or deletes this copy in the same transaction.
    tx.put(
        keys.due(keys.shard(run.id)),
        sk,
        doc=_codec.dump_flow_run(run, in_run_item=False),
        work_queue=run.work_queue_name,
        ref=str(run.id),
    )


def suspension_sk(run: FlowRun) -> str | None:
    """Where a suspended run waits for its timeout (None if it is not suspended with one)."""
    timeout = suspension_timeout(run)
    return keys.due_sk(timeout, run.id) if timeout is not None else None


def _move_suspension(tx: Transaction, old: FlowRun | None, new: FlowRun) -> None:
    # A transition into, out of or within a suspension moves its timeout item in the same
    # transaction (suspensions are rare: most transitions add nothing).
    old_sk, new_sk = (suspension_sk(old) if old else None), suspension_sk(new)
    if old_sk == new_sk:
        return
    pk = keys.suspended(keys.shard(new.id))
    if old_sk:
        tx.delete(pk, old_sk)
    if new_sk:
        tx.put(pk, new_sk, ref=str(new.id))


def _index_keys(run: FlowRun, state: str | None) -> dict:
    """The flow run's three GSI key pairs, in its write shard."""
    n, sort = keys.shard(run.id), keys.run_sort(run.created, run.id)
    return {
        "gsi1pk": keys.all_runs(n),
        "gsi1sk": sort,
        "gsi2pk": keys.flow_runs_of(run.flow_name, n),
        "gsi2sk": sort,
        "gsi3pk": keys.state_runs(state, n) if state else None,
        "gsi3sk": sort if state else None,
    }


def _slot_changes(
    tx: Transaction,
    acquire: Sequence[str],
    release: Sequence[str],
    run: FlowRun | TaskRun,
    reclaim: Sequence[SlotReclaim] = (),
    now: dt.datetime | None = None,
) -> None:
    """Slots: each is the limit's counter plus a holder item naming the run and its lessee."""
    model = tx.model
    acquire, release = list(dict.fromkeys(acquire)), list(dict.fromkeys(release))
    reclaimed = {item.tag: item for item in reclaim if item.tag in acquire and item.tag not in release}
    _reclaim_holders(tx, reclaimed.values(), now)
    for tag in acquire:
        pk = keys.limit(tag)
        if tag in release:  # taken and given back at once: only the room is checked
            tx.check(pk, keys.LIMIT, model.active < model.lim, role=Role("acquire", tag))
            continue
        room = model.active < model.lim
        taken_back = 0
        if tag in reclaimed:  # the silent holders' units leave the counter as this one joins it
            taken_back = len(reclaimed[tag].holders)
            room = (model.lim == reclaimed[tag].limit) & (model.active < reclaimed[tag].limit + taken_back)
        tx.update(pk, keys.LIMIT, [model.active.add(1 - taken_back)], room, role=Role("acquire", tag))
        tx.put(pk, keys.holder(run.id), role=Role("acquire", tag), ref=str(lessee_of(run)))
    for tag in release:
        if tag not in acquire:
            # Fails on a zero counter, a deleted limit (ADD would create it) or a slot reclaimed
            # from this run: the caller then commits again without it, since releasing it is a no-op.
            pk = keys.limit(tag)
            tx.update(pk, keys.LIMIT, [model.active.add(-1)], model.active > 0, role=Role("release", tag))
            tx.delete(pk, keys.holder(run.id), condition=model.pk.exists(), role=Role("release", tag))


def _reclaim_holders(tx: Transaction, reclaims, now: dt.datetime | None) -> None:
    """Delete the silent holders' items, each still naming its lessee, and check that every
    lessee's lease is still expired: a beat in between fails the write (nothing is taken)."""
    model, checked = tx.model, set()
    for reclaim in reclaims:
        role = Role("acquire", reclaim.tag)
        for held in reclaim.holders:
            tx.delete(keys.limit(reclaim.tag), keys.holder(held.holder), model.ref == str(held.lessee), role=role)
            if held.lessee not in checked:
                checked.add(held.lessee)
                tx.check(keys.lease(held.lessee), keys.LEASE, model.expiration <= keys.ts(now), role=role)


def create_flow_run(
    model: type[Model], run: FlowRun, history_before: Sequence[State], lease_expires: dt.datetime | None = None
) -> Transaction:
    tx = Transaction(model, "create flow run")
    pk, sort = keys.flow_run(run.id), keys.run_sort(run.created, run.id)
    state = run.state.type.value if run.state else None
    tx.put(
        pk,
        keys.RUN,
        condition=model.pk.does_not_exist(),
        doc=_codec.dump_flow_run(run),
        version=run.state_version,
        flow_name=run.flow_name,
        state_type=state,
        deployment=run.deployment_name,
        work_queue=run.work_queue_name,
        tags=set(run.tags) or None,
        task_layout=keys.TASK_LAYOUT,
        **_index_keys(run, state),
    )
    if run.idempotency_key:
        tx.put(
            keys.idempotency(run.idempotency_key),
            keys.IDENTITY,
            condition=model.pk.does_not_exist(),
            role=IDENTITY,
            return_old=True,
            ref=str(run.id),
        )
    if run.state:
        _put_history(tx, pk, run.state_version, history_before)
    n = keys.shard(run.id)
    for tag in dict.fromkeys(run.tags):
        tx.put(keys.tag_facet(tag, n), sort, ref=str(run.id))
    if run.deployment_name:
        tx.put(keys.deployment_facet(run.deployment_name, n), sort, ref=str(run.id))
    if due := due_sk(run):
        _put_due(tx, run, due)
    _move_suspension(tx, None, run)
    if lease_expires is not None:
        tx.put(keys.lease(run.id), keys.LEASE, expiration=keys.ts(lease_expires), **lease_index(run.id, lease_expires))
    stats.count_changes(tx, run, None, run.state.type if run.state else None)
    return tx


def create_task_run(
    model: type[Model],
    run: TaskRun,
    history_before: Sequence[State],
    acquire_slots: Sequence[str],
    require_open_flow_run: bool = False,
    *,
    flow_run_seen: bool = False,
    legacy: bool = False,
) -> Transaction:
    """The run's item and, in a flow run, its identity item (in the flow run's partition, where
    listing finds it), with the flow run checked: two or three items, 4-6 WCU. `flow_run_seen`:
    the flow run is known to exist (never deleted) and need not be open, so nothing checks it.
    `legacy`: a flow run from before `TASK_LAYOUT` (identity item of its own, listed by gsi1)."""
    tx = Transaction(model, "create task run")
    pk = keys.task_run(run.id)
    parent = run.flow_run_id
    if parent is not None and (require_open_flow_run or not flow_run_seen or legacy):
        # The flow run is checked in this transaction, not read before it.
        condition = model.pk.exists() if legacy else model.task_layout == keys.TASK_LAYOUT
        if require_open_flow_run:  # a run with no state yet has no state_type: it is open
            condition &= ~model.state_type.is_in(*(t.value for t in FLOW_RUN_CLOSED))
        tx.check(keys.flow_run(parent), keys.RUN, condition, role=FLOW_RUN)
    order = keys.task_order(run.created, run.id) if parent is not None else None
    # The history rides in the run's own item (`_codec`), which is in no index.
    tx.put(
        pk,
        keys.RUN,
        condition=model.pk.does_not_exist(),
        role=VERSION,
        doc=_codec.dump_task_run(run),
        version=run.state_version,
        state_type=run.state.type.value if run.state else None,
        hist=_codec.dump_states(history_before, run.id, run.flow_run_id) if run.state and history_before else None,
        gsi1pk=keys.task_runs_of(parent) if legacy else None,
        gsi1sk=order if legacy else None,
    )
    if parent is not None:  # as in SQLite, a task run outside any flow run is never deduplicated
        if legacy:
            identity = keys.task_identity(parent, run.task_key, run.dynamic_key), keys.IDENTITY
        else:
            identity = keys.flow_run(parent), keys.task_identity_sk(run.task_key, run.dynamic_key)
        tx.put(
            *identity,
            condition=model.pk.does_not_exist(),
            role=IDENTITY,
            return_old=True,
            ref=str(run.id),
            created=None if legacy else order,
        )
    _slot_changes(tx, acquire_slots, (), run)
    return tx


def commit_transition(model: type[Model], write: TransitionWrite, release: Sequence[str]) -> Transaction:
    """`release`: the slots to give back (the write's, minus any found to be no-ops)."""
    tx = Transaction(model, f"set {write.kind.replace('_', ' ')} state")
    run = write.updated_run()
    pk = keys.run_pk(write.kind, write.run_id)
    actions = [
        model.doc.set(_codec.dump_flow_run(run) if isinstance(run, FlowRun) else _codec.dump_task_run(run)),
        model.version.set(run.state_version),
        model.state_type.set(write.state.type.value),
    ]
    if isinstance(run, TaskRun):
        # The state it leaves (and any the rules put before the new one) joins the item's history.
        earlier = [write.run.state] if write.run.state else []
        entries = _codec.dump_states([*earlier, *write.history_before], run.id, run.flow_run_id)
        if entries:
            actions.append(model.hist.set((model.hist | []).append(entries)))
    if isinstance(run, FlowRun):
        # All three pairs: a run written in the unsharded layout moves to its shards (the same
        # values otherwise, which DynamoDB writes to each GSI as an ordinary update).
        actions += [getattr(model, name).set(value) for name, value in _index_keys(run, write.state.type.value).items()]
    tx.update(pk, keys.RUN, actions, model.version == write.expected_version, role=VERSION)
    if isinstance(run, FlowRun):
        left = [write.run.state] if write.run.state else []
        _put_history(tx, pk, run.state_version, [*left, *write.history_before])
    _slot_changes(tx, write.acquire_slots, release, write.run, write.reclaim, write.now)
    if write.lease_expires is not None:
        expires = write.lease_expires
        tx.put(keys.lease(write.run_id), keys.LEASE, expiration=keys.ts(expires), **lease_index(write.run_id, expires))
    elif write.end_lease:
        tx.delete(keys.lease(write.run_id), keys.LEASE)
    if isinstance(run, FlowRun) and isinstance(write.run, FlowRun):
        old_due, new_due = due_sk(write.run), due_sk(run)
        if old_due and old_due != new_due:
            tx.delete(keys.due(keys.shard(run.id)), old_due)
        if new_due:
            _put_due(tx, run, new_due)
        _move_suspension(tx, write.run, run)
        stats.count_changes(tx, run, write.run.state.type if write.run.state else None, write.state.type)
    if entry := write.cache_insert:
        tx.put(
            keys.cache(entry.key),
            keys.CACHE,
            doc=dump(entry.state),
            expiration=keys.ts(entry.expiration) if entry.expiration else None,
            expires_at=_ttl(entry.expiration),
        )
    return tx


def _ttl(expiration: dt.datetime | None) -> dt.datetime | None:
    """DynamoDB's TTL deletes within days of expiry; reads compare `expiration` themselves."""
    if expiration is None:
        return None
    return (expiration if expiration.tzinfo else expiration.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
