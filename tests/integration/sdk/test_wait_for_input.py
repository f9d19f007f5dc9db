"""Typed input on resume (Prefect 2.20's `wait_for_input`), on both transports: the pause stores
its input's JSON schema, a resume must give input the schema accepts (else it is refused naming
the field, and the run stays paused), and the pause returns the model (a `RunInput`, a plain
pydantic model, or a builtin type's value). A suspension's input survives its executor: the
replay returns it."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time

import pydantic
import pytest

from mintaka import flow, pause_flow_run, resume_flow_run
from mintaka.deployment_schemas import DeploymentRunCreate
from mintaka.exceptions import InvalidRequest, MintakaError
from mintaka.input import RunInput
from mintaka.schemas import FlowRunFilter
from mintaka.states import StateType


class Approval(RunInput):
    approver: str
    level: int = 1


class Shipping(pydantic.BaseModel):
    address: str


def paused_run(client, flow_name: str, timeout: float = 20.0, pauses: int = 1):
    """The flow's run once it is PAUSED for the `pauses`-th time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.list_flow_runs(FlowRunFilter(flow_name=flow_name)).items
        paused = runs and runs[0].state.type is StateType.PAUSED
        if paused and sum(s.type is StateType.PAUSED for s in client.read_flow_run_states(runs[0].id)) == pauses:
            return runs[0]
        time.sleep(0.02)
    raise AssertionError(f"{flow_name} was not paused")


def in_background(fn) -> threading.Thread:
    errors: list[BaseException] = []

    def run():
        try:
            fn()
        except BaseException as exc:  # surfaced by join()
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors
    thread.start()
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(10)
    if thread.errors:
        raise thread.errors[0]


def test_the_pause_returns_the_validated_model_and_refuses_bad_input_naming_the_field(client):
    @flow
    def release() -> str:
        approval = pause_flow_run(wait_for_input=Approval, timeout=30, poll_interval=0.05)
        assert isinstance(approval, Approval)
        return f"{approval.approver}@{approval.level}"

    def reviewer():
        run = paused_run(client, "release")
        schema = run.state.state_details.run_input_schema
        assert schema["required"] == ["approver"] and schema["additionalProperties"] is False
        with pytest.raises(InvalidRequest, match=r'approver: 5 is not of type "string"'):
            resume_flow_run(run.id, run_input={"approver": 5})
        with pytest.raises(InvalidRequest, match=r'"approver" is a required property'):
            resume_flow_run(run.id)
        with pytest.raises(InvalidRequest, match=r"'surprise' was unexpected"):
            resume_flow_run(run.id, run_input={"approver": "ada", "surprise": 1})
        assert client.read_flow_run(run.id).state.type is StateType.PAUSED  # nothing written
        assert [s.name for s in client.read_flow_run_states(run.id)][-1] == "Paused"
        resume_flow_run(run.id, run_input={"approver": "ada", "level": 3})

    thread = in_background(reviewer)
    assert release() == "ada@3"
    join(thread)
    run = client.list_flow_runs(FlowRunFilter(flow_name="release")).items[0]
    resumed = client.read_flow_run_states(run.id)[-2]
    assert (resumed.type, resumed.state_details.run_input) == (StateType.RUNNING, {"approver": "ada", "level": 3})


def test_a_plain_model_a_builtin_type_and_defaults_each_pause_with_its_own_key(client):
    @flow
    def order() -> tuple:
        shipping = pause_flow_run(wait_for_input=Shipping, timeout=30, poll_interval=0.05)
        quantity = pause_flow_run(wait_for_input=int, timeout=30, poll_interval=0.05)
        defaults = Approval.with_initial_data(description="Who signs it off?", approver="nobody")
        signed = pause_flow_run(wait_for_input=defaults, timeout=30, poll_interval=0.05)
        return isinstance(shipping, Shipping), shipping.address, quantity, signed.approver, signed.level

    def customer():
        run = paused_run(client, "order", pauses=1)
        resume_flow_run(run.id, run_input={"address": "1 Main St"})
        run = paused_run(client, "order", pauses=2)
        assert run.state.state_details.pause_key == "pause-1"
        with pytest.raises(InvalidRequest, match=r'value: "many" is not of type "integer"'):
            resume_flow_run(run.id, run_input={"value": "many"})
        resume_flow_run(run.id, run_input={"value": 12})
        run = paused_run(client, "order", pauses=3)
        assert run.state.state_details.run_input_schema["description"] == "Who signs it off?"
        resume_flow_run(run.id)  # every field has a default

    thread = in_background(customer)
    assert order() == (True, "1 Main St", 12, "nobody", 1)
    join(thread)


def test_an_async_flow_awaits_its_input(client):
    @flow
    async def approve_async() -> str:
        approval = await pause_flow_run(wait_for_input=Approval, timeout=30, poll_interval=0.05)
        return approval.approver

    thread = in_background(lambda: resume_flow_run(paused_run(client, "approve-async").id, {"approver": "bo"}))
    assert asyncio.run(approve_async()) == "bo"
    join(thread)


def test_a_pause_without_wait_for_input_refuses_input(client):
    @flow
    def plain() -> None:
        assert pause_flow_run(timeout=30, poll_interval=0.05) is None

    def reviewer():
        run = paused_run(client, "plain")
        assert run.state.state_details.run_input_schema is None
        with pytest.raises(InvalidRequest, match="this pause takes no input"):
            resume_flow_run(run.id, run_input={"approver": "ada"})
        resume_flow_run(run.id)

    thread = in_background(reviewer)
    plain()
    join(thread)
    with pytest.raises(MintakaError, match="is not paused"):
        resume_flow_run(client.list_flow_runs(FlowRunFilter(flow_name="plain")).items[0].id)


SUSPENDED_FLOWS = textwrap.dedent(
    """
    from mintaka import flow, suspend_flow_run
    from mintaka.input import RunInput


    class Approval(RunInput):
        approver: str


    @flow
    def gated(log: str = "") -> str:
        with open(log, "a") as f:
            f.write("before\\n")
        approval = suspend_flow_run(wait_for_input=Approval, timeout=60)
        return "approved by " + approval.approver
    """
)


def test_a_suspensions_input_is_kept_and_the_replay_returns_it(client, tmp_path):
    from mintaka.deployments import DeploySpec, apply
    from mintaka.engine.deployed import execute_flow_run

    (tmp_path / "gated_flows.py").write_text(SUSPENDED_FLOWS)
    log = tmp_path / "side-effects"
    apply(DeploySpec(entrypoint=f"{tmp_path / 'gated_flows.py'}:gated", name="prod"), client=client)
    run = client.create_deployment_run("gated", "prod", DeploymentRunCreate(parameters={"log": str(log)}))

    suspended = execute_flow_run(run.id, client).state
    assert (suspended.type, suspended.name) == (StateType.PAUSED, "Suspended")
    assert suspended.state_details.run_input_schema["required"] == ["approver"]
    with pytest.raises(InvalidRequest, match='"approver" is a required property'):
        resume_flow_run(run.id, run_input={}, client=client)
    assert client.read_flow_run(run.id).state.name == "Suspended"

    resumed = resume_flow_run(run.id, run_input={"approver": "ada"}, client=client)
    assert (resumed.name, resumed.state_details.run_input) == ("Resuming", {"approver": "ada"})
    final = execute_flow_run(run.id, client).state  # a new execution: the input came from the API
    assert final.type is StateType.COMPLETED and final.result() == "approved by ada"
    assert log.read_text().splitlines() == ["before", "before"]  # the flow body replays; no task to recall
