"""Hostile input at the API edge: a corpus generated per route and per field
(`support.hostile_requests`) is answered without a single 5xx, and a refused request writes
nothing: in-process (ASGI) on a real SQLite file, a sample over real HTTP (uvicorn), and the
date, number and text cases on DynamoDB (moto's server). Plus the request-size limit (413) under
uvicorn and the Lambda handler, and the SDK's log batches that stay under it."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from support.hostile_requests import BASELINES, RUN, TASK, Case, cases, generic_cases
from support.servers import serve_in_thread

from mintaka.bounds import MAX_NESTING
from mintaka.schemas import LogCreate
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

BASE_URL = "http://localhost"  # a loopback name: the browser guard lets it in
JSON = {"content-type": "application/json"}
MiB = 1024 * 1024
CORPUS = list(cases())


@dataclass
class World:
    """An app on a store seeded with one of everything the corpus addresses."""

    app: object
    client: httpx.Client | TestClient
    run_id: str
    task_id: str

    def send(self, case: Case) -> httpx.Response:
        path = case.path.replace(RUN, self.run_id).replace(TASK, self.task_id)
        body = case.body.replace(RUN, self.run_id).replace(TASK, self.task_id) if case.body else case.body
        return self.client.request(case.method, path, content=body, params=case.query or None, headers=JSON)


def seed(client) -> tuple[str, str]:
    def ok(response):
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    run = ok(client.post("/api/flow_runs", json={"flow_name": "hostile-flow", "state": {"type": "RUNNING"}}))
    task = ok(client.post("/api/task_runs", json={"flow_run_id": run["id"], "task_key": "seed"}))
    ok(client.post("/api/work_queues", json={"name": "hq"}))
    ok(client.post("/api/concurrency_limits", json={"tag": "ht", "limit": 3}))
    deployment = {
        "flow_name": "hostile",
        "name": "prod",
        "entrypoint": "flows.py:hostile",
        "storage": {"type": "local", "url": "/srv/flows"},
    }
    ok(client.post("/api/deployments", json=deployment))
    ok(client.put("/api/retry_policies/flow/hostile-flow", json={"retries": 1}))
    return run["id"], task["id"]


class SQLiteWrites:
    """Whether the store's file changed, seen from a second connection (`PRAGMA data_version`
    moves with every commit another connection makes), and its row counts per table."""

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def version(self) -> int:
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def rows(self) -> dict[str, int]:
        return {t: self.db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in self.tables}


@pytest.fixture
def sqlite_world(tmp_path) -> Iterator[tuple[World, SQLiteWrites]]:
    store = SQLiteStore(tmp_path / "mintaka.db")
    app = create_app(OrchestrationService(store), require_api_key=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        run_id, task_id = seed(client)
        writes = SQLiteWrites(tmp_path / "mintaka.db")
        yield World(app, client, run_id, task_id), writes
        writes.db.close()
    store.close()


def follow_up(world: World, case: Case, response: httpx.Response) -> list[str]:
    """What the server does later with what it accepted: a run created RUNNING fails (the retry
    rules add its delay to now), a deployment's schedules are expanded and its late runs marked."""
    problems = []
    if response.status_code >= 300:
        return problems
    if case.method == "POST" and case.path in ("/api/flow_runs", "/api/task_runs"):
        created = response.json()
        if (created.get("state") or {}).get("type") == "RUNNING":
            kind = case.path.rsplit("/", 1)[1]
            failed = world.client.post(
                f"/api/{kind}/{created['id']}/set_state", json={"state": {"type": "FAILED"}}, headers=JSON
            )
            if failed.status_code >= 500:
                problems.append(f"{case.label} -> then FAILED: {failed.status_code} {failed.text[:200]}")
    if case.method == "POST" and case.path == "/api/deployments":
        deployments = world.app.state.deployments
        try:
            deployments.schedule_runs()
            deployments.mark_late_runs()
        except Exception as exc:
            problems.append(f"{case.label} -> scheduling raised {exc!r:.200}")
    return problems


