"""`mintaka flow-run logs ID [--head N | --tail N] [--level LEVEL]` (in this process, through the
console script's `main(argv)`), on the embedded store and over HTTP (uvicorn); the logs route's
query checks at the edge; and the HTTP client's cheap flow-run read (GET /flow_runs/{id}/summary,
not the detail with its history)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.servers import serve_in_thread

from mintaka.client.embedded import EmbeddedTransport
from mintaka.client.http import HttpTransport
from mintaka.schemas import FlowRun, FlowRunCreate, LogCreate, SetStateRequest, TaskRunCreate
from mintaka.states import Running

LINES = 1234  # more than one page of the CLI's reads (1,000), so --head pages and --tail must not
LEVEL_CYCLE = [10, 20, 30, 40, 50]  # line i has level LEVEL_CYCLE[i % 5]
NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


@pytest.fixture
def run_cli(run_cli_in_process):
    """This module's commands run in this process (`main(argv)`), not as subprocesses."""
    return run_cli_in_process


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Path, FlowRun]:
    """A store file with a flow run with LINES lines `line <i>`, a second apart, levels cycling
    DEBUG..CRITICAL; line 7 is a multi-line traceback. Another run's lines must never show.
    Written once per module; tests read copies of it."""
    database = tmp_path_factory.mktemp("logs") / "mintaka.db"
    client = EmbeddedTransport(database)
    run = client.create_flow_run(FlowRunCreate(flow_name="etl"))
    other = client.create_flow_run(FlowRunCreate(flow_name="etl"))
    client.set_flow_run_state(run.id, SetStateRequest(state=Running()))
    task = client.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="extract", state=Running()))
    # A task's start waits (0.1 s) to be written with its end; any other call writes it first.
    client.read_task_run(task.id)
    t0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    lines = [
        LogCreate(
            flow_run_id=run.id,
            task_run_id=task.id if i % 2 else None,
            level=LEVEL_CYCLE[i % 5],
            message=f"line {i}" + ("\nTraceback (most recent call last):\n  ValueError: boom" if i == 7 else ""),
            timestamp=t0 + dt.timedelta(seconds=i),
        )
        for i in range(LINES)
    ]
    client.create_logs(lines)
    client.create_logs([LogCreate(flow_run_id=other.id, level=50, message="elsewhere", timestamp=t0)])
    client.close()  # the last connection: SQLite folds the WAL into the file
    return database, run


@pytest.fixture(scope="module")
def logs_server(seeded, tmp_path_factory) -> Iterator[str]:
    """The API URL of one uvicorn server, for the module, on a copy of the seeded store (tests
    only read it)."""
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    database = tmp_path_factory.mktemp("logs-server") / "mintaka.db"
    shutil.copyfile(seeded[0], database)
    store = SQLiteStore(database)
    with serve_in_thread(create_app(OrchestrationService(store))) as base:
        yield f"{base}/api"
    store.close()


@pytest.fixture
def logged(seeded, mintaka_home) -> FlowRun:
    """The seeded run, in a copy of the seeded store at MINTAKA_HOME (the CLI's embedded store)."""
    mintaka_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seeded[0], mintaka_home / "mintaka.db")
    return seeded[1]


@pytest.fixture(params=["embedded", "http"])
def api_url(request, logged, logs_server):
    """None: the CLI on the embedded store; else the URL of a server on the same lines."""
    return None if request.param == "embedded" else logs_server


def numbers(stdout: str) -> list[int]:
    """The line numbers printed, in order (continuation lines of a traceback skipped)."""
    found = []
    for text in stdout.splitlines():
        if ": line " in text:
            found.append(int(text.rsplit(": line ", 1)[1]))
    return found


def expected(min_level: int = 0) -> list[int]:
    return [i for i in range(LINES) if LEVEL_CYCLE[i % 5] >= min_level]


def test_all_lines_oldest_first_with_level_and_logger(run_cli, logged, api_url):
    result = run_cli("flow-run", "logs", str(logged.id), api_url=api_url)
    assert result.returncode == 0, result.stderr
    assert numbers(result.stdout) == expected()
    first = result.stdout.splitlines()[0]
    assert " DEBUG " in first and first.endswith("mintaka: line 0")
    assert "Traceback (most recent call last):\n  ValueError: boom" in result.stdout  # printed as written
    assert "elsewhere" not in result.stdout


def test_head_and_tail(run_cli, logged, api_url):
    head = run_cli("flow-run", "logs", str(logged.id), "--head", "1100", api_url=api_url)
    assert head.returncode == 0, head.stderr
    assert numbers(head.stdout) == expected()[:1100]
    tail = run_cli("flow-run", "logs", str(logged.id), "--tail", "3", api_url=api_url)
    assert tail.returncode == 0, tail.stderr
    assert numbers(tail.stdout) == [LINES - 3, LINES - 2, LINES - 1]  # the newest, printed in time order


