"""`mintaka.runtime` as `prefect.runtime` (2.20) offers it: `flow_run`, `task_run` and
`deployment` attributes inside flows, tasks, subflows and deployed runs, empty outside any run,
read from the API when `MINTAKA__FLOW_RUN_ID` names a run, and mockable through
`MINTAKA__RUNTIME__*` environment variables."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import uuid

import httpx
import pytest

from mintaka import flow, tags, task
from mintaka.runtime import deployment, flow_run, task_run

FLOW_RUN_FIELDS = (
    "id",
    "name",
    "flow_name",
    "flow_version",
    "tags",
    "parameters",
    "scheduled_start_time",
    "run_count",
    "parent_flow_run_id",
    "parent_deployment_id",
    "root_flow_run_id",
    "api_url",
    "ui_url",
    "job_variables",
)
TASK_RUN_FIELDS = ("id", "name", "task_name", "tags", "parameters", "run_count")
DEPLOYMENT_FIELDS = ("id", "flow_run_id", "name", "version", "parameters")
NO_TASK_RUN = {"id": None, "name": None, "task_name": None, "tags": [], "parameters": {}, "run_count": 0}
NO_DEPLOYMENT = {"id": None, "flow_run_id": None, "name": None, "version": None, "parameters": {}}


def snapshot() -> dict:
    return {
        "flow_run": {name: getattr(flow_run, name) for name in FLOW_RUN_FIELDS},
        "task_run": {name: getattr(task_run, name) for name in TASK_RUN_FIELDS},
        "deployment": {name: getattr(deployment, name) for name in DEPLOYMENT_FIELDS},
    }


@pytest.fixture(autouse=True)
def _no_runtime_environment(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("MINTAKA__RUNTIME__") or key == "MINTAKA__FLOW_RUN_ID":
            monkeypatch.delenv(key)


def test_the_import_forms_prefect_code_uses():
    import mintaka.runtime.flow_run
    from mintaka.runtime.flow_run import id as flow_run_id
    from mintaka.runtime.task_run import parameters

    from mintaka import runtime

    assert runtime.flow_run is flow_run is mintaka.runtime.flow_run
    assert flow_run_id is None and parameters == {}
    assert set(FLOW_RUN_FIELDS) <= set(dir(flow_run))
    assert set(dir(task_run)) == set(TASK_RUN_FIELDS)
    assert set(dir(deployment)) == set(DEPLOYMENT_FIELDS)


def test_a_function_using_the_runtime_pickles_for_other_processes():
    import subprocess
    import sys

    import cloudpickle

    def where():
        return flow_run.id, task_run.name, deployment.id

    blob = cloudpickle.dumps(where)
    code = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read())())"
    done = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert done.stdout.decode().strip() == "(None, None, None)"


def test_inside_a_flow(client):
    @flow(version="1.2")
    def report(day: str, limit: int = 10):
        return snapshot()

    with tags("nightly"):
        state = report("monday", return_state=True)
    values = state.result()
    run = client.read_flow_run(state.state_details.flow_run_id)
    seen = values["flow_run"]
    assert seen["id"] == str(run.id)
    assert seen["name"] == run.name
    assert seen["flow_name"] == "report"
    assert seen["flow_version"] == "1.2"
    assert seen["tags"] == ["nightly"]
    assert seen["parameters"] == {"day": "monday", "limit": 10}
    assert seen["run_count"] == 1
    assert isinstance(seen["scheduled_start_time"], dt.datetime)
    assert seen["scheduled_start_time"].tzinfo is not None
    assert seen["parent_flow_run_id"] is None and seen["parent_deployment_id"] is None
    assert seen["root_flow_run_id"] == str(run.id)
    assert seen["job_variables"] == {}
    assert values["task_run"] == NO_TASK_RUN
    assert values["deployment"] == NO_DEPLOYMENT
    api_url = getattr(client, "api_url", None)
    if api_url is None:  # the embedded store: no server to point at
        assert seen["api_url"] is None and seen["ui_url"] is None
    else:
        assert seen["api_url"] == f"{api_url}/flow_runs/{run.id}"
        assert seen["ui_url"] == f"{api_url.removesuffix('/api')}/ui/#/runs/{run.id}"
        assert httpx.get(seen["api_url"]).json()["id"] == str(run.id)  # the URL is the run's resource


def test_inside_a_task(client):
    @task(tags=["io"])
    def fetch(n: int, scale: float = 1.5):
        return snapshot()

    @flow
    def pipeline():
        called = fetch(3)
        submitted = fetch.submit(4).result()
        return called, submitted, (fetch(5, return_state=True),)

    with tags("outer"):
        state = pipeline(return_state=True)
    called, submitted, (fetch_state,) = state.result()
    flow_run_id = str(state.state_details.flow_run_id)
    for values, n in ((called, 3), (submitted, 4)):
        seen = values["task_run"]
        record = client.read_task_run(uuid.UUID(seen["id"]))
        assert seen["name"] == record.name
        assert seen["task_name"] == "fetch"
        assert set(seen["tags"]) == {"io", "outer"}
        assert seen["parameters"] == {"n": n, "scale": 1.5}
        assert seen["run_count"] == 1
        assert values["flow_run"]["id"] == flow_run_id  # the flow run the task belongs to
        assert values["flow_run"]["flow_name"] == "pipeline"
        assert values["flow_run"]["parameters"] == {}
    assert called["task_run"]["id"] != submitted["task_run"]["id"]
    assert fetch_state.result()["task_run"]["id"] == str(fetch_state.state_details.task_run_id)


def test_run_count_is_the_current_attempt(client):
    attempts = {"task": [], "flow": []}

    @task(retries=2, retry_delay_seconds=0)
    def flaky():
        attempts["task"].append(task_run.run_count)
        if len(attempts["task"]) < 3:
            raise RuntimeError("not yet")
        return "ok"

    @flow(retries=1, retry_delay_seconds=0)
    def outer():
        attempts["flow"].append(flow_run.run_count)
        if len(attempts["flow"]) < 2:
            raise RuntimeError("flow not yet")
        return flaky()

    assert outer() == "ok"
    assert attempts == {"flow": [1, 2], "task": [1, 2, 3]}


def test_a_subflow_knows_its_parent_and_root(client):
    @flow
    def child():
        return snapshot()["flow_run"]

    @flow
    def middle():
        return child()

    @flow
    def parent():
        return flow_run.id, middle()

    parent_id, seen = parent()
    assert seen["id"] != parent_id
    assert seen["flow_name"] == "child"
    assert seen["parent_flow_run_id"] not in (None, parent_id)  # the middle flow's run
    assert client.read_flow_run(uuid.UUID(seen["parent_flow_run_id"])).flow_name == "middle"
    assert seen["root_flow_run_id"] == parent_id
    assert seen["parent_deployment_id"] is None


def test_outside_any_run_everything_is_empty():
    before = dt.datetime.now(dt.UTC)
    values = snapshot()
    assert values["task_run"] == NO_TASK_RUN
    assert values["deployment"] == NO_DEPLOYMENT
    seen = values["flow_run"]
    start = seen.pop("scheduled_start_time")
    assert before <= start <= dt.datetime.now(dt.UTC)  # Prefect: now, when there is no run
    assert seen == {
        "id": None,
        "name": None,
        "flow_name": None,
        "flow_version": None,
        "tags": [],
        "parameters": {},
        "run_count": 0,
        "parent_flow_run_id": None,
        "parent_deployment_id": None,
        "root_flow_run_id": None,
        "api_url": None,
        "ui_url": None,
        "job_variables": {},
    }
    with pytest.raises(AttributeError, match="no attribute 'boop'"):
        flow_run.boop  # noqa: B018
    with pytest.raises(ImportError):
        from mintaka.runtime.task_run import boop  # noqa: F401


def test_environment_variables_mock_attributes_cast_to_their_types(monkeypatch):
    monkeypatch.setenv("MINTAKA__RUNTIME__TASK_RUN__NEW_KEY", "foobar")
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__RUN_COUNT", "3")
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__NAME", "mocked-name")
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__SCHEDULED_START_TIME", "2024-01-02T03:04:05")
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__TAGS", '["a", "b"]')
    monkeypatch.setenv("MINTAKA__RUNTIME__TASK_RUN__TAGS", "x, y")
    monkeypatch.setenv("MINTAKA__RUNTIME__DEPLOYMENT__PARAMETERS", '{"day": "friday"}')
    monkeypatch.setenv("MINTAKA__RUNTIME__DEPLOYMENT__ID", "dep-1")
    assert task_run.new_key == "foobar"  # not an attribute: the string itself
    assert flow_run.run_count == 3
    assert flow_run.name == "mocked-name"
    assert flow_run.scheduled_start_time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert flow_run.tags == ["a", "b"]
    assert task_run.tags == ["x", "y"]
    assert deployment.parameters == {"day": "friday"}
    assert deployment.id == "dep-1"
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__PARAMETERS", "not json")
    with pytest.raises(ValueError, match="MINTAKA__RUNTIME__FLOW_RUN__PARAMETERS must hold a JSON dict"):
        flow_run.parameters  # noqa: B018


def test_a_mock_wins_inside_a_run(client, monkeypatch):
    monkeypatch.setenv("MINTAKA__RUNTIME__FLOW_RUN__NAME", "fixed-name")

    @flow
    def named():
        return flow_run.name, flow_run.flow_name

    assert named() == ("fixed-name", "named")


def test_outside_a_run_the_flow_run_named_by_the_environment_is_read_from_the_api(client, monkeypatch):
    @flow(version="7")
    def nightly(day: str):
        return day

    with tags("ops"):
        state = nightly("sunday", return_state=True)
    run = client.read_flow_run(state.state_details.flow_run_id)
    monkeypatch.setenv("MINTAKA__FLOW_RUN_ID", str(run.id))
    assert flow_run.id == str(run.id)
    assert flow_run.name == run.name
    assert flow_run.flow_name == "nightly"
    assert flow_run.flow_version == "7"
    assert flow_run.tags == ["ops"]
    assert flow_run.parameters == {"day": "sunday"}
    assert flow_run.run_count == run.run_count == 1
    assert flow_run.parent_flow_run_id is None
    assert flow_run.root_flow_run_id == str(run.id)
    assert isinstance(flow_run.scheduled_start_time, dt.datetime)
    assert task_run.id is None  # no task run is named by the environment
    assert deployment.id is None  # no deployment created that run


DEPLOYED = textwrap.dedent(
    """
    import json
    from mintaka import flow
    from mintaka.runtime import deployment, flow_run

    def values():
        return {
            "deployment": {k: getattr(deployment, k) for k in ("id", "flow_run_id", "name", "version", "parameters")},
            "flow_run": {k: getattr(flow_run, k) for k in ("id", "parent_deployment_id", "parameters", "tags")},
        }

    @flow
    def inner():
        return values()

    @flow
    def report(out: str, day: str = "monday"):
        seen = {"top": values(), "subflow": inner()}
        with open(out, "w") as f:
            json.dump(seen, f)
    """
)


def test_a_deployed_run_sees_its_deployment_and_its_subflows_too(client, tmp_path):
    from mintaka.deployment_schemas import DeploymentRunCreate
    from mintaka.deployments import DeploySpec, apply
    from mintaka.engine.deployed import execute_flow_run

    project = tmp_path / "project"
    project.mkdir()
    (project / "reporting.py").write_text(DEPLOYED)
    out = tmp_path / "seen.json"
    spec = DeploySpec(
        entrypoint=str(project / "reporting.py:report"),
        name="prod",
        version="2024.06",
        parameters={"out": str(out)},
        tags=["scheduled"],
    )
    created = apply(spec, client)
    run = client.create_deployment_run("report", "prod", DeploymentRunCreate(parameters={"day": "friday"}))
    execution = execute_flow_run(run.id, client)
    assert execution.state is not None and execution.state.is_completed(), execution.message
    seen = json.loads(out.read_text())

    expected = {
        "id": str(created.id),
        "flow_run_id": str(run.id),
        "name": "prod",
        "version": "2024.06",
        "parameters": {"out": str(out), "day": "friday"},
    }
    assert seen["top"]["deployment"] == expected
    assert seen["top"]["flow_run"]["id"] == str(run.id)
    assert seen["top"]["flow_run"]["parent_deployment_id"] is None
    assert "scheduled" in seen["top"]["flow_run"]["tags"]
    # a subflow of the deployed run: the same deployment (Prefect: the process's deployment),
    # and its parent's deployment
    assert seen["subflow"]["deployment"] == expected
    assert seen["subflow"]["flow_run"]["id"] != str(run.id)
    assert seen["subflow"]["flow_run"]["parent_deployment_id"] == str(created.id)
