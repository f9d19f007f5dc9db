"""Two rules, pure: a pause waiting for typed input resumes only with input its JSON schema
accepts (and the input travels on the state it resumes to, a suspension's SCHEDULED "Resuming"
included); a subflow cut off halfway (CRASHED) is re-entered by its parent's replay, only by a
proposal naming that crashed state, and only if it is a subflow (or a task run in a flow)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mintaka.schemas import SetStateStatus
from mintaka.states import RESUMING, State, StateDetails, StateType
from mintaka_server.orchestration import RunSnapshot, TransitionContext, evaluate

NOW = dt.datetime(2031, 3, 9, 2, 30, tzinfo=dt.UTC)
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "count": {"type": "integer", "default": 1}},
    "required": ["name"],
    "additionalProperties": False,
}


def paused(schema=SCHEMA, reschedule: bool | None = None) -> State:
    details = StateDetails(
        pause_key="pause-0",
        pause_timeout=NOW + dt.timedelta(hours=1),
        run_input_schema=schema,
        pause_reschedule=reschedule,
    )
    return State(type=StateType.PAUSED, timestamp=NOW - dt.timedelta(minutes=1), state_details=details)


def resume_ctx(current: State, run_input: dict | None) -> TransitionContext:
    proposed = State(type=StateType.RUNNING, timestamp=NOW, state_details=StateDetails(run_input=run_input))
    run = RunSnapshot(kind="flow_run", state=current, run_count=1, work_queue_name="q" if current else None)
    return TransitionContext(run=run, proposed=proposed, now=NOW)


class TestRunInput:
    def test_input_the_schema_accepts_resumes_the_run_and_stays_on_its_state(self):
        decision = evaluate(resume_ctx(paused(), {"name": "ada"}))
        assert decision.status is SetStateStatus.ACCEPT
        assert decision.state.type is StateType.RUNNING
        assert decision.state.state_details.run_input == {"name": "ada"}

    @pytest.mark.parametrize(
        ("run_input", "named"),
        [
            (None, '"name" is a required property'),
            ({}, '"name" is a required property'),
            ({"name": 5}, 'name: 5 is not of type "string"'),
            ({"name": "ada", "count": "x"}, 'count: "x" is not of type "integer"'),
            ({"name": "ada", "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
        ],
    )
    def test_input_the_schema_refuses_is_rejected_naming_the_field(self, run_input, named):
        current = paused()
        decision = evaluate(resume_ctx(current, run_input))
        assert decision.status is SetStateStatus.REJECT
        assert decision.state is current  # the run stays paused
        assert decision.reason.startswith("Invalid run input: ") and named in decision.reason

    def test_a_schema_whose_fields_all_have_defaults_takes_no_input(self):
        schema = {"type": "object", "properties": {"n": {"type": "integer", "default": 2}}}
        assert evaluate(resume_ctx(paused(schema), None)).status is SetStateStatus.ACCEPT

    def test_a_pause_waiting_for_no_input_refuses_some(self):
        decision = evaluate(resume_ctx(paused(schema=None), {"name": "ada"}))
        assert decision.status is SetStateStatus.REJECT and "takes no input" in decision.reason
        assert evaluate(resume_ctx(paused(schema=None), None)).status is SetStateStatus.ACCEPT

    def test_a_suspension_resumes_through_its_queue_carrying_the_input(self):
        decision = evaluate(resume_ctx(paused(reschedule=True), {"name": "ada"}))
        assert decision.status is SetStateStatus.ACCEPT
        assert (decision.state.type, decision.state.name) == (StateType.SCHEDULED, RESUMING)
        assert decision.state.state_details.run_input == {"name": "ada"}

    def test_a_suspension_refuses_bad_input_before_it_is_queued(self):
        decision = evaluate(resume_ctx(paused(reschedule=True), {"name": None}))
        assert decision.status is SetStateStatus.REJECT and 'name: null is not of type "string"' in decision.reason

    def test_a_pause_schema_must_be_a_json_schema(self):
        with pytest.raises(ValueError, match="not a valid JSON schema"):
            StateDetails(run_input_schema={"type": "no such type"})


def crashed(reaped: bool = True) -> State:
    details = StateDetails(reaped=reaped or None)
    return State(type=StateType.CRASHED, timestamp=NOW - dt.timedelta(seconds=5), state_details=details)


def reentry_ctx(
    current: State, reenters: uuid.UUID | None, *, kind: str = "flow_run", subflow: bool = True
) -> TransitionContext:
    parent = uuid.uuid4() if subflow else None
    run = RunSnapshot(
        kind=kind,
        state=current,
        run_count=1,
        heartbeat_interval=10.0 if kind == "flow_run" else None,
        parent_task_run_id=parent if kind == "flow_run" else None,
        flow_run_id=parent if kind == "task_run" else None,
    )
    proposed = State(type=StateType.RUNNING, timestamp=NOW, state_details=StateDetails(reenters=reenters))
    return TransitionContext(run=run, proposed=proposed, now=NOW, heartbeat_interval=10.0)


class TestReentry:
    @pytest.mark.parametrize("kind", ["flow_run", "task_run"])
    def test_a_crashed_subflow_named_by_the_proposal_runs_again_as_a_new_attempt(self, kind):
        current = crashed()
        decision = evaluate(reentry_ctx(current, current.id, kind=kind))
        assert decision.status is SetStateStatus.ACCEPT and decision.state.type is StateType.RUNNING
        assert decision.reopened  # no end time any more
        assert decision.run_count == 2
        if kind == "flow_run":
            assert decision.lease_expires is not None  # its executor beats for it again

    def test_a_subflow_crashed_by_its_executor_running_out_of_time_is_reentered_too(self):
        current = crashed(reaped=False)
        assert evaluate(reentry_ctx(current, current.id)).status is SetStateStatus.ACCEPT

    def test_without_naming_the_crashed_state_it_stays_finished(self):
        decision = evaluate(reentry_ctx(crashed(), None))
        assert decision.status is SetStateStatus.REJECT and "terminal states are final" in decision.reason

    @pytest.mark.parametrize(
        "case",
        ["stale state", "not crashed", "not a subflow"],
    )
    def test_a_stale_or_foreign_reentry_is_aborted(self, case):
        current = crashed()
        if case == "stale state":
            ctx = reentry_ctx(current, uuid.uuid4())
        elif case == "not crashed":
            current = State(type=StateType.FAILED, timestamp=NOW)
            ctx = reentry_ctx(current, current.id)
        else:
            ctx = reentry_ctx(current, current.id, subflow=False)
        decision = evaluate(ctx)
        assert decision.status is SetStateStatus.ABORT
        assert decision.state is current and "Only a crashed subflow can be re-entered" in decision.reason
