"""What a web page cannot make a keyless loopback API do, over real HTTP (uvicorn): a DNS-rebinding
`Host` is refused, cross-site writes (`text/plain`, a foreign `Origin`, bodiless) change nothing,
CORS answers only configured origins; and a real Chromium on another origin cannot pause a
deployment's schedule. The SDK and the dashboard still work."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from support.chromium import CHROMIUM, render

from mintaka.client.http import HttpTransport
from mintaka.deployment_schemas import DeploymentCreate
from mintaka.schemas import FlowRunFilter
from mintaka_server.api import create_app
from mintaka_server.api.browser_guard import allowed_hosts
from mintaka_server.server_settings import reset_server_settings
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
SCHEDULED = DeploymentCreate(
    flow_name="etl",
    name="prod",
    entrypoint="flows/etl.py:etl",
    storage={"type": "local", "url": "/srv/project"},
    schedules=[{"type": "interval", "interval_seconds": 3600}],
)


@dataclass
class Recorder:
    """Wraps the real app and notes each request that reached it (the guard still answers)."""

    app: object
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.seen.append((scope["method"], scope["path"], headers))
        await self.app(scope, receive, send)


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    port: int
    deployments: DeploymentService
    recorder: Recorder

    @property
    def api(self) -> str:
        return f"{self.base}/api"

    def paused(self) -> bool:
        return self.deployments.read_deployment("etl", "prod").schedule_paused

    def run_count(self) -> int:
        return len(self.deployments.orchestration.list_flow_runs(FlowRunFilter(limit=500)).items)


@pytest.fixture
def serve(tmp_path, serve_asgi):
    """`serve(**create_app_kwargs)`: a keyless API (as `mintaka server start` on loopback) with a
    scheduled deployment etl/prod, on its own port."""
    count = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(**kwargs) -> Server:
            store = SQLiteStore(tmp_path / f"mintaka-{next(count)}.db")
            stack.callback(store.close)
            deployments = DeploymentService(OrchestrationService(store))
            deployments.upsert_deployment(SCHEDULED)
            recorder = Recorder(create_app(deployments.orchestration, deployments=deployments, **kwargs))
            base = stack.enter_context(serve_asgi(recorder))
            return Server(base, int(base.rsplit(":", 1)[1]), deployments, recorder)

        yield start


@pytest.fixture
def server(serve) -> Server:
    return serve(require_api_key=False)


def test_a_rebinding_host_is_refused_and_writes_nothing(server):
    evil = {"Host": f"attacker.example:{server.port}"}
    refused = httpx.get(f"{server.api}/flow_runs", headers=evil)
    assert refused.status_code == 400
    assert "attacker.example" in refused.json()["detail"] and "MINTAKA_SERVER_ALLOWED_HOSTS" in refused.json()["detail"]
    wrote = httpx.post(f"{server.api}/flow_runs", json={"flow_name": "etl"}, headers=evil)
    assert wrote.status_code == 400
    paused = httpx.post(f"{server.api}/deployments/etl/prod/pause_schedule", headers={**evil, **JSON})
    assert paused.status_code == 400
    assert server.run_count() == 0 and not server.paused()
    for name in ("127.0.0.1", "localhost", "[::1]", "LOCALHOST."):
        ok = httpx.get(f"{server.api}/flow_runs", headers={"Host": f"{name}:{server.port}"})
        assert ok.status_code == 200, (name, ok.text)


def test_a_cross_site_text_plain_post_cannot_pause_a_schedule(server):
    url = f"{server.api}/deployments/etl/prod/pause_schedule"
    # What a page's <form enctype="text/plain"> or fetch(no-cors) sends, with and without an Origin.
    forged = httpx.post(url, content="x=1", headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert forged.status_code == 403 and "MINTAKA_SERVER_CORS_ORIGINS" in forged.json()["detail"]
    no_origin = httpx.post(url, content="x=1", headers={"Content-Type": "text/plain"})
    assert no_origin.status_code == 415 and "application/json" in no_origin.json()["detail"]
    bodiless = httpx.post(url)
    assert bodiless.status_code == 415
    form = httpx.post(f"{server.api}/flow_runs", data={"flow_name": "etl"})  # urlencoded
    assert form.status_code == 415
    assert not server.paused() and server.run_count() == 0

    # The SDK (and curl with a JSON content type) still can; so can the page's own origin.
    transport = HttpTransport(server.api, retries=0)
    try:
        assert transport.set_deployment_schedule_paused("etl", "prod", paused=True).schedule_paused
    finally:
        transport.close()
    assert server.paused()
    own = httpx.post(f"{server.api}/deployments/etl/prod/resume_schedule", headers={**JSON, "Origin": server.base})
    assert own.status_code == 200 and not server.paused()


def test_a_foreign_origin_cannot_write_even_as_json(server):
    for origin in (
        "http://evil.example",
        "null",
        f"http://127.0.0.1:{server.port + 1}",
        f"https://localhost.evil:{server.port}",
    ):
        response = httpx.post(f"{server.api}/flow_runs", json={"flow_name": "etl"}, headers={"Origin": origin})
        assert response.status_code == 403, (origin, response.text)
        assert "access-control-allow-origin" not in response.headers
    assert server.run_count() == 0
    # Reads are not refused (a page cannot read the answer without CORS), nor given CORS headers.
    read = httpx.get(f"{server.api}/flow_runs", headers={"Origin": "http://evil.example"})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


def test_no_cors_by_default_and_only_for_configured_origins(serve):
    preflight = {
        "Origin": "https://ops.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    plain = serve(require_api_key=False)
    denied = httpx.options(f"{plain.api}/flow_runs", headers=preflight)
    assert "access-control-allow-origin" not in denied.headers

    server = serve(require_api_key=False, origins=["https://ops.example.com"])
    allowed = httpx.options(f"{server.api}/flow_runs", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    made = httpx.post(
        f"{server.api}/flow_runs", json={"flow_name": "etl"}, headers={"Origin": "https://ops.example.com"}
    )
    assert made.status_code == 201 and made.headers["access-control-allow-origin"] == "https://ops.example.com"
    other = httpx.options(f"{server.api}/flow_runs", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = httpx.post(
        f"{server.api}/flow_runs", json={"flow_name": "etl"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert server.run_count() == 1


def test_a_keyed_preflight_passes_the_key_check(serve):
    # A preflight carries no key; the CORS answer comes before the key check, the call after it.
    server = serve(require_api_key=True, origins=["https://ops.example.com"])
    preflight = {"Origin": "https://ops.example.com", "Access-Control-Request-Method": "GET"}
    assert httpx.options(f"{server.api}/flow_runs", headers=preflight).status_code == 200
    assert httpx.get(f"{server.api}/flow_runs", headers={"Origin": "https://ops.example.com"}).status_code == 401


@pytest.fixture
def server_settings(monkeypatch) -> Iterator[pytest.MonkeyPatch]:
    reset_server_settings()
    yield monkeypatch
    monkeypatch.delenv("MINTAKA_SERVER_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("MINTAKA_SERVER_CORS_ORIGINS", raising=False)
    reset_server_settings()


def test_the_settings_name_more_hosts_and_origins(serve, server_settings):
    server_settings.setenv("MINTAKA_SERVER_ALLOWED_HOSTS", "mintaka.internal, *.corp.example")
    server_settings.setenv("MINTAKA_SERVER_CORS_ORIGINS", "https://ops.example.com")
    reset_server_settings()
    server = serve(require_api_key=False)
    for host, status in [
        ("mintaka.internal", 200),
        ("api.corp.example", 200),
        ("localhost", 200),
        ("evil.example", 400),
    ]:
        assert httpx.get(f"{server.api}/flow_runs", headers={"Host": host}).status_code == status, host
    made = httpx.post(
        f"{server.api}/flow_runs", json={"flow_name": "etl"}, headers={"Origin": "https://ops.example.com"}
    )
    assert made.status_code == 201

    server_settings.setenv("MINTAKA_SERVER_ALLOWED_HOSTS", "*")
    reset_server_settings()
    anything = serve(require_api_key=False)
    assert httpx.get(f"{anything.api}/flow_runs", headers={"Host": "whatever.example"}).status_code == 200


def test_the_allow_list_of_a_server_and_of_lambda(server_settings):
    assert allowed_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "[::1]")
    assert allowed_hosts("10.0.0.5") == ("127.0.0.1", "localhost", "[::1]", "10.0.0.5")
    assert allowed_hosts("0.0.0.0") == allowed_hosts("::") == ("127.0.0.1", "localhost", "[::1]")
    assert allowed_hosts(default=("*",)) == ("*",)  # Lambda: API Gateway routes only its own domains
    server_settings.setenv("MINTAKA_SERVER_ALLOWED_HOSTS", "api.example.com")
    reset_server_settings()
    assert allowed_hosts(default=("*",)) == ("127.0.0.1", "localhost", "[::1]", "api.example.com")


ATTACK_PAGE = """<!doctype html><html><body><p id="out">pending</p><script>
const api = "{api}";
const plain = {{ method: "POST", mode: "no-cors", headers: {{ "Content-Type": "text/plain" }} }};
Promise.allSettled([
  fetch(api + "/deployments/etl/prod/pause_schedule", {{ ...plain, body: "pause" }}),
  fetch(api + "/flow_runs", {{ ...plain, body: JSON.stringify({{ flow_name: "etl" }}) }}),
  fetch(api + "/deployments/etl/prod/pause_schedule", {{ method: "POST", mode: "no-cors" }}),
]).then((results) => {{ document.getElementById("out").textContent = "sent " + results.length; }});
</script></body></html>"""


def attack_site(api: str):
    """An ASGI app serving the attacker's page (on its own origin: another port)."""
    page = ATTACK_PAGE.format(api=api).encode()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": page})

    return app


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_page_on_another_origin_in_chromium_changes_nothing(server, serve_asgi):
    with serve_asgi(attack_site(server.api)) as attacker:
        html = render(f"{attacker}/")
    assert "sent 3" in html  # the page ran its fetches to the end
    arrived = [(m, p, h) for m, p, h in server.recorder.seen if m == "POST"]
    assert len(arrived) == 3, server.recorder.seen  # Chromium sent them; the guard refused them
    assert all(h.get("origin") == attacker for _, _, h in arrived)
    assert not server.paused() and server.run_count() == 0


def test_the_cli_server_on_loopback_refuses_rebinding_and_forged_writes(start_cli_server):
    server = start_cli_server()  # `mintaka server start --host 127.0.0.1`: no keys
    port = server.url.split(":")[2].split("/")[0]
    assert httpx.get(f"{server.url}/flow_runs", headers={"Host": f"rebind.attacker.example:{port}"}).status_code == 400
    forged = httpx.post(
        f"{server.url}/flow_runs", content='{"flow_name": "etl"}', headers={"Content-Type": "text/plain"}
    )
    assert forged.status_code == 415
    assert httpx.get(f"{server.url}/flow_runs").json()["items"] == []
    assert httpx.post(f"{server.url}/flow_runs", json={"flow_name": "etl"}).status_code == 201
