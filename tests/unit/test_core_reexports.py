"""The vocabulary moved to `mintaka_core`; the old `mintaka.*` paths still work: the same objects
through both, and pickles written by earlier versions (which name `mintaka.states` and the like)
still load."""

from __future__ import annotations

import importlib
import pickle

import pytest

import mintaka_core.states
from mintaka.states import Completed, State, StateType

MOVED = {
    "mintaka.states": "mintaka_core.states",
    "mintaka.schemas": "mintaka_core.schemas",
    "mintaka.exceptions": "mintaka_core.exceptions",
    "mintaka.bounds": "mintaka_core.bounds",
    "mintaka.deployment_schemas": "mintaka_core.deployment_schemas",
    "mintaka.batch_schemas": "mintaka_core.batch_schemas",
    "mintaka.schedules": "mintaka_core.schedules",
    "mintaka._ids": "mintaka_core.ids",
    "mintaka._code_checks": "mintaka_core.code_checks",
    "mintaka.client.operations": "mintaka_core.operations",
    "mintaka.client.base": "mintaka_core.client",
    "mintaka.client.deployments": "mintaka_core.deployment_client",
    "mintaka.client.schemas.filters": "mintaka_core.filters",
    "mintaka.client.schemas.sorting": "mintaka_core.sorting",
}


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_every_public_name_is_the_same_object_through_the_old_path(old, new):
    before, core = importlib.import_module(old), importlib.import_module(new)
    names = getattr(core, "__all__", None) or [n for n in vars(core) if not n.startswith("_")]
    assert names
    assert [n for n in names if getattr(before, n) is not getattr(core, n)] == []


def test_a_pickle_naming_the_old_module_loads_as_the_core_class():
    state = Completed(message="done")
    data = pickle.dumps(state, protocol=2)  # unframed: a module name can be swapped in place
    old = data.replace(b"mintaka_core.states\n", b"mintaka.states\n")
    assert old != data  # the pickle now names mintaka.states, as earlier versions wrote it
    loaded = pickle.loads(old)
    assert type(loaded) is State is mintaka_core.states.State
    assert loaded.type is StateType.COMPLETED and loaded.message == "done"
