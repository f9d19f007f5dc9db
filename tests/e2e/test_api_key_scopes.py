"""API key scopes over real HTTP (uvicorn, keys required): `read` only reads, `write` runs and
reports flows, `admin` does the rest; `force=true` needs `admin`; a refused call writes nothing and
says which scope it needs; the CLI makes scoped keys; every route is in the one scope table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from deploy_support import EXAMPLE, spawn, wait_for  # noqa: F401 - spawn is a fixture
from fastapi.routing import APIRoute

from mintaka import flow, task
from mintaka.client import set_client
from mintaka.client.http import HttpTransport
from mintaka.exceptions import Unauthorized
from mintaka.schemas import ApiKeyCreate, FlowRunCreate, FlowRunFilter
from mintaka.states import StateType
from mintaka_server.api import create_app
from mintaka_server.api.routes import ROUTERS
from mintaka_server.api.scopes import ROUTE_SCOPES
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

DEPLOYMENT = {
    "flow_name": "etl",
    "name": "prod",
    "entrypoint": "flows/etl.py:etl",
    "storage": {"type": "local", "url": "/srv/project"},
}


@dataclass
class ScopedServer:
    url: str
    keys: dict[str, str]  # scope -> key
    service: OrchestrationService

    def call(self, scope: str, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[scope]}"}
        return httpx.request(method, f"{self.url}/{path}", json=body, headers=headers)

    def run_count(self) -> int:
        return len(self.service.list_flow_runs(FlowRunFilter(limit=500)).items)


@pytest.fixture
def server(mintaka_home, serve_asgi) -> Iterator[ScopedServer]:
    store = SQLiteStore(mintaka_home / "mintaka.db")
    service = OrchestrationService(store)
    keys = {s: service.create_api_key(ApiKeyCreate(name=s, scope=s)).key for s in ("read", "write", "admin")}
    with serve_asgi(create_app(service, require_api_key=True)) as base:
        yield ScopedServer(f"{base}/api", keys, service)
    store.close()


def assert_forbidden(response: httpx.Response, needed: str) -> None:
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert f"needs {needed!r}" in detail and f"--scope {needed}" in detail


def test_each_scope_against_a_route_of_each_class(server):
    # read: every scope reads runs
    for scope in ("read", "write", "admin"):
        assert server.call(scope, "GET", "flow_runs").status_code == 200

    # write: creating and reporting runs, logs
    assert_forbidden(server.call("read", "POST", "flow_runs", {"flow_name": "etl"}), "write")
    assert server.run_count() == 0
    assert server.call("write", "POST", "flow_runs", {"flow_name": "etl"}).status_code == 201
    assert server.call("admin", "POST", "flow_runs", {"flow_name": "etl"}).status_code == 201
    log = [{"name": "x", "level": 20, "message": "hi", "timestamp": "2026-01-01T00:00:00Z"}]
    assert_forbidden(server.call("read", "POST", "logs", log), "write")

    # admin: keys, settings, limits, deployments, work queues
    for scope in ("read", "write"):
        assert_forbidden(server.call(scope, "POST", "api_keys", {"name": "sneaky", "scope": "admin"}), "admin")
        assert_forbidden(server.call(scope, "GET", "api_keys"), "admin")
        assert_forbidden(server.call(scope, "PUT", "settings/result-storage", {"url": "s3://b/p"}), "admin")
        assert_forbidden(server.call(scope, "POST", "concurrency_limits", {"tag": "db", "limit": 1}), "admin")
        assert_forbidden(server.call(scope, "POST", "deployments", DEPLOYMENT), "admin")
        assert_forbidden(server.call(scope, "POST", "work_queues", {"name": "gpu"}), "admin")
    assert [k.name for k in server.service.list_api_keys()] == ["read", "write", "admin"]
    assert server.service.read_result_storage() is None and server.service.list_concurrency_limits() == []
    assert server.call("admin", "GET", "deployments").json() == []

    assert server.call("admin", "POST", "concurrency_limits", {"tag": "db", "limit": 1}).status_code == 201
    assert server.call("admin", "POST", "deployments", DEPLOYMENT).status_code == 200
    assert server.call("admin", "POST", "api_keys", {"name": "ci"}).json()["scope"] == "write"
    # ... and a write key runs the deployment (run_deployment from a flow), a read key cannot
    assert server.call("write", "POST", "deployments/etl/prod/runs", {}).status_code == 201
    assert_forbidden(server.call("read", "POST", "deployments/etl/prod/runs", {}), "write")
    assert_forbidden(server.call("write", "POST", "deployments/etl/prod/pause_schedule"), "admin")


def test_force_needs_an_admin_key(server):
    run = server.call("write", "POST", "flow_runs", {"flow_name": "etl"}).json()
    states = f"flow_runs/{run['id']}/set_state"
    for state in ("RUNNING", "COMPLETED"):
        assert server.call("write", "POST", states, {"state": {"type": state}}).json()["status"] == "ACCEPT"

    back = {"state": {"type": "RUNNING"}, "force": True}
    assert_forbidden(server.call("write", "POST", states, back), "admin")
    assert_forbidden(server.call("read", "POST", states, back), "write")
    assert server.service.read_flow_run(run["id"]).state.type is StateType.COMPLETED
    assert len(server.service.read_flow_run_states(run["id"])) == 3  # PENDING, RUNNING, COMPLETED

    forced = server.call("admin", "POST", states, back)
    assert forced.status_code == 200 and forced.json()["status"] == "ACCEPT"
    assert server.service.read_flow_run(run["id"]).state.type is StateType.RUNNING

    task_run = server.call("write", "POST", "task_runs", {"flow_run_id": run["id"], "task_key": "t"}).json()
    task_states = f"task_runs/{task_run['id']}/set_state"
    assert_forbidden(
        server.call("write", "POST", task_states, {"state": {"type": "COMPLETED"}, "force": True}), "admin"
    )
    assert server.service.read_task_run(task_run["id"]).state.type is StateType.PENDING


def test_the_sdk_runs_a_flow_with_a_write_key_and_a_read_key_is_refused(server):
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def pipeline(n: int) -> int:
        return sum(double.map(range(n)).result())

    transport = HttpTransport(server.url, api_key=server.keys["write"], timeout=10)
    previous = set_client(transport)
    try:
        assert pipeline(3) == 6
    finally:
        set_client(previous)
        transport.close()
    [run] = server.service.list_flow_runs(FlowRunFilter()).items
    assert run.state.type is StateType.COMPLETED

    reader = HttpTransport(server.url, api_key=server.keys["read"], retries=0)
    try:
        assert len(reader.list_flow_runs(FlowRunFilter()).items) == 1
        with pytest.raises(Unauthorized, match="needs 'write'"):
            reader.create_flow_run(FlowRunCreate(flow_name="etl"))
    finally:
        reader.close()
    assert server.run_count() == 1


def test_the_cli_creates_scoped_keys(server, run_cli):
    # With no API URL the CLI works on the server's store (as `--store sqlite` would).
    made = run_cli("api-key", "create", "viewer", "--scope", "read", "--json")
    assert made.returncode == 0, made.stderr
    viewer = json.loads(made.stdout)
    assert viewer["scope"] == "read"
    headers = {"Authorization": f"Bearer {viewer['key']}"}
    assert httpx.get(f"{server.url}/flow_runs", headers=headers).status_code == 200
    assert_forbidden(httpx.post(f"{server.url}/flow_runs", json={"flow_name": "etl"}, headers=headers), "write")

    default = json.loads(run_cli("api-key", "create", "ci", "--json").stdout)
    assert default["scope"] == "write"
    assert run_cli("config", "set", "api_key", server.keys["write"]).returncode == 0
    through_api = run_cli("api-key", "create", "ops", "--scope", "admin", api_url=server.url)
    assert through_api.returncode == 1 and "needs 'admin'" in through_api.stderr
    assert "Traceback" not in through_api.stderr
    assert run_cli("config", "set", "api_key", server.keys["admin"]).returncode == 0
    through_api = run_cli("api-key", "create", "ops", "--scope", "admin", api_url=server.url)
    assert through_api.returncode == 0 and "scope admin" in through_api.stdout

    table = run_cli("api-key", "ls", api_url=server.url).stdout
    assert "Scope" in table and "viewer" in table
    rows = {r["name"]: r["scope"] for r in json.loads(run_cli("api-key", "ls", "--json", api_url=server.url).stdout)}
    assert rows == {"read": "read", "write": "write", "admin": "admin", "viewer": "read", "ci": "write", "ops": "admin"}

    bad = run_cli("api-key", "create", "root", "--scope", "root")
    assert bad.returncode == 2 and "root" in bad.stderr and "Traceback" not in bad.stderr


def test_every_route_is_in_the_scope_table():
    declared = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert len(declared) > 40
    writes = {(m, p) for m, p in declared if m not in ("GET", "HEAD")}
    assert writes <= set(ROUTE_SCOPES), f"classify these in mintaka_server/api/scopes.py: {writes - set(ROUTE_SCOPES)}"
    assert set(ROUTE_SCOPES) <= declared, f"no such routes: {set(ROUTE_SCOPES) - declared}"


def test_a_worker_with_a_write_key_runs_what_an_admin_deployed(server, run_cli, spawn):  # noqa: F811
    assert run_cli("config", "set", "api_key", server.keys["admin"]).returncode == 0  # the operator's profile
    for args in (
        ["work-queue", "create", "scoped"],
        ["deploy", f"{EXAMPLE}:greet", "--name", "w", "--queue", "scoped"],
    ):
        made = run_cli(*args, api_url=server.url)
        assert made.returncode == 0, made.stderr

    worker_env = {"MINTAKA_API_KEY": server.keys["write"]}  # wins over the profile
    worker = spawn("worker", "start", "--queue", "scoped", "--poll-interval", "0.5", api_url=server.url, env=worker_env)
    run = server.call("write", "POST", "deployments/greet/w/runs", {"parameters": {"name": "Scoped"}}).json()
    final = wait_for(
        lambda: (state := server.service.read_flow_run(run["id"]).state).is_final() and state,
        90,
        what=lambda: f"the run to finish: {worker.output()}",
    )
    assert final.type is StateType.COMPLETED, worker.output()
    assert "refused the key" not in worker.output()  # no call of the worker or its flow needed more than write