def check(world: World, corpus: list[Case], changed: Callable[[], object]) -> tuple[int, list[str]]:
    """Send every case; the problems: any 5xx (or a connection the server dropped), any write
    by a request answered 4xx."""
    problems: list[str] = []
    before = None  # what the store held after the last refused request (nothing wrote since)
    for case in corpus:
        if before is None:
            before = changed()
        try:
            response = world.send(case)
        except httpx.TransportError as exc:
            problems.append(f"{case.label}: no answer ({exc!r:.100})")
            before = None
            continue
        if response.status_code >= 500:
            problems.append(f"{case.label}: {response.status_code} {response.text[:200]}")
            before = None
        elif response.status_code >= 400:
            assert response.json()["detail"], case.label
            after = changed()
            if after != before:
                problems.append(f"{case.label}: refused ({response.status_code}) but wrote to the store")
            before = after
        else:
            before = None  # it may have written (and so may its follow-up)
        problems += follow_up(world, case, response)
    return len(corpus), problems


def api_routes(app) -> set[str]:
    """Every operation of the app, as `METHOD /api/path/{param}` (OpenAPI's templates)."""
    return {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def routes_with_a_baseline(routes: set[str]) -> set[str]:
    """The operations some baseline request of the corpus calls."""
    calls = {base.route for base in BASELINES}
    return {
        route
        for route in routes
        if any(re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(route)), call) for call in calls)
    }


def test_the_corpus_covers_every_route(sqlite_world):
    world, _ = sqlite_world
    routes = api_routes(world.app)
    missing = routes - routes_with_a_baseline(routes)
    assert len(routes) >= 40 and len(CORPUS) > 4000
    assert not missing, f"add a Baseline for these routes in tests/support/hostile_requests.py: {sorted(missing)}"


@pytest.mark.timeout(600)
@pytest.mark.slow  # ~4,000 requests: 40 s
def test_no_hostile_request_is_a_server_error_or_writes_when_refused(sqlite_world):
    world, writes = sqlite_world
    sent, problems = check(world, CORPUS, writes.version)
    assert not problems, f"{len(problems)} of {sent} hostile requests:\n" + "\n".join(problems[:40])


@pytest.mark.timeout(600)
def test_every_route_gets_generic_hostile_requests(sqlite_world):
    world, writes = sqlite_world
    # Every route, known or not (one added after the corpus), gets hostile path segments and bodies.
    extra = [case for route in sorted(api_routes(world.app)) for case in generic_cases(*route.split(" ", 1))]
    sent, problems = check(world, extra, writes.version)
    assert not problems, f"{len(problems)} of {sent} hostile requests:\n" + "\n".join(problems[:40])


def test_a_flow_run_refused_late_leaves_no_flow_behind(sqlite_world):
    """Creating a flow run upserts its flow first: a run refused for any field must not leave
    the flow (nor anything else) behind."""
    world, writes = sqlite_world
    before = writes.rows()
    hostile_fields = [
        {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": "0001-01-01T00:00:00+14:00"}}},
        {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": "9999-12-31T23:59:59-14:00"}}},
        {"empirical_policy": {"retries": 1, "retry_delay_seconds": [1e308]}},
        {"parameters": {"x": _nested(MAX_NESTING + 5)}},
        {"tags": ["a\x00b"]},
        {"idempotency_key": "k\x00"},
    ]
    names = []
    for fields in hostile_fields:
        name = f"never-{uuid.uuid4().hex[:8]}"
        names.append(name)
        answer = world.client.post("/api/flow_runs", json={"flow_name": name, **fields})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("body."), answer.text
    listed = {flow["name"] for flow in world.client.get("/api/flows").json()}
    assert not listed & set(names)
    assert writes.rows() == before


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_the_largest_legitimate_bodies_fit(sqlite_world):
    """A 3 MB parameters dict and a 3.9 MB log batch are under the default 4 MiB limit."""
    world, _ = sqlite_world
    parameters = {f"p{i}": "v" * 1000 for i in range(3000)}
    created = world.client.post("/api/flow_runs", json={"flow_name": "big-parameters", "parameters": parameters})
    assert created.status_code == 201, created.text[:200]
    assert world.client.get(f"/api/flow_runs/{created.json()['id']}/summary").json()["parameters"] == parameters


def test_messages_name_the_field_and_what_is_allowed(sqlite_world):
    world, _ = sqlite_world
    cases_and_words = [
        (
            "/api/flow_runs",
            {
                "flow_name": "f",
                "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": "9999-12-31T23:00:00"}},
            },
            ["body.state.state_details.scheduled_time", "between 1900-01-01 and 2999-12-31"],
        ),
        (
            "/api/flow_runs",
            {"flow_name": "f", "empirical_policy": {"retry_delay_seconds": [1e12]}},
            ["body.empirical_policy.retry_delay_seconds.0", "less than or equal to 31536000"],
        ),
        (
            "/api/flow_runs",
            {"flow_name": "f", "empirical_policy": {"retry_jitter_factor": 1e9}},
            ["body.empirical_policy.retry_jitter_factor", "less than or equal to 100"],
        ),
        ("/api/flow_runs", {"flow_name": "a\x00b"}, ["body.flow_name", "NUL"]),
        ("/api/logs", [{"message": "m", "timestamp": "0001-01-01T00:00:00+14:00"}], ["body.0.timestamp", "1900"]),
        ("/api/concurrency_limits", {"tag": "t", "limit": 2**63}, ["body.limit", "less than or equal to"]),
        ("/api/events", {"id": "a\x00b", "source": "s"}, ["body.id", "NUL"]),
        ("/api/work_queues", {"name": "q", "priority": 10**30}, ["body.priority", "less than or equal to 1000"]),
    ]
    for path, body, words in cases_and_words:
        answer = world.client.post(path, json=body)
        assert answer.status_code == 422, answer.text
        for word in words:
            assert word in answer.json()["detail"], (word, answer.text)
    deep = "[" * (MAX_NESTING + 5) + "]" * (MAX_NESTING + 5)
    answer = world.client.post(
        "/api/flow_runs", content=f'{{"flow_name": "f", "parameters": {{"x": {deep}}}}}', headers=JSON
    )
    assert answer.status_code == 422 and f"nested more than {MAX_NESTING} levels" in answer.json()["detail"]
    answer = world.client.get(f"/api/flow_runs/{world.run_id}/logs", params={"offset": str(2**63)})
    assert answer.status_code == 422 and "query.offset" in answer.json()["detail"]


