"""Who may call the API, over real HTTP (uvicorn with API keys required): no key, a wrong key and
a revoked key get 401 and write nothing; health and docs stay public; the SDK and the CLI work
with a key; the store holds only hashes."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mintaka.client import set_client
from mintaka.client.http import HttpTransport
from mintaka.exceptions import Unauthorized
from mintaka.schemas import ApiKeyCreate, FlowRunCreate, FlowRunFilter
from mintaka.states import StateType
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.services.api_keys import CACHE_SECONDS
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow


@dataclass
class AuthServer:
    url: str  # http://127.0.0.1:PORT/api
    key: str  # a live key, made on the store before the server started
    service: OrchestrationService
    database: Path

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture
def auth_server(mintaka_home, serve_asgi) -> Iterator[AuthServer]:
    database = mintaka_home / "mintaka.db"
    store = SQLiteStore(database)
    service = OrchestrationService(store)
    admin = service.create_api_key(ApiKeyCreate(name="admin", scope="admin"))
    with serve_asgi(create_app(service, require_api_key=True)) as base:
        yield AuthServer(url=f"{base}/api", key=admin.key, service=service, database=database)
    store.close()


def run_count(server: AuthServer) -> int:
    return len(server.service.list_flow_runs(FlowRunFilter(limit=500)).items)


def assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert detail in response.json()["detail"]


def test_health_and_docs_are_public(auth_server):
    base = auth_server.url
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    openapi = httpx.get(f"{base}/openapi.json").json()
    assert "ApiKey" in openapi["components"]["securitySchemes"]
    assert openapi["paths"]["/api/flow_runs"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in openapi["paths"]["/api/health"]["get"]
    assert httpx.get(f"{base}/docs").status_code == 200


def test_no_key_is_401_on_every_other_route_and_writes_nothing(auth_server):
    base = auth_server.url
    for method, path, body in [
        ("GET", "flow_runs", None),
        ("POST", "flow_runs", {"flow_name": "etl"}),
        ("POST", "flow_runs", b"{not json"),  # refused before the body is read
        ("POST", "api_keys", {"name": "sneaky"}),
        ("PUT", "settings/result-storage", {"url": "s3://b/p"}),
        ("GET", "no/such/route", None),
    ]:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        json_type = {"Content-Type": "application/json"}  # else the browser guard refuses it first (415)
        assert_refused(httpx.request(method, f"{base}/{path}", headers=json_type, **kwargs), "API key is required")
        basic = httpx.request(method, f"{base}/{path}", headers={"Authorization": "Basic YTpi"}, **kwargs)
        assert_refused(basic, "API key is required")
    assert run_count(auth_server) == 0
    assert [k.name for k in auth_server.service.list_api_keys()] == ["admin"]
    assert auth_server.service.read_result_storage() is None


def test_wrong_keys_are_401(auth_server):
    base = auth_server.url
    key_id = auth_server.key.split("_")[1]
    for wrong in [f"mk_{key_id}_not-the-secret", "mk_000000000000_x", "garbage", auth_server.key + "x"]:
        response = httpx.post(f"{base}/flow_runs", json={"flow_name": "etl"}, headers=auth_server.headers(wrong))
        assert_refused(response, "invalid or revoked")
    assert run_count(auth_server) == 0


def test_a_valid_key_is_let_through(auth_server):
    response = httpx.post(f"{auth_server.url}/flow_runs", json={"flow_name": "etl"}, headers=auth_server.headers())
    assert response.status_code == 201, response.text
    assert httpx.get(f"{auth_server.url}/flow_runs", headers=auth_server.headers()).status_code == 200
    assert run_count(auth_server) == 1


def test_a_revoked_key_is_401_at_once_and_writes_nothing(auth_server):
    base, admin = auth_server.url, auth_server.headers()
    created = httpx.post(f"{base}/api_keys", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201, created.text
    ci = created.json()
    assert ci["key"].startswith(f"mk_{ci['id']}_") and ci["revoked"] is None
    ci_headers = auth_server.headers(ci["key"])
    assert httpx.post(f"{base}/flow_runs", json={"flow_name": "etl"}, headers=ci_headers).status_code == 201

    assert httpx.delete(f"{base}/api_keys/{ci['id']}", headers=admin).status_code == 204
    listed = httpx.get(f"{base}/api_keys", headers=admin).json()
    assert [(k["name"], k["revoked"] is not None) for k in listed] == [("admin", False), ("ci", True)]
    assert all("key" not in k and "secret_hash" not in k for k in listed)

    for method, path, body in [
        ("POST", "flow_runs", {"flow_name": "etl"}),
        ("POST", "api_keys", {"name": "again"}),
        ("DELETE", "api_keys/" + auth_server.key.split("_")[1], None),
        ("GET", "flow_runs", None),
    ]:
        assert_refused(httpx.request(method, f"{base}/{path}", json=body, headers=ci_headers), "invalid or revoked")
    assert run_count(auth_server) == 1
    assert httpx.get(f"{base}/api_keys", headers=admin).json() == listed  # unchanged; admin still live
    missing = httpx.delete(f"{base}/api_keys/000000000000", headers=admin)
    assert missing.status_code == 404 and "No API key" in missing.json()["detail"]


def test_keys_are_stored_as_hashes_only(auth_server):
    created = httpx.post(f"{auth_server.url}/api_keys", json={"name": "ci"}, headers=auth_server.headers()).json()
    secrets = [created["key"].split("_", 2)[2], auth_server.key.split("_", 2)[2]]
    with contextlib.closing(sqlite3.connect(auth_server.database)) as db:
        dump = "\n".join(db.iterdump())
    assert "mk_" not in dump and not any(secret in dump for secret in secrets)
    assert {record.id for record in auth_server.service.store.list_api_keys()} == {
        created["id"],
        auth_server.key.split("_")[1],
    }


def test_the_sdk_runs_a_flow_over_http_with_its_key(auth_server):
    from mintaka import flow, task

    @task(persist_result=True)
    def double(x: int) -> int:
        return 2 * x

    @flow
    def pipeline(n: int) -> int:
        return sum(double.map(range(n)).result())

    transport = HttpTransport(auth_server.url, api_key=auth_server.key, timeout=10)
    previous = set_client(transport)
    try:
        state = pipeline(4, return_state=True)
    finally:
        set_client(previous)
        transport.close()
    assert state.result() == 12
    [run] = auth_server.service.list_flow_runs(FlowRunFilter()).items
    assert run.state.type is StateType.COMPLETED
    assert run.idempotency_key  # the HTTP transport keys every create, so a retry cannot make two runs
    assert len(auth_server.service.read_flow_run_detail(run.id).task_runs) == 4


def test_the_sdk_without_a_key_gets_a_clear_error(auth_server):
    for key in (None, "mk_000000000000_wrong"):
        transport = HttpTransport(auth_server.url, api_key=key, retries=0)
        with pytest.raises(Unauthorized, match=r"refused the key \(401: .*MINTAKA_API_KEY.*mintaka config set api_key"):
            transport.create_flow_run(FlowRunCreate(flow_name="etl"))
        transport.close()
    assert run_count(auth_server) == 0


def test_cli_bootstraps_a_key_on_the_store_then_manages_keys_over_http(auth_server, run_cli):
    # No API URL: the CLI works on the embedded store (the server's), which needs no key.
    boot = run_cli("api-key", "create", "boot", "--scope", "admin", "--json")
    assert boot.returncode == 0, boot.stderr
    boot_key = json.loads(boot.stdout)["key"]
    assert httpx.get(f"{auth_server.url}/flow_runs", headers=auth_server.headers(boot_key)).status_code == 200

    url = auth_server.url
    refused = run_cli("api-key", "ls", api_url=url)
    assert refused.returncode == 1 and "MINTAKA_API_KEY" in refused.stderr and "Traceback" not in refused.stderr

    assert run_cli("config", "set", "api_key", boot_key).returncode == 0  # the profile carries the key
    made = run_cli("api-key", "create", "ci", api_url=url)
    assert made.returncode == 0, made.stderr
    assert "not shown again" in made.stdout
    ci_key = made.stdout.strip().splitlines()[-1]
    assert ci_key.startswith("mk_")
    assert httpx.get(f"{url}/flow_runs", headers=auth_server.headers(ci_key)).status_code == 200

    listed = run_cli("api-key", "ls", "--json", api_url=url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["admin", "boot", "ci"] and all("key" not in r for r in rows)
    table = run_cli("api-key", "ls", api_url=url)
    assert "ci" in table.stdout and ci_key not in table.stdout

    ci_id = ci_key.split("_")[1]
    revoked = run_cli("api-key", "revoke", ci_id, api_url=url)
    assert revoked.returncode == 0, revoked.stderr
    assert_refused(httpx.get(f"{url}/flow_runs", headers=auth_server.headers(ci_key)), "invalid or revoked")
    unknown = run_cli("api-key", "revoke", "000000000000", api_url=url)
    assert unknown.returncode == 1 and "No API key" in unknown.stderr

    # --store works on the store directly even with an API URL set (the way back in when locked out).
    # Revoked by another process, the key is refused once the server's short key cache expires.
    direct = run_cli("api-key", "revoke", boot_key, "--store", "sqlite", api_url=url)  # the whole key works too
    assert direct.returncode == 0, direct.stderr
    deadline = time.monotonic() + CACHE_SECONDS + 1
    while (response := httpx.get(f"{url}/flow_runs", headers=auth_server.headers(boot_key))).status_code == 200:
        assert time.monotonic() < deadline, "a key revoked elsewhere must be refused within the cache window"
        time.sleep(0.2)
    assert_refused(response, "invalid or revoked")
    rows = json.loads(run_cli("api-key", "ls", "--json", "--store", "sqlite").stdout)
    assert [(r["name"], r["revoked"] is not None) for r in rows] == [("admin", False), ("boot", True), ("ci", True)]


def test_cli_server_requires_keys_when_the_setting_says_so(mintaka_home, run_cli, start_cli_server):
    # On loopback keys are off by default; MINTAKA_API_AUTH (here from the profile) turns them on.
    assert run_cli("config", "set", "api_auth", "true").returncode == 0
    key = json.loads(run_cli("api-key", "create", "ops", "--json").stdout)["key"]
    server = start_cli_server()
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert_refused(httpx.get(f"{server.url}/flow_runs"), "API key is required")
    assert httpx.get(f"{server.url}/flow_runs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("10.0.0.5", False)],
)
def test_server_start_requires_keys_off_loopback_by_default(host, loopback):
    from mintaka.cli.server import _is_loopback

    assert _is_loopback(host) is loopback
