"""The API's Lambda entry point, `mintaka_server.handlers.api`, invoked the way Lambda does:
API Gateway HTTP API events (payload format 2.0) and a Lambda context object, over a real
SQLite store under tmp_path. Status codes, JSON bodies (4xx kept as the app answered them),
API keys (on by default on Lambda), base64 bodies, non-ASCII JSON, one app per container."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from mintaka.schemas import ApiKeyCreate
from mintaka_server import handlers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@dataclass
class LambdaContext:
    """The attributes the Python runtime's context has, and Powertools reads."""

    function_name: str = "mintaka-ApiFunction-AbC123"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mintaka-ApiFunction-AbC123"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/mintaka-ApiFunction-AbC123"
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_api_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | str | None = None,
    body: bytes | str | None = None,
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) proxy event, shaped like the ones AWS sends for `$default`."""
    raw_query = urlencode(query) if isinstance(query, dict) else (query or "")
    now = time.time()
    event_headers = {
        "accept": "application/json",
        "accept-encoding": "gzip, deflate",
        "host": HOST,
        "user-agent": "python-httpx/0.27.0",
        "x-amzn-trace-id": "Root=1-662a1f00-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": event_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "python-httpx/0.27.0",
            },
            "requestId": f"{uuid.uuid4().hex[:14]}=",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if raw_query:  # AWS leaves the parsed form out when there is no query string
        parsed: dict[str, list[str]] = {}
        for pair in raw_query.split("&"):
            key, _, value = pair.partition("=")
            parsed.setdefault(key, []).append(value)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in parsed.items()}
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        event_headers["content-type"] = "application/json"
        event_headers["content-length"] = str(len(raw))
        event["body"] = base64.b64encode(raw).decode() if base64_body else raw.decode()
    event_headers.update(headers or {})
    return event


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    raw: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.text)


Invoke = Callable[..., Answer]


def to_answer(response: dict[str, Any]) -> Answer:
    body = response.get("body", "")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return Answer(response["statusCode"], response.get("headers", {}), body, response)


@pytest.fixture
def lambda_env(tmp_path, monkeypatch) -> Iterator[None]:
    """A container's environment: the SQLite store under tmp_path, not on Lambda (no X-Ray)."""
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    monkeypatch.setenv("MINTAKA_STORE", "sqlite")
    for name in ("MINTAKA_DATABASE", "MINTAKA_API_AUTH", "AWS_LAMBDA_FUNCTION_NAME", "MINTAKA_TABLE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    handlers.reset()
    yield
    handlers.reset()


def call_api(method: str, path: str, *, json_body: Any = None, key: str | None = None, **kw: Any) -> Answer:
    if json_body is not None:
        kw["body"] = json.dumps(json_body, ensure_ascii=False)
    if key is not None:
        kw["headers"] = {**kw.get("headers", {}), "authorization": f"Bearer {key}"}
    return to_answer(handlers.api(http_api_event(method, path, **kw), LambdaContext()))


@pytest.fixture
def api_key(lambda_env) -> str:
    """A key made the way `mintaka api-key create` makes one, in the container's store."""
    return handlers.get_container().app.state.service.api_keys.create(ApiKeyCreate(name="lambda-tests")).key


@pytest.fixture
def invoke(api_key) -> Invoke:
    """Calls with the API key, as the SDK does."""

    def call(method: str, path: str, **kw: Any) -> Answer:
        kw.setdefault("key", api_key)
        return call_api(method, path, **kw)

    return call


def new_run(invoke: Invoke, flow_name: str = "etl", **fields: Any) -> dict:
    answer = invoke("POST", "/api/flow_runs", json_body={"flow_name": flow_name, **fields})
    assert answer.status == 201, answer.text
    return answer.json()


def propose(invoke: Invoke, run_id: str, state_type: str, **state: Any) -> dict:
    answer = invoke("POST", f"/api/flow_runs/{run_id}/set_state", json_body={"state": {"type": state_type, **state}})
    assert answer.status == 200, answer.text
    return answer.json()


# -- reads and writes


def test_health(invoke):
    answer = invoke("GET", "/api/health")
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["content-type"] == "application/json"
    assert answer.raw["isBase64Encoded"] is False


def test_flow_run_created_moved_to_completed_and_read(invoke, tmp_path):
    run = new_run(invoke, parameters={"n": 3}, tags=["nightly"])
    assert run["state"]["type"] == "PENDING"

    assert propose(invoke, run["id"], "RUNNING")["status"] == "ACCEPT"
    done = propose(invoke, run["id"], "COMPLETED", message="all good")
    assert done["status"] == "ACCEPT"
    assert done["state"]["type"] == "COMPLETED"

    detail = invoke("GET", f"/api/flow_runs/{run['id']}")
    assert detail.status == 200
    body = detail.json()
    assert body["state"]["type"] == "COMPLETED"
    assert body["state"]["message"] == "all good"
    assert [s["type"] for s in body["states"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert body["parameters"] == {"n": 3}
    assert (tmp_path / "mintaka.db").exists()  # the store the settings named


def test_list_filters_come_from_the_raw_query_string(invoke):
    a1 = new_run(invoke, "a", tags=["team:data"])
    a2 = new_run(invoke, "a")
    b1 = new_run(invoke, "b", tags=["team:data"])
    propose(invoke, a2["id"], "RUNNING")

    def ids(query: dict[str, str] | str) -> list[str]:
        answer = invoke("GET", "/api/flow_runs", query=query)
        assert answer.status == 200, answer.text
        return [run["id"] for run in answer.json()["items"]]

    assert ids({"flow_name": "a"}) == [a2["id"], a1["id"]]
    assert ids({"state_type": "RUNNING"}) == [a2["id"]]
    assert ids("tag=team%3Adata") == [b1["id"], a1["id"]]  # percent-encoded as a client sends it
    assert ids({"tag": "team:data", "flow_name": "b"}) == [b1["id"]]

    first = invoke("GET", "/api/flow_runs", query={"limit": "2"}).json()
    assert [r["id"] for r in first["items"]] == [b1["id"], a2["id"]]
    rest = invoke("GET", "/api/flow_runs", query={"limit": "2", "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in rest["items"]] == [a1["id"]]


# -- errors keep their status and body


def test_unknown_id_is_a_404_with_the_message(invoke):
    answer = invoke("GET", f"/api/flow_runs/{UNKNOWN}")
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert UNKNOWN in answer.json()["detail"]


def test_bad_body_is_a_422_naming_the_field_and_writes_nothing(invoke):
    answer = invoke("POST", "/api/flow_runs", json_body={"flow_name": "", "tags": ["ok"]})
    assert answer.status == 422
    assert "body.flow_name" in answer.json()["detail"]
    assert [e["loc"] for e in answer.json()["errors"]] == [["body", "flow_name"]]
    assert invoke("GET", "/api/flow_runs").json()["items"] == []


def test_bad_query_is_a_422_naming_the_parameter(invoke):
    answer = invoke("GET", "/api/flow_runs", query={"limit": "0"})
    assert answer.status == 422
    assert "query.limit" in answer.json()["detail"]


def test_malformed_json_is_a_422(invoke):
    answer = invoke("POST", "/api/flow_runs", body='{"flow_name": ')
    assert answer.status == 422
    assert "detail" in answer.json()


def test_unknown_route_is_a_404(invoke):
    answer = invoke("GET", "/api/nope")
    assert answer.status == 404
    assert answer.json() == {"detail": "Not Found"}


# -- API keys (on by default on Lambda)


def test_health_needs_no_key(lambda_env):
    assert call_api("GET", "/api/health").status == 200


@pytest.mark.parametrize("key", [None, "mk_000000000000_wrong", "not-a-key"], ids=["missing", "wrong", "malformed"])
def test_without_a_valid_key_it_is_a_401_and_nothing_is_written(invoke, key):
    answer = call_api("POST", "/api/flow_runs", json_body={"flow_name": "etl"}, key=key)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "API key" in answer.json()["detail"]
    assert invoke("GET", "/api/flow_runs").json()["items"] == []


def test_keys_can_be_turned_off_for_gateway_auth(lambda_env, monkeypatch):
    monkeypatch.setenv("MINTAKA_API_AUTH", "false")  # IAM (SigV4) checked by API Gateway instead
    handlers.reset()
    answer = call_api("POST", "/api/flow_runs", json_body={"flow_name": "etl"})
    assert answer.status == 201, answer.text


# -- bodies


def test_base64_encoded_request_body_is_decoded(invoke):
    payload = json.dumps({"flow_name": "b64", "parameters": {"blob": "\x00\x01 ☃"}}).encode()
    answer = invoke("POST", "/api/flow_runs", body=payload, base64_body=True)
    assert answer.status == 201, answer.text
    assert answer.json()["flow_name"] == "b64"
    assert answer.json()["parameters"] == {"blob": "\x00\x01 ☃"}


def test_unicode_json_round_trips(invoke):
    params = {"city": "Zürich", "greeting": "こんにちは", "emoji": "🚀✨", "rtl": "שלום", "escaped": '"\\\n\t'}
    run = new_run(invoke, "ünïcödé-flow", parameters=params, tags=["données"])
    assert run["flow_name"] == "ünïcödé-flow"

    detail = invoke("GET", f"/api/flow_runs/{run['id']}")
    assert detail.raw["isBase64Encoded"] is False  # JSON travels as text, not base64
    assert detail.json()["parameters"] == params
    assert detail.json()["tags"] == ["données"]
    listed = invoke("GET", "/api/flow_runs", query={"flow_name": "ünïcödé-flow", "tag": "données"})
    assert [r["id"] for r in listed.json()["items"]] == [run["id"]]


# -- DynamoDB, as deployed


@pytest.fixture
def dynamodb_lambda_env(request, lambda_env, monkeypatch) -> Iterator[None]:
    """The container configured as template.yaml configures it: MINTAKA_STORE=dynamodb and a
    table prefix, with the table on the session's DynamoDB endpoint (moto, or AWS_ENDPOINT_URL)."""
    try:
        import pynamodb  # noqa: F401

        table = request.getfixturevalue("dynamodb_table")  # an empty `{prefix}mintaka`
    except (pytest.FixtureLookupError, ImportError) as exc:
        pytest.skip(f"no DynamoDB endpoint or adapter: {exc}")
    monkeypatch.setenv("MINTAKA_STORE", "dynamodb")
    monkeypatch.setenv("MINTAKA_TABLE_PREFIX", table.prefix)
    monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("dynamodb_endpoint"))
    handlers.reset()
    yield
    handlers.reset()


def test_serves_from_dynamodb_as_deployed(dynamodb_lambda_env):
    service = handlers.get_container().app.state.service
    assert type(service.store).__name__ == "DynamoDBStore"
    key = service.api_keys.create(ApiKeyCreate(name="lambda-tests")).key
    made = call_api("POST", "/api/flow_runs", json_body={"flow_name": "étl", "tags": ["nightly"]}, key=key)
    assert made.status == 201, made.text
    run_id = made.json()["id"]
    for state in ("RUNNING", "COMPLETED"):
        answer = call_api("POST", f"/api/flow_runs/{run_id}/set_state", json_body={"state": {"type": state}}, key=key)
        assert answer.json()["status"] == "ACCEPT", answer.text
    detail = call_api("GET", f"/api/flow_runs/{run_id}", key=key).json()
    assert [s["type"] for s in detail["states"]] == ["PENDING", "RUNNING", "COMPLETED"]
    listed = call_api("GET", "/api/flow_runs", query={"flow_name": "étl", "state_type": "COMPLETED"}, key=key)
    assert [r["id"] for r in listed.json()["items"]] == [run_id]
    assert call_api("GET", f"/api/flow_runs/{UNKNOWN}", key=key).status == 404
    assert call_api("GET", "/api/flow_runs", key="mk_000000000000_wrong").status == 401


# -- the container


def test_app_is_built_once_per_container(invoke, monkeypatch):
    import mintaka_server.api as api_package

    built = []
    real_create_app = api_package.create_app

    def counting_create_app(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real_create_app(*args, **kwargs)

    monkeypatch.setattr(api_package, "create_app", counting_create_app)
    handlers.reset()  # a fresh container (the key stays in the store)
    for _ in range(3):
        assert invoke("GET", "/api/health").status == 200
    run = new_run(invoke)
    assert invoke("GET", f"/api/flow_runs/{run['id']}").status == 200
    assert len(built) == 1
    container = handlers.get_container()
    assert invoke("GET", "/api/health").status == 200
    assert handlers.get_container() is container

    handlers.reset()  # a new container builds its own
    assert invoke("GET", "/api/health").status == 200
    assert len(built) == 2
    assert handlers.get_container() is not container


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_TRACE_DISABLED": "true"},
        {"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_SAM_LOCAL": "true"},
    ],
    ids=["not-on-lambda", "disabled", "sam-local"],
)
def test_no_tracer_where_there_is_no_x_ray(monkeypatch, env):
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    tracer = handlers._build_tracer()
    assert type(tracer).__name__ == "_NoTracer"

    def handler(event: Any, context: Any) -> str:
        return "served"

    assert tracer.capture_lambda_handler(handler, capture_response=False)({}, LambdaContext()) == "served"


def test_importing_the_handler_module_loads_no_web_framework_or_store():
    code = (
        "import sys, mintaka_server.handlers\n"
        "heavy = [m for m in ('fastapi', 'mangum', 'pydantic', 'starlette', 'pynamodb',"
        " 'botocore.session', 'aws_xray_sdk', 'sqlite3') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("-", "_"))
    return names


@pytest.mark.slow  # a fresh interpreter
def test_the_server_needs_no_dependency_outside_the_lambda_requirements(tmp_path):
    """The Lambda package holds the project (--no-deps) plus infra/lambda/requirements.txt. In a
    process where every other project dependency (the CLI's, the HTTP client's, uvicorn) cannot
    be imported, the handler still serves keys, writes and reads."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    shipped = requirement_names((ROOT / "infra" / "lambda" / "requirements.txt").read_text().splitlines())
    blocked = sorted(requirement_names(project) - shipped)
    assert blocked  # the package is meant to leave some out (uvicorn, typer, rich, ...)
    script = textwrap.dedent(
        f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None  # importing it now raises ImportError
        from mintaka.schemas import ApiKeyCreate
        from mintaka_server import handlers
        from test_lambda_api_handler import call_api

        assert call_api("GET", "/api/health").status == 200
        key = handlers.get_container().app.state.service.api_keys.create(ApiKeyCreate(name="k")).key
        run = call_api("POST", "/api/flow_runs", json_body={{"flow_name": "etl"}}, key=key).json()
        for state in ("RUNNING", "COMPLETED"):
            answer = call_api("POST", f"/api/flow_runs/{{run['id']}}/set_state",
                              json_body={{"state": {{"type": state}}}}, key=key)
            assert answer.json()["status"] == "ACCEPT", answer.text
        assert call_api("GET", "/api/flow_runs", query={{"state_type": "COMPLETED"}}, key=key).status == 200
        assert call_api("GET", f"/api/flow_runs/{{run['id']}}", key=key).json()["state"]["type"] == "COMPLETED"
        print("SERVED")
        """
    )
    env = {**os.environ, "MINTAKA_HOME": str(tmp_path), "MINTAKA_STORE": "sqlite", "PYTHONPATH": str(HERE)}
    for name in ("MINTAKA_DATABASE", "MINTAKA_API_AUTH", "AWS_LAMBDA_FUNCTION_NAME"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SERVED" in out.stdout


@pytest.mark.slow  # a fresh interpreter
def test_on_lambda_server_errors_are_json_log_lines_with_the_request_id(tmp_path):
    """In a fresh process made to look like a Lambda container (tracing on, no X-Ray daemon
    around): an unexpected error answers a generic 500 and is logged as one JSON line that
    carries the API Gateway request id; the cold-start metric is published once."""
    script = textwrap.dedent(
        """
        import json
        from mintaka_server import handlers
        from test_lambda_api_handler import LambdaContext, http_api_event

        ok = handlers.api(http_api_event("GET", "/api/health"), LambdaContext())
        handlers.get_container().app.state.service.store.close()  # every query now fails
        event = http_api_event("GET", "/api/flows")
        failed = handlers.api(event, LambdaContext())
        print("RESULT " + json.dumps({"ok": ok, "failed": failed,
                                       "request_id": event["requestContext"]["requestId"]}))
        """
    )
    env = {
        **os.environ,
        "MINTAKA_HOME": str(tmp_path),
        "MINTAKA_STORE": "sqlite",
        "MINTAKA_API_AUTH": "false",
        "AWS_LAMBDA_FUNCTION_NAME": "mintaka-ApiFunction-AbC123",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("MINTAKA_DATABASE", None)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    assert result["ok"]["statusCode"] == 200
    assert result["failed"]["statusCode"] == 500
    assert "Traceback" not in result["failed"]["body"]

    records = [json.loads(line) for line in lines if line.startswith("{")]
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert errors, out.stdout
    assert errors[0]["correlation_id"] == result["request_id"]
    assert errors[0]["name"].startswith("mintaka_server")
    assert errors[0]["function_name"] == "mintaka-ApiFunction-AbC123"
    assert "Unhandled error in GET /api/flows" in errors[0]["message"]
    assert "exception" in errors[0]
    cold_starts = [r for r in records if "ColdStart" in r]
    assert len(cold_starts) == 1
