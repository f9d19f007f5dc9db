"""The `mintaka` CLI on a temporary MINTAKA_HOME (embedded store), seeded through the embedded
transport on the same SQLite file. Commands run in this process through the console script's
`main(argv)` (fast lane); `--help` and `--version` also run as the installed console script."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from mintaka.client.embedded import EmbeddedTransport
from mintaka.schemas import ConcurrencyLimitCreate, FlowRunCreate, LogCreate, SetStateRequest, TaskRunCreate
from mintaka.states import Completed, Failed, Running


@pytest.fixture
def run_cli(run_cli_in_process):
    """This module's commands run in this process (`main(argv)`), not as subprocesses."""
    return run_cli_in_process


@pytest.fixture
def seeded(mintaka_home):
    """Three runs: etl COMPLETED (with a task run and logs), etl FAILED, report PENDING."""
    client = EmbeddedTransport(mintaka_home / "mintaka.db")
    done = client.create_flow_run(FlowRunCreate(flow_name="etl", parameters={"day": "mon"}, tags=["nightly"]))
    client.set_flow_run_state(done.id, SetStateRequest(state=Running()))
    task = client.create_task_run(TaskRunCreate(flow_run_id=done.id, task_key="extract"))
    client.set_task_run_state(task.id, SetStateRequest(state=Running()))
    client.set_task_run_state(task.id, SetStateRequest(state=Completed()))
    t0 = dt.datetime.now(dt.UTC)
    client.create_logs(
        [
            LogCreate(flow_run_id=done.id, message="extracting [rows]", timestamp=t0),
            LogCreate(flow_run_id=done.id, task_run_id=task.id, level=30, message="slow", timestamp=t0),
        ]
    )
    client.set_flow_run_state(done.id, SetStateRequest(state=Completed()))
    failed = client.create_flow_run(FlowRunCreate(flow_name="etl"))
    client.set_flow_run_state(failed.id, SetStateRequest(state=Running()))
    client.set_flow_run_state(failed.id, SetStateRequest(state=Failed(name="Expected Failure", message="no input")))
    pending = client.create_flow_run(FlowRunCreate(flow_name="report"))
    yield {"done": done, "failed": failed, "pending": pending, "task": task}
    client.close()


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:")
    for fragment in fragments:
        assert fragment in lines[0]


def test_flow_run_ls_json_lists_newest_first(run_cli, seeded):
    result = run_cli("flow-run", "ls", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["id"] for r in runs] == [str(seeded[k].id) for k in ("pending", "failed", "done")]
    assert [r["state"]["type"] for r in runs] == ["PENDING", "FAILED", "COMPLETED"]
    assert runs[1]["state"]["name"] == "Expected Failure"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--flow", "etl"], ["failed", "done"]),
        (["--state", "COMPLETED"], ["done"]),
        (["--state", "failed"], ["failed"]),  # state types are case-insensitive
        (["--flow", "etl", "--state", "PENDING"], []),
        (["--limit", "2"], ["pending", "failed"]),
    ],
)
def test_flow_run_ls_filters(run_cli, seeded, args, expected):
    result = run_cli("flow-run", "ls", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)] == [str(seeded[k].id) for k in expected]


def test_flow_run_ls_table(run_cli, seeded):
    result = run_cli("flow-run", "ls")
    assert result.returncode == 0, result.stderr
    for run in ("done", "failed", "pending"):
        assert str(seeded[run].id) in result.stdout
    assert "Expected Failure" in result.stdout and "report" in result.stdout


def test_flow_run_inspect_json_has_states_task_runs_and_logs(run_cli, seeded):
    run = seeded["done"]
    result = run_cli("flow-run", "inspect", str(run.id), "--json")
    assert result.returncode == 0, result.stderr
    detail = json.loads(result.stdout)
    assert detail["id"] == str(run.id)
    assert detail["parameters"] == {"day": "mon"}
    assert [s["type"] for s in detail["states"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert [t["id"] for t in detail["task_runs"]] == [str(seeded["task"].id)]
    assert [log["message"] for log in detail["logs"]] == ["extracting [rows]", "slow"]


def test_flow_run_inspect_table(run_cli, seeded):
    result = run_cli("flow-run", "inspect", str(seeded["done"].id))
    assert result.returncode == 0, result.stderr
    for text in ("States", "Task runs", "Logs", "extract-0", "extracting [rows]", "WARNING", "nightly"):
        assert text in result.stdout


def test_flow_ls(run_cli, seeded):
    table = run_cli("flow", "ls")
    assert table.returncode == 0, table.stderr
    assert "etl" in table.stdout and "report" in table.stdout
    as_json = run_cli("flow", "ls", "--json")
    assert [f["name"] for f in json.loads(as_json.stdout)] == ["etl", "report"]


def test_concurrency_limit_create_ls_delete(run_cli, mintaka_home):
    created = run_cli("concurrency-limit", "create", "db", "3")
    assert created.returncode == 0, created.stderr
    assert "db" in created.stdout
    assert run_cli("concurrency-limit", "create", "api", "1").returncode == 0

    listed = json.loads(run_cli("concurrency-limit", "ls", "--json").stdout)
    assert [(x["tag"], x["limit"], x["active_slots"]) for x in listed] == [("api", 1, 0), ("db", 3, 0)]
    table = run_cli("concurrency-limit", "ls")
    assert "db" in table.stdout and "api" in table.stdout

    # The embedded store sees what the CLI wrote, and the other way round.
    client = EmbeddedTransport(mintaka_home / "mintaka.db")
    assert client.read_concurrency_limit("db").limit == 3
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=5))
    client.close()
    assert [x["limit"] for x in json.loads(run_cli("concurrency-limit", "ls", "--json").stdout)] == [1, 5]

    deleted = run_cli("concurrency-limit", "delete", "db")
    assert deleted.returncode == 0, deleted.stderr
    assert [x["tag"] for x in json.loads(run_cli("concurrency-limit", "ls", "--json").stdout)] == ["api"]
    assert_one_line_error(run_cli("concurrency-limit", "delete", "db"), "db")