@pytest.mark.parametrize(("level", "min_level"), [("error", 40), ("WARNING", 30), ("warn", 30), ("50", 50)])
def test_level_filters_with_head_and_tail(run_cli, logged, api_url, level, min_level):
    shown = run_cli("flow-run", "logs", str(logged.id), "--level", level, api_url=api_url)
    assert shown.returncode == 0, shown.stderr
    assert numbers(shown.stdout) == expected(min_level)
    levels = {text.split()[2] for text in shown.stdout.splitlines() if ": line " in text}
    assert levels == {NAMES[lv] for lv in LEVEL_CYCLE if lv >= min_level}

    tail = run_cli("flow-run", "logs", str(logged.id), "--level", level, "--tail", "4", api_url=api_url)
    assert numbers(tail.stdout) == expected(min_level)[-4:]
    head = run_cli("flow-run", "logs", str(logged.id), "--level", level, "--head", "2", "--json", api_url=api_url)
    assert [log["message"] for log in json.loads(head.stdout)] == [f"line {i}" for i in expected(min_level)[:2]]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--head", "2", "--tail", "2"], "--head and --tail"),
        (["--tail", "0"], "--tail: must be at least 1"),
        (["--head", "-3"], "--head: must be at least 1"),
        (["--level", "loud"], "--level: 'loud' is not a level"),
        (["--level", "101"], "--level: '101' is not a level"),
    ],
)
def test_bad_options_are_one_line_errors(run_cli, logged, args, fragment):
    result = run_cli("flow-run", "logs", str(logged.id), *args)
    assert result.returncode == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Error:") and fragment in result.stderr


def test_unknown_and_malformed_ids(run_cli, logged, api_url):
    unknown = str(uuid.uuid4())
    missing = run_cli("flow-run", "logs", unknown, "--tail", "5", api_url=api_url)
    assert missing.returncode == 1 and f"No flow run with id {unknown}" in missing.stderr
    malformed = run_cli("flow-run", "logs", "not-an-id", api_url=api_url)
    assert malformed.returncode == 1 and "not a valid flow run id" in malformed.stderr


def test_a_known_run_with_no_matching_lines_prints_nothing(run_cli, mintaka_home):
    client = EmbeddedTransport(mintaka_home / "mintaka.db")
    run = client.create_flow_run(FlowRunCreate(flow_name="quiet"))
    client.close()
    result = run_cli("flow-run", "logs", str(run.id), "--level", "CRITICAL", "--tail", "5")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# -- the API edge: bad query parameters are a 4xx naming the parameter, and write nothing


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_level": "-1"}, "query.min_level"),
        ({"min_level": "101"}, "query.min_level"),
        ({"min_level": "ERROR"}, "query.min_level"),
        ({"newest_first": "perhaps"}, "query.newest_first"),
        ({"limit": "0"}, "query.limit"),
        ({"offset": "-1"}, "query.offset"),
        ({"offset": str(2**70)}, "query.offset"),
    ],
)
def test_logs_route_refuses_bad_query_parameters(logs_server, logged, params, field):
    response = httpx.get(f"{logs_server}/flow_runs/{logged.id}/logs", params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


def test_logs_route_filters_and_reverses(logs_server, logged):
    params = {"min_level": 40, "newest_first": "true", "limit": 3, "offset": 1}
    response = httpx.get(f"{logs_server}/flow_runs/{logged.id}/logs", params=params)
    assert response.status_code == 200, response.text
    assert [log["message"] for log in response.json()] == [f"line {i}" for i in expected(40)[::-1][1:4]]


# -- the HTTP client reads a flow run without its history


class Recorder:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)


def test_http_client_reads_the_run_alone_and_the_detail_separately(logs_server, logged):
    recorder = Recorder()
    client = HttpTransport(logs_server)
    client._http.event_hooks["request"].append(recorder)
    run = client.read_flow_run(logged.id)
    detail = client.read_flow_run_detail(logged.id)
    client.close()
    assert recorder.paths == [f"/api/flow_runs/{logged.id}/summary", f"/api/flow_runs/{logged.id}"]
    assert run.id == detail.id == logged.id and run.state.type is detail.state.type
    assert len(detail.states) == 2 and len(detail.task_runs) == 1

    summary = httpx.get(f"{logs_server}/flow_runs/{logged.id}/summary").json()
    assert "states" not in summary and "task_runs" not in summary
    unknown = uuid.uuid4()
    missing = httpx.get(f"{logs_server}/flow_runs/{unknown}/summary")
    assert missing.status_code == 404 and str(unknown) in missing.json()["detail"]


def test_http_client_falls_back_on_an_api_without_the_summary_route(mintaka_home, serve_asgi, logged):
    """An SDK newer than its server (a Lambda API not redeployed yet) still reads runs."""
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    store = SQLiteStore(mintaka_home / "mintaka.db")
    from starlette.responses import JSONResponse

    app = create_app(OrchestrationService(store), require_api_key=False)

    async def older_api(scope, receive, send):  # as the router answers a path it does not know
        if scope["type"] == "http" and scope["path"].endswith("/summary"):
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)

    recorder = Recorder()
    with serve_asgi(older_api) as base:
        client = HttpTransport(f"{base}/api")
        client._http.event_hooks["request"].append(recorder)
        assert client.read_flow_run(logged.id).id == logged.id
        assert client.read_flow_run(logged.id).id == logged.id
        client.close()
    store.close()
    summary, detail = f"/api/flow_runs/{logged.id}/summary", f"/api/flow_runs/{logged.id}"
    assert recorder.paths == [summary, detail, detail]  # asked once, then remembered
