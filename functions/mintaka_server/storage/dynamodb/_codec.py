"""Compact run items: a task run's history lives in its own item, so a task run is one write to
create and one to finish, and the item stays under 1 KB (one write unit instead of two); a flow
run's document leaves out what its item says already, so the item and its three GSI copies stay
under 1 KB through a plain run's life (each of its writes: one unit per copy instead of two).

A task run's item holds its document (`doc`: the run, current state included) and `hist`, a list
of the states before the current one, oldest first. States are stored without what the item
already says: the run ids in `state_details` (when they are this run's: a `"~":1` marks them as
left out) and a name equal to its type's default. Reading puts them back; a state that never had
them comes back without them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from pydantic import TypeAdapter

from mintaka_core.schemas import FlowRun, TaskRun
from mintaka_core.states import State

_OWN_IDS = "~"  # marks a state whose run ids were left out (they are the item's own)
_STATES = TypeAdapter(list[State])


def _compact(data: dict, task_run_id: str, flow_run_id: str | None) -> dict:
    details = data.get("state_details") or {}
    own = details.get("task_run_id") == task_run_id and details.get("flow_run_id") == flow_run_id
    return _drop_own_ids(data, details, ("task_run_id", "flow_run_id") if own else ())


def _drop_own_ids(data: dict, details: dict, own_ids: tuple[str, ...]) -> dict:
    """Leaves out of a state's JSON the run ids its item implies (marked `_OWN_IDS`), then empty
    `state_details` and the default name."""
    if own_ids:
        for name in own_ids:
            details.pop(name, None)
        data[_OWN_IDS] = 1
        if not details:
            data.pop("state_details", None)
    if data.get("name") == data["type"].title():
        data.pop("name")
    return data


def _expand(data: dict, task_run_id: str, flow_run_id: str | None) -> dict:
    if data.pop(_OWN_IDS, None):
        details = data.setdefault("state_details", {})
        details["task_run_id"] = task_run_id
        if flow_run_id is not None:
            details["flow_run_id"] = flow_run_id
    return data


def _ids(run_id: uuid.UUID, flow_run_id: uuid.UUID | None) -> tuple[str, str | None]:
    return str(run_id), str(flow_run_id) if flow_run_id else None


def dump_task_run(run: TaskRun) -> str:
    """The run's `doc`: fields at their default and its state's own ids left out."""
    data = run.model_dump(mode="json", exclude_defaults=True)
    if "state" in data:
        _compact(data["state"], *_ids(run.id, run.flow_run_id))
    return json.dumps(data, separators=(",", ":"))


def load_task_run(doc: str) -> TaskRun:
    data = json.loads(doc)
    if "state" in data:
        _expand(data["state"], data["id"], data.get("flow_run_id"))
    return TaskRun.model_validate(data)


def dump_states(states: Iterable[State], run_id: uuid.UUID, flow_run_id: uuid.UUID | None) -> list[str]:
    """History entries for `hist`, one compact JSON string per state."""
    ids = _ids(run_id, flow_run_id)
    return [
        json.dumps(_compact(state.model_dump(mode="json", exclude_defaults=True), *ids), separators=(",", ":"))
        for state in states
    ]


def load_states(entries: Sequence[str], run: TaskRun) -> list[State]:
    ids = _ids(run.id, run.flow_run_id)
    return _STATES.validate_python([_expand(json.loads(entry), *ids) for entry in entries])


# Flow runs: fields the run item carries as attributes (for keys, conditions and filters), left out
# of its `doc` and read back from them. A document that has them (written before) keeps them.
_FLOW_RUN_ATTRIBUTES = (
    ("flow_name", "flow_name"),
    ("deployment_name", "deployment"),
    ("work_queue_name", "work_queue"),
)
_FLOW_RUN_PK = "FLOWRUN#"


def _compact_flow_state(data: dict, flow_run_id: str) -> dict:
    details = data.get("state_details") or {}
    own = details.get("flow_run_id") == flow_run_id and "task_run_id" not in details
    return _drop_own_ids(data, details, ("flow_run_id",) if own else ())


def dump_flow_run(run: FlowRun, in_run_item: bool = True) -> str:
    """A flow run's `doc`: without fields at their default, its id (the item's key or `ref` says
    it), its state's own run id and default name, and, in the run item (`in_run_item`), the fields
    its attributes hold. A copy elsewhere (a due item) keeps those fields."""
    data = run.model_dump(mode="json", exclude_defaults=True)
    run_id = data.pop("id")
    if "state" in data:
        _compact_flow_state(data["state"], run_id)
    if in_run_item:
        for field, _ in _FLOW_RUN_ATTRIBUTES:
            data.pop(field, None)
    return json.dumps(data, separators=(",", ":"))


def load_flow_run(item) -> FlowRun:
    """The flow run of a run item (base table or GSI copy) or of a due item (`dump_flow_run`),
    and of documents written whole before."""
    data = json.loads(item.doc)
    if "id" not in data:
        data["id"] = item.pk.removeprefix(_FLOW_RUN_PK) if item.pk.startswith(_FLOW_RUN_PK) else item.ref
    for field, attribute in _FLOW_RUN_ATTRIBUTES:
        if field not in data and (value := getattr(item, attribute, None)) is not None:
            data[field] = value
    if "state" in data and data["state"].pop(_OWN_IDS, None):
        data["state"].setdefault("state_details", {})["flow_run_id"] = data["id"]
    return FlowRun.model_validate(data)