def test_retry_policy_set_ls_delete_and_a_flow_obeys_it(run_cli, mintaka_home):
    from mintaka import flow
    from mintaka.client import set_client

    calls = []

    @flow
    def fragile():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return len(calls)

    def run_afresh():
        """The flow on a new client of MINTAKA_HOME's store, as a new script would run it."""
        calls.clear()
        previous = set_client(None)
        if previous is not None:
            previous.close()
        return fragile()

    ok = run_cli("retry-policy", "set", "flow", "fragile", "--retries", "2", "--delay", "0", "--delay", "0.1")
    assert ok.returncode == 0, ok.stderr
    assert "retry 2 time(s) (delays: 0s, 0.1s)" in ok.stdout
    assert run_cli("retry-policy", "set", "deployment", "fragile/prod", "-r", "1", "--jitter", "0.5").returncode == 0
    listed = json.loads(run_cli("retry-policy", "ls", "--json").stdout)
    assert [(p["scope"], p["name"], p["retries"]) for p in listed] == [
        ("deployment", "fragile/prod", 1),
        ("flow", "fragile", 2),
    ]
    assert "fragile/prod" in run_cli("retry-policy", "ls").stdout

    assert run_afresh() == 3

    assert run_cli("retry-policy", "delete", "flow", "fragile").returncode == 0
    with pytest.raises(RuntimeError, match="not yet"):
        run_afresh()
    assert calls == [1]


def test_empty_store_lists_nothing(run_cli):
    result = run_cli("flow-run", "ls", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["flow-run", "inspect", "{unknown}"], ["No flow run with id"]),
        (["flow-run", "inspect", "{unknown}", "--json"], ["No flow run with id"]),
        (["flow-run", "inspect", "not-a-uuid"], ["not-a-uuid", "not a valid flow run id"]),
        (["flow-run", "ls", "--state", "DONE"], ["--state", "COMPLETED"]),
        (["flow-run", "ls", "--limit", "0"], ["--limit"]),
        (["flow-run", "ls", "--flow", ""], ["--flow"]),
        (["concurrency-limit", "create", "db", "--", "-1"], ["limit", "greater than or equal to 0"]),
        (["concurrency-limit", "delete", "nope"], ["nope"]),
        (["retry-policy", "set", "deployment", "etl", "--retries", "1"], ["FLOW/DEPLOYMENT", "'etl'"]),
        (["retry-policy", "set", "flow", "etl", "--retries", "-1"], ["--retries", "greater than or equal to 0"]),
        (["retry-policy", "set", "flow", "etl", "-r", "1", "-d", "-5"], ["--delay", "greater than or equal to 0"]),
        (["retry-policy", "delete", "tag", "nope"], ["No retry policy for tag 'nope'"]),
    ],
)
def test_bad_input_is_one_line_and_nonzero(run_cli, seeded, args, fragments):
    unknown = str(uuid.uuid4())
    result = run_cli(*[a.replace("{unknown}", unknown) for a in args])
    assert_one_line_error(result, *fragments)
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["flow-run", "inspect"], ["flow-run", "ls", "--limit", "many"], ["concurrency-limit", "create", "db", "-1"]],
)
def test_usage_errors_point_to_help_without_traceback(run_cli, args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--help" in result.stderr


@pytest.mark.slow  # the CLI retries the API for ~3 s first (backoff in real time), as a person gets it
def test_unreachable_api_is_one_line_and_nonzero(run_cli, closed_port_url):
    result = run_cli("flow-run", "ls", api_url=closed_port_url)
    assert_one_line_error(result, "Cannot reach the Mintaka API at URL", closed_port_url)


def test_malformed_api_url_is_one_line_and_nonzero(run_cli):
    assert_one_line_error(run_cli("flow", "ls", api_url="localhost-4200"), "http://")


@pytest.mark.slow  # the console script in a fresh interpreter
def test_help_and_version(run_cli_subprocess):
    help_text = run_cli_subprocess("--help")
    assert help_text.returncode == 0
    for command in ("server", "flow-run", "flow", "concurrency-limit"):
        assert command in help_text.stdout
    assert run_cli_subprocess("--version").stdout.startswith("mintaka ")


def test_help_and_version_in_process(run_cli):
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    for command in ("server", "flow-run", "flow", "concurrency-limit"):
        assert command in help_text.stdout
    assert run_cli("--version").stdout.startswith("mintaka ")
