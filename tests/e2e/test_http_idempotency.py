"""A flow-run create whose answer is lost is retried under the same idempotency key: the server
made the run once, and the retry gets that run back instead of making a second one."""

from __future__ import annotations

import pytest

from mintaka.client.http import HttpTransport
from mintaka.schemas import FlowRunCreate, FlowRunFilter
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow


class LoseFirstAnswer:
    """ASGI wrapper: the first flow-run create reaches the app (the run is written), but the
    client gets a 503 instead of the app's answer, as if a proxy dropped it."""

    def __init__(self, app):
        self.app = app
        self.creates: list[bytes] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or (scope["method"], scope["path"]) != ("POST", "/api/flow_runs"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.creates.append(body)

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        if len(self.creates) > 1:
            await self.app(scope, replay, send)
            return

        async def discard(message):
            pass

        await self.app(scope, replay, discard)
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"detail": "answer lost"}'})


def test_a_retried_create_makes_one_run(mintaka_home, serve_asgi):
    store = SQLiteStore(mintaka_home / "mintaka.db")
    service = OrchestrationService(store)
    app = LoseFirstAnswer(create_app(service))
    with serve_asgi(app) as base:
        transport = HttpTransport(f"{base}/api", retries=2, backoff_seconds=0.01)
        run = transport.create_flow_run(FlowRunCreate(flow_name="etl"))  # no key given: the transport adds one
        transport.close()
    assert len(app.creates) == 2 and app.creates[0] == app.creates[1]  # the retry carried the same key
    assert [r.id for r in service.list_flow_runs(FlowRunFilter()).items] == [run.id]
    assert run.idempotency_key
    store.close()