def test_times_are_normalized_to_utc_and_naive_ones_read_as_utc(sqlite_world):
    world, _ = sqlite_world
    for sent, stored in [
        ("2030-01-02T03:04:05", "2030-01-02T03:04:05Z"),
        ("2030-01-02T05:04:05+02:00", "2030-01-02T03:04:05Z"),
    ]:
        state = {"type": "SCHEDULED", "state_details": {"scheduled_time": sent}}
        run = world.client.post("/api/flow_runs", json={"flow_name": "times", "state": state}).json()
        assert run["state"]["state_details"]["scheduled_time"].replace("+00:00", "Z") == stored
        assert run["expected_start_time"].replace("+00:00", "Z") == stored


def test_error_rendering_survives_what_it_echoes(sqlite_world):
    """Lone surrogates and NULs in the request, echoed into an error message, still render as
    JSON (never a 500 from the error handler itself)."""
    world, _ = sqlite_world
    for body in ['{"flow_name": "f", "labels": {"\\ud800": 1}}', '{"flow_name": "f", "\\udfff": 1}']:
        answer = world.client.post("/api/flow_runs", content=body, headers=JSON)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]
    answer = world.client.get("/api/concurrency_limits/%ED%A0%80%00")
    assert answer.status_code == 404 and answer.json()["detail"]
    answer = world.client.put("/api/retry_policies/tag/a%00b", json={"retries": 1}, headers=JSON)
    assert 400 <= answer.status_code < 500 and answer.json()["detail"]
    assert "Traceback" not in answer.text


# -- over real HTTP (uvicorn)


@pytest.mark.slow  # ~450 requests through a real uvicorn: 2-25 s under load
@pytest.mark.timeout(600)
def test_a_sample_of_the_corpus_over_http(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    app = create_app(OrchestrationService(store), require_api_key=False)
    try:
        with (
            serve_in_thread(app) as url,
            httpx.Client(base_url=url.replace("127.0.0.1", "localhost"), timeout=30) as client,
        ):
            run_id, task_id = seed(client)
            writes = SQLiteWrites(tmp_path / "mintaka.db")
            sent, problems = check(World(app, client, run_id, task_id), CORPUS[::9], writes.version)
            writes.db.close()
    finally:
        store.close()
    assert not problems, f"{len(problems)} of {sent} hostile requests:\n" + "\n".join(problems[:40])


# -- DynamoDB (moto's server): the times, numbers and text that reach the store


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~1,200 requests on moto, each a few round trips
def test_times_numbers_and_text_on_dynamodb(dynamodb_endpoint, dynamodb_table):
    import boto3

    from mintaka_server.storage.dynamodb import DynamoDBStore

    table = dynamodb_table.name  # empty: the item count is this test's alone
    store = DynamoDBStore(table, endpoint_url=dynamodb_endpoint)
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)

    def items() -> int:
        return dynamodb.scan(TableName=table, Select="COUNT")["Count"]

    stored_routes = ("/flow_runs", "/task_runs", "/logs", "/runs", "/events", "/set_state", "/retry_policies")
    reaching = [c for c in CORPUS if any(r in c.route for r in stored_routes)]
    texts = [c for c in reaching if c.kind == "text"]
    segments = [c for c in CORPUS if c.kind in ("path", "query")]  # keys: NUL, 3,000 characters
    corpus = [c for c in reaching if c.kind in ("time", "number")] + texts[::3] + segments[::3]
    app = create_app(OrchestrationService(store), require_api_key=False)
    try:
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            run_id, task_id = seed(client)
            sent, problems = check(World(app, client, run_id, task_id), corpus, items)
            # Parameters past DynamoDB's 400 KB item: refused before the flow is written.
            before = items()
            big = client.post("/api/flow_runs", json={"flow_name": "too-big", "parameters": {"x": "a" * 500_000}})
            assert big.status_code == 422 and "by reference" in big.json()["detail"], big.text
            assert items() == before
            assert "too-big" not in {flow["name"] for flow in client.get("/api/flows").json()}
    finally:
        store.close()
    assert sent > 300
    assert not problems, f"{len(problems)} of {sent} hostile requests:\n" + "\n".join(problems[:40])


