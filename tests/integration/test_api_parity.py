"""One API, declared once (`mintaka.client.operations`), held to it everywhere: every operation
is a route in the app's OpenAPI with the table's request and response schemas, refused (403)
to a key below the table's scope and not to one with it; the HTTP transport calls exactly that
method and route (every operation called against the real app in-process, on a real SQLite
file) and reads its answer; the embedded transport answers the same calls with the same types;
and every other /api route is a declared UI-only or public one."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pydantic import TypeAdapter
from support.servers import LOCAL

from mintaka.batch_schemas import TaskRunReports, TaskRunStarted
from mintaka.client import MintakaClient
from mintaka.client.embedded import EmbeddedTransport
from mintaka.client.http import HttpTransport
from mintaka.client.operations import COMPOSITE, OPERATIONS, OPS, Operation
from mintaka.deployment_schemas import (
    CodeStorage,
    DeploymentCreate,
    DeploymentRunCreate,
    EventCreate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from mintaka.schemas import (
    ApiKeyCreate,
    ApiKeyScope,
    ConcurrencyLimitCreate,
    FlowCreate,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunResume,
    LogCreate,
    ResultStorageSetting,
    RetryPolicySet,
    SetStateRequest,
    TaskRunCreate,
)
from mintaka.states import Pending, Running
from mintaka_server.api import create_app
from mintaka_server.api.scopes import required_scope
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Routes under /api that no client method calls: the dashboard's reads and saved views, the
# health check, the docs. (method, path as in OpenAPI, without the /api prefix)
UI_ONLY_ROUTES = frozenset({
    ("GET", "/flow_runs/stats"),
    ("GET", "/flow_runs/upcoming"),
    ("GET", "/flows/summary"),
    ("GET", "/task_runs/{run_id}/logs"),
    ("GET", "/work_queue_status"),
    ("GET", "/deployments/{flow_name}/{name}/schedule"),
    ("POST", "/flow_runs/{run_id}/retry"),
    ("GET", "/saved_views"),
    ("PUT", "/saved_views/{name}"),
    ("DELETE", "/saved_views/{name}"),
})  # fmt: skip
PUBLIC_ROUTES = frozenset({("GET", "/health")})

_DROPPED = frozenset({"title", "description", "examples", "default"})


# -- the table and the client protocol


def test_the_table_names_every_client_method_once():
    served = {name for name in OPS if not any(name in parts for parts in COMPOSITE.values())} | set(COMPOSITE)
    assert served == set(MintakaClient.__abstractmethods__)
    assert len(OPS) == len(OPERATIONS), "an operation is declared twice"
    assert len({(op.method, op.path) for op in OPERATIONS}) == len(OPERATIONS), "two operations share a route"


def test_a_path_parameter_is_one_encoded_segment():
    op = OPS["set_retry_policy"]
    assert op.parameters == ("scope", "name")
    assert op.url(scope="tag", name="team/a b?#") == "retry_policies/tag/team%2Fa%20b%3F%23"
    with pytest.raises(TypeError, match="scope"):
        op.url(name="x")


# -- the server: OpenAPI and scopes


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict[str, Any]:
    store = SQLiteStore(tmp_path_factory.mktemp("openapi") / "mintaka.db")
    try:
        return create_app(OrchestrationService(store), require_api_key=True).openapi()
    finally:
        store.close()


def _openapi_path(op: Operation) -> str:
    return "/api" + op.path.replace(":path", "")


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with every $ref replaced by its definition, without titles, descriptions,
    examples and defaults (FastAPI and pydantic write those differently), numbers as floats."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        return {k: _inline(v, definitions) for k, v in node.items() if k not in _DROPPED or k == "properties"}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    if isinstance(node, str) and node.startswith(("#/$defs/", "#/components/schemas/")):
        return node.rsplit("/", 1)[1]  # a discriminator's mapping
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    return node


def _table_schema(tp: Any, mode: str) -> Any:
    schema = TypeAdapter(tp).json_schema(mode=mode)
    definitions = schema.pop("$defs", {})
    return _inline(schema, definitions)


def _answers(api: Any, table: Any, where: str = "") -> list[str]:
    """Where the API's response schema fails to give what the table's type reads: the same
    schema, except that an object may carry more properties (required or not) if the table's
    model ignores unknown ones."""
    if isinstance(api, dict) and isinstance(table, dict) and "properties" in table and "properties" in api:
        problems = []
        extra = set(api["properties"]) - set(table["properties"])
        if extra and table.get("additionalProperties") is False:
            problems.append(f"{where}: the API sends {sorted(extra)}, which the table's model forbids")
        for name, schema in table["properties"].items():
            if name not in api["properties"]:
                problems.append(f"{where}.{name}: missing from the API's answer")
            else:
                problems += _answers(api["properties"][name], schema, f"{where}.{name}")
        if missing := set(table.get("required", ())) - set(api.get("required", ())):
            problems.append(f"{where}: the API does not always send {sorted(missing)}")
        rest = {k for k in api.keys() | table.keys() if k not in ("properties", "required", "additionalProperties")}
        problems += [f"{where}.{k}: {api.get(k)!r} != {table.get(k)!r}" for k in rest if api.get(k) != table.get(k)]
        return problems
    if isinstance(api, dict) and isinstance(table, dict) and api.keys() == table.keys():
        return [p for k in api for p in _answers(api[k], table[k], f"{where}.{k}")]
    if isinstance(api, list) and isinstance(table, list) and len(api) == len(table):
        return [p for i, (a, t) in enumerate(zip(api, table, strict=True)) for p in _answers(a, t, f"{where}[{i}]")]
    return [] if api == table else [f"{where}: {api!r} != {table!r}"]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_the_openapi_document_declares_the_operation(op: Operation, openapi):
    item = openapi["paths"].get(_openapi_path(op), {}).get(op.method.lower())
    assert item is not None, f"no {op.method} {_openapi_path(op)} in the OpenAPI document"
    definitions = openapi["components"]["schemas"]
    params = {p["name"]: p["in"] for p in item.get("parameters", ())}
    assert {name for name, where in params.items() if where == "path"} == set(op.parameters)
    if op.query is not None:
        assert set(op.query.model_fields) <= {name for name, where in params.items() if where == "query"}

    body = item.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if op.request is None:
        assert body is None, "the route takes a body the table does not declare"
    else:
        assert body is not None, "the route takes no JSON body"
        assert _inline(body, definitions) == _table_schema(op.request, "validation")

    [(status, answer)] = [(code, r) for code, r in item["responses"].items() if code.startswith("2")]
    if op.response is None:
        assert status == "204" and "content" not in answer
    else:
        assert status in ("200", "201")
        schema = _inline(answer["content"]["application/json"]["schema"], definitions)
        assert _answers(schema, _table_schema(op.response, "serialization")) == []


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[tuple[TestClient, dict[ApiKeyScope, str]]]:
    """An app that requires API keys, and a key of each scope."""
    store = SQLiteStore(tmp_path_factory.mktemp("keyed") / "mintaka.db")
    service = OrchestrationService(store)
    keys = {scope: service.create_api_key(ApiKeyCreate(name=scope.value, scope=scope)).key for scope in ApiKeyScope}
    with TestClient(create_app(service, require_api_key=True), **LOCAL) as client:
        yield client, keys
    store.close()


_SAMPLE_PATH_VALUES = {"run_id": uuid.UUID(int=1), "scope": "tag", "key_id": "mk_nope"}


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_the_route_needs_the_table_s_scope(op: Operation, keyed):
    client, keys = keyed
    assert required_scope(op.method, op.path) is op.scope
    url = "/api/" + op.url(**{name: _SAMPLE_PATH_VALUES.get(name, "x") for name in op.parameters})
    body = None if op.request is None else ("[]" if op.name == "create_logs" else "{}")
    for scope in ApiKeyScope:
        headers = {"Authorization": f"Bearer {keys[scope]}"}
        status = client.request(op.method, url, content=body, headers=headers).status_code
        assert (status == 403) is (not scope.allows(op.scope)), f"{scope.value} key: {status}"


def test_every_api_route_is_an_operation_or_declared_ui_only_or_public(openapi):
    routes = {
        (method.upper(), path.removeprefix("/api"))
        for path, item in openapi["paths"].items()
        if path.startswith("/api/")
        for method in item
    }
    declared = {(op.method, op.path.replace(":path", "")) for op in OPERATIONS}
    assert routes - declared - UI_ONLY_ROUTES - PUBLIC_ROUTES == set(), "add these to the operation table"
    assert routes >= UI_ONLY_ROUTES | PUBLIC_ROUTES, "no longer routes"
    assert not declared & UI_ONLY_ROUTES


def test_each_operation_s_route_is_made_from_the_table(openapi):
    """The routes take their method and path from the table (`api.operation_routes.operation`),
    so the two cannot drift: each operation is one route, named after it (FastAPI's operation
    id is the route's name, path and method)."""
    ids = {
        (method.upper(), path): item.get("operationId")
        for path, methods in openapi["paths"].items()
        for method, item in methods.items()
    }
    for op in OPERATIONS:
        path = _openapi_path(op)
        expected = re.sub(r"\W", "_", f"{op.name}{path}") + "_" + op.method.lower()
        assert ids.get((op.method, path)) == expected, op.name


# -- the transports: every operation called


def _calls(client: MintakaClient) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(operation, the client call) for every operation, in an order where each finds what it
    needs (`ctx` carries ids between calls)."""
    ctx: dict[str, Any] = {}

    def keep(key: str, value: Any) -> Any:
        ctx[key] = value
        return value

    c = client
    yield "create_flow", lambda: c.create_flow(FlowCreate(name="etl"))
    yield "list_flows", c.list_flows
    yield "create_flow_run", lambda: keep("run", c.create_flow_run(FlowRunCreate(flow_name="etl")))
    yield "read_flow_run", lambda: c.read_flow_run(ctx["run"].id)
    yield "read_flow_run_detail", lambda: c.read_flow_run_detail(ctx["run"].id)
    yield "list_flow_runs", lambda: c.list_flow_runs(FlowRunFilter(flow_name="etl", limit=5))
    running = SetStateRequest(state=Running(idempotency_key="go"))
    yield "set_flow_run_state", lambda: c.set_flow_run_state(ctx["run"].id, running)
    yield "read_flow_run_states", lambda: c.read_flow_run_states(ctx["run"].id)
    yield "resume_flow_run", lambda: c.resume_flow_run(ctx["run"].id, FlowRunResume())  # not paused: ABORT
    yield "heartbeat_flow_run", lambda: c.heartbeat_flow_run(ctx["run"].id, 30.0)
    task = lambda: TaskRunCreate(flow_run_id=ctx["run"].id, task_key="t", dynamic_key="0")  # noqa: E731
    yield "create_task_run", lambda: keep("task", c.create_task_run(task()))
    yield "read_task_run", lambda: c.read_task_run(ctx["task"].id)
    yield "set_task_run_state", lambda: c.set_task_run_state(ctx["task"].id, SetStateRequest(state=Pending()))
    yield "read_task_run_states", lambda: c.read_task_run_states(ctx["task"].id)
    yield "heartbeat_task_run", lambda: c.heartbeat_task_run(ctx["task"].id, 30.0)
    started = lambda: TaskRunStarted(  # noqa: E731
        task_run=TaskRunCreate(
            id=uuid.uuid4(), flow_run_id=ctx["run"].id, task_key="t", dynamic_key="1", state=Running()
        )
    )
    reports = lambda: TaskRunReports(flow_run_id=ctx["run"].id, reports=[started()])  # noqa: E731
    yield "report_task_runs", lambda: c.report_task_runs(reports())
    yield "create_logs", lambda: c.create_logs([LogCreate(flow_run_id=ctx["run"].id, message="hi", id=uuid.uuid4())])
    yield "read_logs", lambda: c.read_logs(ctx["run"].id, limit=10, min_level=10, newest_first=True)
    yield "set_concurrency_limit", lambda: c.set_concurrency_limit(ConcurrencyLimitCreate(tag="db/main", limit=2))
    yield "read_concurrency_limit", lambda: c.read_concurrency_limit("db/main")
    yield "list_concurrency_limits", c.list_concurrency_limits
    yield "delete_concurrency_limit", lambda: c.delete_concurrency_limit("db/main")
    yield "create_api_key", lambda: keep("key", c.create_api_key(ApiKeyCreate(name="ci")))
    yield "list_api_keys", c.list_api_keys
    yield "revoke_api_key", lambda: c.revoke_api_key(ctx["key"].id)
    yield "set_retry_policy", lambda: c.set_retry_policy("tag", "team/a b", RetryPolicySet(retries=2))
    yield "read_retry_policy", lambda: c.read_retry_policy("tag", "team/a b")
    yield "list_retry_policies", c.list_retry_policies
    yield "delete_retry_policy", lambda: c.delete_retry_policy("tag", "team/a b")
    yield "set_result_storage", lambda: c.set_result_storage(ResultStorageSetting(url="s3://bucket/prefix"))
    yield "read_result_storage", c.read_result_storage
    yield "clear_result_storage", c.clear_result_storage
    yield "create_work_queue", lambda: c.create_work_queue(WorkQueueCreate(name="night shift"))
    yield "read_work_queue", lambda: c.read_work_queue("night shift")
    yield "list_work_queues", c.list_work_queues
    yield "update_work_queue", lambda: c.update_work_queue("night shift", WorkQueueUpdate(priority=2))
    deployment = DeploymentCreate(
        flow_name="etl",
        name="prod",
        entrypoint="flows/etl.py:etl",
        storage=CodeStorage(type="local", url="/srv/project"),
        work_queue_name="night shift",
        triggers=[{"match": {"source": ["s3"]}}],
    )
    yield "upsert_deployment", lambda: c.upsert_deployment(deployment)
    yield "read_deployment", lambda: c.read_deployment("etl", "prod")
    yield "list_deployments", c.list_deployments
    yield "pause_deployment_schedule", lambda: c.set_deployment_schedule_paused("etl", "prod", True)
    yield "resume_deployment_schedule", lambda: c.set_deployment_schedule_paused("etl", "prod", False)
    yield "create_deployment_run", lambda: c.create_deployment_run("etl", "prod", DeploymentRunCreate())
    yield "get_work_queue_runs", lambda: c.get_work_queue_runs("night shift", limit=5)
    yield "create_event", lambda: c.create_event(EventCreate(id="evt-1", source="s3"))
    yield "delete_deployment", lambda: c.delete_deployment("etl", "prod")


def _shape(value: Any) -> Any:
    """The answer's types: what both transports must agree on."""
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


@pytest.fixture
def app(tmp_path):
    store = SQLiteStore(tmp_path / "served.db")
    yield create_app(OrchestrationService(store))
    store.close()


@pytest.fixture
def http(app) -> Iterator[tuple[HttpTransport, list[tuple[str, str, set[str]]]]]:
    """The HTTP transport, its requests served by the app in-process; each request recorded as
    (method, the path of the route that served it, the query parameters' names)."""
    served: list[tuple[str, str, set[str]]] = []

    async def recording(scope, receive, send):
        await app(scope, receive, send)
        if scope["type"] == "http":
            route = scope.get("route")
            query = {name for name, _ in parse_qsl(scope["query_string"].decode(), keep_blank_values=True)}
            served.append((scope["method"], getattr(route, "path", "(no route)"), query))

    transport = HttpTransport("http://localhost/api", retries=0)
    transport._http.close()
    with TestClient(recording, base_url=transport.api_url + "/", headers=dict(transport._http.headers)) as client:
        transport._http = client
        yield transport, served


def test_the_http_transport_calls_each_operation_s_route_and_reads_its_answer(http, openapi):
    transport, served = http
    answers = {}
    for name, call in _calls(transport):
        op = OPS[name]
        served.clear()
        answer = call()
        assert [(method, path) for method, path, _ in served] == [(op.method, op.path)], name
        item = openapi["paths"][_openapi_path(op)][op.method.lower()]
        declared = {p["name"] for p in item.get("parameters", ()) if p["in"] == "query"}
        sent = served[0][2]
        assert sent <= declared, f"{name} sends query parameters the route does not take: {sent - declared}"
        TypeAdapter(op.response if op.response is not None else type(None)).validate_python(answer)
        answers[name] = _shape(answer)
    assert set(answers) == set(OPS)


def test_the_embedded_transport_answers_every_operation_as_the_http_transport_does(tmp_path, http):
    transport, _ = http
    over_http = {name: _shape(call()) for name, call in _calls(transport)}
    embedded = EmbeddedTransport(tmp_path / "embedded.db")
    try:
        for name in MintakaClient.__abstractmethods__:
            assert name in vars(EmbeddedTransport), f"the embedded transport does not implement {name}"
        in_process = {name: _shape(call()) for name, call in _calls(embedded)}
    finally:
        embedded.close()
    assert in_process == over_http
