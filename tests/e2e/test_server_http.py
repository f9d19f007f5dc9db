"""The SDK's HTTP transport against real servers: uvicorn in a thread, and `mintaka server start`
as a subprocess. Same answers as the embedded transport, errors mapped to domain exceptions,
retries only where repeating a call is safe."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest

from mintaka.client import get_client
from mintaka.client.embedded import EmbeddedTransport
from mintaka.client.http import HttpTransport
from mintaka.exceptions import ApiUnavailable, InvalidRequest, ObjectNotFound
from mintaka.schemas import (
    ConcurrencyLimitCreate,
    FlowCreate,
    FlowRunCreate,
    FlowRunFilter,
    LogCreate,
    SetStateRequest,
    TaskRunCreate,
)
from mintaka.settings import reset_settings
from mintaka.states import Completed, Failed, Running, StateType

pytestmark = pytest.mark.slow


@pytest.fixture
def client(live_server):
    transport = HttpTransport(live_server.url, timeout=10)
    yield transport
    transport.close()


def move(client, run_id, *states, kind="flow_run"):
    setter = client.set_flow_run_state if kind == "flow_run" else client.set_task_run_state
    return [setter(run_id, SetStateRequest(state=state)) for state in states]


def test_flow_run_lifecycle_over_http(client):
    run = client.create_flow_run(FlowRunCreate(flow_name="etl", parameters={"n": 1}, tags=["nightly"]))
    assert run.state.type is StateType.PENDING
    answers = move(client, run.id, Running(), Completed(message="done"))
    assert [a.status for a in answers] == ["ACCEPT", "ACCEPT"]

    detail = client.read_flow_run_detail(run.id)
    assert [s.type for s in detail.states] == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
    assert detail.state.message == "done"
    assert client.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert [s.id for s in client.read_flow_run_states(run.id)] == [s.id for s in detail.states]
    assert move(client, run.id, Running())[0].status == "REJECT"  # terminal is final
    assert [f.name for f in client.list_flows()] == ["etl"]
    assert client.create_flow(FlowCreate(name="etl")).id == client.list_flows()[0].id


def test_task_runs_and_logs_over_http(client):
    run = client.create_flow_run(FlowRunCreate(flow_name="etl"))
    move(client, run.id, Running())
    task = client.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="extract"))
    assert client.create_task_run(TaskRunCreate(flow_run_id=run.id, task_key="extract")).id == task.id
    move(client, task.id, Running(), Failed(name="Expected Failure", message="no rows"), kind="task_run")
    read = client.read_task_run(task.id)
    assert (read.state.type, read.state.name) == (StateType.FAILED, "Expected Failure")
    assert [s.type for s in client.read_task_run_states(task.id)][-1] is StateType.FAILED
    assert [t.id for t in client.read_flow_run_detail(run.id).task_runs] == [task.id]

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    client.create_logs(
        [LogCreate(flow_run_id=run.id, message=f"m{i}", timestamp=t0 + dt.timedelta(seconds=i)) for i in range(4)]
    )
    client.create_logs([])  # nothing to send: no request
    assert [log.message for log in client.read_logs(run.id)] == ["m0", "m1", "m2", "m3"]
    assert [log.message for log in client.read_logs(run.id, limit=2, offset=2)] == ["m2", "m3"]


def test_filters_and_pagination_over_http(client):
    runs = [
        client.create_flow_run(FlowRunCreate(flow_name="a" if i % 2 else "b", tags=["t"] if i % 3 == 0 else []))
        for i in range(12)
    ]
    move(client, runs[0].id, Running())
    newest_first = [r.id for r in runs[::-1]]
    everything = client.list_flow_runs(FlowRunFilter(limit=500)).items
    assert sorted(r.id for r in everything) == sorted(newest_first)

    seen, cursor = [], None
    while True:
        page = client.list_flow_runs(FlowRunFilter(limit=5, cursor=cursor))
        seen += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [r.id for r in everything]

    assert {r.flow_name for r in client.list_flow_runs(FlowRunFilter(flow_name="a")).items} == {"a"}
    assert len(client.list_flow_runs(FlowRunFilter(flow_name="a")).items) == 6
    assert [r.id for r in client.list_flow_runs(FlowRunFilter(state_type=StateType.RUNNING)).items] == [runs[0].id]
    assert {r.id for r in client.list_flow_runs(FlowRunFilter(tag="t")).items} == {
        r.id for i, r in enumerate(runs) if i % 3 == 0
    }
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert client.list_flow_runs(FlowRunFilter(since=future)).items == []
    assert len(client.list_flow_runs(FlowRunFilter(until=future, limit=500)).items) == 12


def test_concurrency_limits_over_http(client):
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="db", limit=2))
    client.set_concurrency_limit(ConcurrencyLimitCreate(tag="a/b c", limit=1))  # odd tags survive the URL
    assert client.read_concurrency_limit("db").limit == 2
    assert client.read_concurrency_limit("a/b c").limit == 1
    assert [x.tag for x in client.list_concurrency_limits()] == ["a/b c", "db"]
    client.delete_concurrency_limit("a/b c")
    with pytest.raises(ObjectNotFound, match="a/b c"):
        client.read_concurrency_limit("a/b c")
    with pytest.raises(ObjectNotFound):
        client.delete_concurrency_limit("a/b c")


def test_server_errors_become_domain_exceptions(client):
    missing = uuid.uuid4()
    with pytest.raises(ObjectNotFound, match=str(missing)):
        client.read_flow_run_detail(missing)
    with pytest.raises(ObjectNotFound, match=str(missing)):
        client.set_task_run_state(missing, SetStateRequest(state=Running()))
    with pytest.raises(InvalidRequest, match="cursor"):
        client.list_flow_runs(FlowRunFilter(cursor="garbage"))
    # A body the client would refuse to build, sent anyway: the server names the field.
    with pytest.raises(InvalidRequest, match=r"body\.flow_name"):
        client.create_flow_run(FlowRunCreate.model_construct(flow_name="", tags=[]))
    assert client.list_flow_runs(FlowRunFilter()).items == []


def test_one_transport_shared_by_threads(client):
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(5):
                run = client.create_flow_run(FlowRunCreate(flow_name="parallel"))
                move(client, run.id, Running(), Completed())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    page = client.list_flow_runs(FlowRunFilter(flow_name="parallel", state_type=StateType.COMPLETED, limit=500))
    assert len(page.items) == 30


def test_closed_port_is_api_unavailable(closed_port_url):
    url = closed_port_url
    transport = HttpTransport(url, retries=2, backoff_seconds=0.01)
    with pytest.raises(ApiUnavailable, match=f"Cannot reach the Mintaka API at URL: {url}"):
        transport.list_flows()
    transport.close()


def test_url_without_api_prefix_gets_a_hint(live_server):
    transport = HttpTransport(live_server.url.removesuffix("/api"))
    with pytest.raises(ObjectNotFound, match="MINTAKA_API_URL"):
        transport.list_flows()
    transport.close()


# -- retries and headers, against a real server that answers 503 a given number of times


class Flaky:
    """A tiny ASGI app: records each request, answers 503 `failures` times, then `body`."""

    def __init__(self, failures: int, body: object = ()):
        self.failures = failures
        self.body = json.dumps(list(body) if isinstance(body, tuple) else body).encode()
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["method"], scope["path"], headers))
        status, body = (503, b'{"detail": "busy"}') if self.failures > 0 else (200, self.body)
        self.failures -= 1
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


def test_reads_are_retried_through_5xx_and_carry_the_api_key(serve_asgi):
    app = Flaky(failures=2)
    with serve_asgi(app, lifespan="off") as base:
        transport = HttpTransport(f"{base}/api", api_key="s3cret", retries=3, backoff_seconds=0.01)
        assert transport.list_flows() == []
        transport.close()
    assert [(m, p) for m, p, _ in app.requests] == [("GET", "/api/flows")] * 3
    assert all(h["authorization"] == "Bearer s3cret" for _, _, h in app.requests)


def test_retries_give_up_with_api_unavailable(serve_asgi):
    app = Flaky(failures=10)
    with serve_asgi(app, lifespan="off") as base:
        transport = HttpTransport(f"{base}/api", retries=2, backoff_seconds=0.01)
        with pytest.raises(ApiUnavailable, match="busy"):
            transport.list_concurrency_limits()
        transport.close()
    assert len(app.requests) == 3


def test_unsafe_writes_are_not_repeated_but_keyed_proposals_are(serve_asgi):
    run_id = uuid.uuid4()
    answer = {"status": "ACCEPT", "state": json.loads(Running().model_dump_json()), "details": {}}
    app = Flaky(failures=1, body=answer)
    with serve_asgi(app, lifespan="off") as base:
        transport = HttpTransport(f"{base}/api", retries=3, backoff_seconds=0.01)
        with pytest.raises(ApiUnavailable):
            transport.set_flow_run_state(run_id, SetStateRequest(state=Running()))  # no key: sent once
        app.failures = 1
        keyed = SetStateRequest(state=Running(idempotency_key="k1"))
        assert transport.set_flow_run_state(run_id, keyed).status == "ACCEPT"
        app.failures = 1
        with pytest.raises(ApiUnavailable):
            transport.create_logs([LogCreate(message="once")])
        transport.close()
    assert [p.rsplit("/", 1)[-1] for _, p, _ in app.requests] == ["set_state", "set_state", "set_state", "logs"]


# -- the real CLI server on the embedded store


def test_cli_server_lists_runs_made_without_a_server(start_cli_server, mintaka_home, run_cli):
    embedded = EmbeddedTransport(mintaka_home / "mintaka.db")
    before = embedded.create_flow_run(FlowRunCreate(flow_name="offline"))
    embedded.set_flow_run_state(before.id, SetStateRequest(state=Running()))
    embedded.set_flow_run_state(before.id, SetStateRequest(state=Completed()))

    server = start_cli_server()
    transport = HttpTransport(server.url)
    listed = transport.list_flow_runs(FlowRunFilter()).items
    assert [r.id for r in listed] == [before.id]
    assert [s.type for s in transport.read_flow_run_detail(before.id).states][-1] is StateType.COMPLETED

    # Written over HTTP while the embedded store is open elsewhere: both see everything.
    after = transport.create_flow_run(FlowRunCreate(flow_name="online"))
    assert {r.id for r in embedded.list_flow_runs(FlowRunFilter()).items} == {before.id, after.id}

    # The CLI pointed at the server goes over HTTP and answers the same.
    result = run_cli("flow-run", "ls", "--json", api_url=server.url)
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)] == [str(after.id), str(before.id)]
    missing = run_cli("flow-run", "inspect", str(uuid.uuid4()), api_url=server.url)
    assert missing.returncode != 0
    assert "No flow run with id" in missing.stderr and "Traceback" not in missing.stderr
    transport.close()
    embedded.close()


def test_get_client_speaks_http_when_api_url_is_set(live_server, monkeypatch):
    from mintaka.client import set_client

    monkeypatch.setenv("MINTAKA_API_URL", live_server.url)
    reset_settings()
    set_client(None)
    client = get_client()
    assert isinstance(client, HttpTransport)
    run = client.create_flow_run(FlowRunCreate(flow_name="via-settings"))
    embedded = EmbeddedTransport(live_server.database)
    assert embedded.read_flow_run(run.id).flow_name == "via-settings"
    embedded.close()
    client.close()