# -- the request-size limit


def _logs_body(run_id: str, size: int) -> bytes:
    """A JSON batch of log lines for `run_id`, about `size` bytes."""
    line = {"flow_run_id": run_id, "message": "x" * 50_000, "timestamp": "2030-01-01T00:00:00Z"}
    one = len(LogCreate.model_validate(line).model_dump_json())
    return ("[" + ",".join([LogCreate.model_validate(line).model_dump_json()] * max(size // one, 1)) + "]").encode()


def test_bodies_over_the_limit_are_413_and_write_nothing(sqlite_world):
    world, writes = sqlite_world
    limit = 4 * MiB
    just_under = _logs_body(world.run_id, limit - 60_000)
    assert len(just_under) <= limit
    accepted = world.client.post("/api/logs", content=just_under, headers=JSON)
    assert accepted.status_code == 204, accepted.text
    before = writes.rows()
    over = just_under[:-1] + b"," + just_under[1:]
    assert len(over) > limit
    refused = world.client.post("/api/logs", content=over, headers=JSON)
    assert refused.status_code == 413
    detail = refused.json()["detail"]
    assert f"at most {limit} bytes (4 MiB)" in detail and "MINTAKA_SERVER_MAX_BODY_BYTES" in detail
    # A body streamed without Content-Length (chunked) is counted as it arrives.
    streamed = world.client.post(
        "/api/logs", content=iter([over[i : i + 65536] for i in range(0, len(over), 65536)]), headers=JSON
    )
    assert streamed.status_code == 413, streamed.text
    assert writes.rows() == before


def test_the_limit_is_configurable(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from mintaka_server.server_settings import ServerSettings, reset_server_settings

    monkeypatch.setenv("MINTAKA_SERVER_MAX_BODY_BYTES", str(2 * MiB))
    reset_server_settings()
    store = SQLiteStore(tmp_path / "mintaka.db")
    try:
        app = create_app(OrchestrationService(store), require_api_key=False)
        with TestClient(app, base_url=BASE_URL) as client:
            run_id, _ = seed(client)
            assert client.post("/api/logs", content=_logs_body(run_id, 1 * MiB), headers=JSON).status_code == 204
            refused = client.post("/api/logs", content=_logs_body(run_id, 3 * MiB), headers=JSON)
            assert refused.status_code == 413 and f"at most {2 * MiB} bytes" in refused.json()["detail"]
    finally:
        store.close()
        reset_server_settings()
    with pytest.raises(ValidationError, match="server_max_body_bytes"):
        ServerSettings(server_max_body_bytes=1000)  # below what the SDK's log batches need


def _raw_exchange(url: str, head: bytes, body_chunks: Iterator[bytes] | None = None) -> tuple[bytes, int]:
    """Send `head` and then chunks until the server answers; the answer and the bytes sent."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        answer = b""
        deadline = time.monotonic() + 60
        for chunk in body_chunks or iter(()):
            with contextlib.suppress(TimeoutError):
                answer += sock.recv(65536)
            if answer or time.monotonic() > deadline:
                break
            try:
                sock.sendall(chunk)
                sent += len(chunk)
            except OSError:  # the server closed: it answered, or stopped reading
                break
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer, sent


@pytest.mark.slow  # a real uvicorn and a raw socket
def test_uvicorn_refuses_a_declared_10_gb_body_without_reading_it(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    app = create_app(OrchestrationService(store), require_api_key=False)
    try:
        with serve_in_thread(app) as url:
            head = (
                b"POST /api/logs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10737418240\r\n\r\n"
            )
            started = time.monotonic()
            answer, _ = _raw_exchange(url, head)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert time.monotonic() - started < 20  # answered at once, not after reading 10 GB
            # Chunked, no length: refused once past the limit, long before the sender is done.
            head = (
                b"POST /api/logs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            piece = b"x" * 65536
            chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(10**6))  # 64 GB if all were read
            answer, sent = _raw_exchange(url, head, chunks)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert sent < 64 * MiB
    finally:
        store.close()


def test_the_lambda_handler_refuses_bodies_over_the_limit(tmp_path, monkeypatch):
    from mintaka_server import handlers

    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    monkeypatch.setenv("MINTAKA_STORE", "sqlite")
    monkeypatch.setenv("MINTAKA_API_AUTH", "false")
    monkeypatch.setenv("MINTAKA_SERVER_MAX_BODY_BYTES", str(1 * MiB))
    for name in ("MINTAKA_DATABASE", "AWS_LAMBDA_FUNCTION_NAME", "MINTAKA_TABLE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    handlers.reset()
    try:
        body = _logs_body(str(uuid.uuid4()), 2 * MiB)
        for declared in (True, False):  # with and without a Content-Length header
            answer = handlers.api(_api_gateway_event("POST", "/api/logs", body, declared), _LambdaContext())
            assert answer["statusCode"] == 413, answer
            text = base64.b64decode(answer["body"]).decode() if answer.get("isBase64Encoded") else answer["body"]
            assert "MINTAKA_SERVER_MAX_BODY_BYTES" in text
    finally:
        handlers.reset()


class _LambdaContext:
    function_name = "mintaka-ApiFunction"
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mintaka-ApiFunction"
    memory_limit_in_mb = 512
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _api_gateway_event(method: str, path: str, body: bytes, declare_length: bool) -> dict:
    host = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
    headers = {"host": host, "content-type": "application/json"}
    if declare_length:
        headers["content-length"] = str(len(body))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "domainName": host,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "r1",
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


# -- the SDK's log batches stay under the smallest limit a server may set


def test_the_sdk_splits_log_batches_to_fit_the_smallest_body_limit(tmp_path):
    from mintaka.client.http import HttpTransport

    store = SQLiteStore(tmp_path / "mintaka.db")
    app = create_app(OrchestrationService(store), require_api_key=False, max_body_bytes=1 * MiB)
    try:
        with serve_in_thread(app) as url:
            client = HttpTransport(url.replace("127.0.0.1", "localhost") + "/api")
            run = client.create_flow_run(_flow_run_create())
            now = dt.datetime.now(dt.UTC)
            logs = [LogCreate(flow_run_id=run.id, message=f"{i:06d}" + "é" * 99_990, timestamp=now) for i in range(60)]
            client.create_logs(logs)  # ~12 MB in all
            read = client.read_logs(run.id, limit=100)
            assert sorted(log.message[:6] for log in read) == [f"{i:06d}" for i in range(60)]
    finally:
        store.close()


def test_the_sdk_reports_a_body_over_the_limit_at_once(tmp_path):
    """Over real HTTP a too-large request reads as the server's 413 message, not as an outage to
    ride out (the client would otherwise retry it for minutes)."""
    from mintaka.client.http import HttpTransport
    from mintaka.exceptions import InvalidRequest
    from mintaka.schemas import FlowRunCreate

    store = SQLiteStore(tmp_path / "mintaka.db")
    app = create_app(OrchestrationService(store), require_api_key=False)
    try:
        with serve_in_thread(app) as url:
            client = HttpTransport(url.replace("127.0.0.1", "localhost") + "/api")
            started = time.monotonic()
            with pytest.raises(InvalidRequest, match="MINTAKA_SERVER_MAX_BODY_BYTES"):
                client.create_flow_run(FlowRunCreate(flow_name="huge", parameters={"x": "a" * 6_000_000}))
            assert time.monotonic() - started < 20
            assert client.list_flows() == []
    finally:
        store.close()


def _flow_run_create():
    from mintaka.schemas import FlowRunCreate

    return FlowRunCreate(flow_name="big-logs")
