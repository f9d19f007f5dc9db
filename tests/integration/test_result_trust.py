"""Cache poisoning, end to end over real HTTP: Bob holds his own API key (and his own result
storage); Alice's task is cached under a key Bob can guess. Bob creates a task run, proposes
COMPLETED with Alice's cache key and a result reference of his choosing, so the orchestrator
makes it the cache entry. Alice's next run must not load it: the reference points outside her
result storage (Bob's directory or bucket, an absolute path, `..`), or its digest does not
match (a file planted in her storage, an unsigned one, her own result for another cache key).
Her task runs instead, with one WARNING, and its result replaces the entry. Bob's pickle would
create a marker file if it were ever loaded: it never is. Local files and S3 (moto's server)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.servers import serve_in_thread

from mintaka import flow, task
from mintaka.client import set_client
from mintaka.client.http import HttpTransport
from mintaka.logging import flush_logs
from mintaka.results import LocalResultStore, S3ResultStore, UntrustedResult, default_result_store, read_result
from mintaka.schemas import ApiKeyCreate, ResultStorageSetting
from mintaka.settings import reset_settings
from mintaka.states import ResultRef
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

CACHE_KEY = "monthly-report-2024-05"  # predictable, as task_input_hash keys are
ALICE_VALUE = {"owner": "alice", "rows": 3}


class Evil:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Server:
    url: str
    service: OrchestrationService
    keys: dict[str, str]


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    store = SQLiteStore(tmp_path / "server.db")
    service = OrchestrationService(store)
    keys = {name: service.create_api_key(ApiKeyCreate(name=name)).key for name in ("alice", "bob")}
    with serve_in_thread(create_app(service, require_api_key=True)) as url:
        yield Server(url, service, keys)
    store.close()


@pytest.fixture
def marker(tmp_path) -> Iterator[Path]:
    path = tmp_path / "bob-was-here"
    yield path
    assert not path.exists(), "Bob's pickle was loaded in Alice's process"


@pytest.fixture
def alice(server, tmp_path, monkeypatch) -> Iterator[HttpTransport]:
    """Alice: the SDK over HTTP with her own key; her results under her own MINTAKA_HOME
    (unless the server names a bucket)."""
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path / "alice"))
    reset_settings()
    client = HttpTransport(f"{server.url}/api", api_key=server.keys["alice"])
    previous = set_client(client)
    try:
        yield client
    finally:
        flush_logs()
        set_client(previous)
        client.close()
        reset_settings()


@pytest.fixture
def warnings_seen() -> Iterator[list[str]]:
    """WARNING lines the SDK logged (listened to on the `mintaka` logger itself)."""
    seen: list[str] = []

    class Listen(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                seen.append(record.getMessage())

    handler = Listen()
    logging.getLogger("mintaka").addHandler(handler)
    yield seen
    logging.getLogger("mintaka").removeHandler(handler)


def bob_poisons(server: Server, ref: dict, cache_key: str = CACHE_KEY) -> None:
    """Bob, with his own key and plain HTTP, makes `ref` the cache entry for `cache_key`
    (refresh_cache lets him replace a live entry)."""
    headers = {"Authorization": f"Bearer {server.keys['bob']}"}
    with httpx.Client(base_url=f"{server.url}/api", headers=headers, timeout=30) as api:
        run_id = str(uuid.uuid4())
        created = api.post("/task_runs", json={"id": run_id, "task_key": "poison", "name": "poison"})
        assert created.status_code in (200, 201), created.text
        details = {"cache_key": cache_key, "refresh_cache": True}
        running = api.post(
            f"/task_runs/{run_id}/set_state", json={"state": {"type": "RUNNING", "state_details": details}}
        )
        assert running.json()["status"] == "ACCEPT", running.text
        state = {"type": "COMPLETED", "data": ref, "state_details": {"cache_key": cache_key}}
        completed = api.post(f"/task_runs/{run_id}/set_state", json={"state": state})
        assert completed.json()["status"] == "ACCEPT", completed.text


def alice_flow() -> Callable:
    ran: list[int] = []

    @task(cache_key_fn=lambda ctx, params: CACHE_KEY, persist_result=True)
    def report() -> dict:
        ran.append(1)
        return ALICE_VALUE

    @flow
    def monthly():
        return report(return_state=True)

    monthly.ran = ran
    return monthly


def assert_alice_runs_her_own_code(alice, monthly, warnings_seen) -> None:
    state = monthly()
    assert state.result() == ALICE_VALUE
    assert monthly.ran == [1], "the poisoned entry was a cache miss: her task ran"
    assert state.name == "Completed"
    refused = [w for w in warnings_seen if "not used, the task runs instead" in w]
    assert len(refused) == 1, warnings_seen
    assert CACHE_KEY in refused[0]
    history = [s.name for s in alice.read_task_run_states(state.state_details.task_run_id)]
    assert history[-3:] == ["Pending", "Running", "Completed"], history
    assert "Cached" in history
    # Her result replaced the entry: the next run is a cache hit on her own value.
    again = monthly()
    assert again.name == "Cached" and again.result() == ALICE_VALUE
    assert monthly.ran == [1]
    assert len([w for w in warnings_seen if "not used" in w]) == 1


def plain(ref: ResultRef) -> dict:
    return ref.model_dump(mode="json")


# -- local files


LOCAL_ATTACKS = [
    "bob's own storage",
    "absolute key",
    "dot-dot key",
    "dot-dot storage",
    "planted, forged digest",
    "planted, no digest",
]


@pytest.mark.parametrize("attack", LOCAL_ATTACKS)
def test_a_poisoned_local_cache_entry_is_never_loaded(attack, server, alice, marker, tmp_path, warnings_seen):
    own = default_result_store(alice)
    assert isinstance(own, LocalResultStore)
    bob = LocalResultStore(tmp_path / "bob" / "results")
    bobs = bob.write(Evil(marker))  # signed with Bob's own storage key
    evil_file = bob.directory / bobs.key
    planted = own.directory / "planted"
    own.directory.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(evil_file.read_bytes())  # as if Alice's directory were writable by others
    refs = {
        "bob's own storage": plain(bobs),
        "absolute key": {"storage": own.url, "key": str(evil_file)},
        "dot-dot key": {"storage": own.url, "key": f"../../bob/results/{bobs.key}"},
        "dot-dot storage": {"storage": f"{own.url}/../../bob/results", "key": bobs.key, "digest": bobs.digest},
        "planted, forged digest": {"storage": own.url, "key": "planted", "digest": "hmac-sha256:" + "0" * 64},
        "planted, no digest": {"storage": own.url, "key": "planted"},
    }
    bob_poisons(server, refs[attack])
    assert_alice_runs_her_own_code(alice, alice_flow(), warnings_seen)


def test_alices_own_result_for_another_cache_key_cannot_stand_in(server, alice, marker, warnings_seen):
    @task(cache_key_fn=lambda ctx, params: "other-key", persist_result=True)
    def other() -> str:
        return "OTHER"

    @flow
    def first():
        return other(return_state=True)

    legit = first()
    stolen = alice.read_task_run(legit.state_details.task_run_id).state.data  # any key may read states
    assert stolen is not None and stolen.digest
    bob_poisons(server, plain(stolen))
    assert_alice_runs_her_own_code(alice, alice_flow(), warnings_seen)


def test_an_ordinary_read_of_a_poisoned_state_raises_instead_of_loading(alice, marker, tmp_path):
    bob = LocalResultStore(tmp_path / "bob" / "results")
    own = default_result_store(alice)
    for ref in (
        bob.write(Evil(marker)),
        ResultRef(storage=own.url, key=str(bob.directory / "x")),
        ResultRef(storage=own.url, key="x", digest="hmac-sha256:" + "1" * 64),
    ):
        if ref.key == "x":
            own.directory.mkdir(parents=True, exist_ok=True)
            (own.directory / "x").write_bytes((bob.directory / bob.write(Evil(marker)).key).read_bytes())
        with pytest.raises(UntrustedResult, match="not loaded"):
            read_result(ref)


def test_results_written_before_digests_still_read_from_the_readers_own_storage(alice):
    own = default_result_store(alice)
    ref = own.write({"old": True})
    legacy = ResultRef(storage=ref.storage, key=ref.key, serializer=ref.serializer)  # as stored before digests
    assert read_result(legacy) == {"old": True}
    assert read_result(ref) == {"old": True}


def test_the_signing_key_lives_in_the_storage_readable_only_by_its_owner(alice):
    own = default_result_store(alice)
    own.write(1)
    secret = own.directory / ".mintaka-result-key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text()) == 64


# -- S3 (moto's server, or AWS_ENDPOINT_URL)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str | None]:
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield None
        return
    server_module = pytest.importorskip("moto.server")
    moto = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture
def buckets(s3_endpoint, monkeypatch) -> tuple[str, str]:
    boto3 = pytest.importorskip("boto3")
    if s3_endpoint is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    names = (f"alice-{uuid.uuid4().hex[:12]}", f"bob-{uuid.uuid4().hex[:12]}")
    for name in names:
        boto3.client("s3").create_bucket(Bucket=name)
    return names


S3_ATTACKS = ["bob's bucket", "bob's prefix in alice's bucket", "dot-dot key", "planted, forged digest"]


@pytest.mark.parametrize("attack", S3_ATTACKS)
def test_a_poisoned_s3_cache_entry_is_never_loaded(attack, server, buckets, marker, warnings_seen, monkeypatch):
    alice_bucket, bob_bucket = buckets
    server.service.set_result_storage(ResultStorageSetting(url=f"s3://{alice_bucket}/alice"))
    monkeypatch.setenv("MINTAKA_HOME", str(marker.parent / "alice"))
    reset_settings()
    alice = HttpTransport(f"{server.url}/api", api_key=server.keys["alice"])
    previous = set_client(alice)
    try:
        own = default_result_store(alice)
        assert isinstance(own, S3ResultStore) and own.url == f"s3://{alice_bucket}/alice"
        in_bobs = S3ResultStore(f"s3://{bob_bucket}/bob").write(Evil(marker))
        beside = S3ResultStore(f"s3://{alice_bucket}/bob").write(Evil(marker))
        blob = S3ResultStore(f"s3://{bob_bucket}/bob").read_bytes(in_bobs.key)
        import boto3

        boto3.client("s3").put_object(Bucket=alice_bucket, Key="alice/planted", Body=blob)
        refs = {
            "bob's bucket": plain(in_bobs),
            "bob's prefix in alice's bucket": plain(beside),
            "dot-dot key": {"storage": own.url, "key": f"../bob/{beside.key}", "digest": beside.digest},
            "planted, forged digest": {"storage": own.url, "key": "planted", "digest": "hmac-sha256:" + "0" * 64},
        }
        bob_poisons(server, refs[attack])
        assert_alice_runs_her_own_code(alice, alice_flow(), warnings_seen)
    finally:
        flush_logs()
        set_client(previous)
        alice.close()
        reset_settings()


# -- the rule that lets a refused cache hit run


def test_only_a_cached_task_run_proposing_refresh_goes_back_to_pending(tmp_path):
    from mintaka.schemas import SetStateRequest, SetStateStatus, TaskRunCreate
    from mintaka.states import State, StateDetails, StateType

    store = SQLiteStore(tmp_path / "rules.db")
    service = OrchestrationService(store)
    ref = ResultRef(storage="file:///tmp/results", key="k1", digest="hmac-sha256:" + "a" * 64)

    def run_to(state: State):
        run = service.create_task_run(TaskRunCreate(task_key="t", name="t"))
        service.set_task_run_state(run.id, SetStateRequest(state=state))
        return run

    def propose(run, **details):
        pending = State(type=StateType.PENDING, state_details=StateDetails(**details))
        return service.set_task_run_state(run.id, SetStateRequest(state=pending))

    cached_details = StateDetails(cache_key="k")
    writer = run_to(State(type=StateType.RUNNING, state_details=cached_details))
    completed = State(type=StateType.COMPLETED, data=ref, state_details=cached_details)
    service.set_task_run_state(writer.id, SetStateRequest(state=completed))
    hit = run_to(State(type=StateType.RUNNING, state_details=cached_details))
    assert service.read_task_run(hit.id).state.name == "Cached"

    assert propose(hit).status is SetStateStatus.REJECT  # without refresh_cache: terminal is final
    assert propose(writer, refresh_cache=True).status is SetStateStatus.REJECT  # it ran: final
    reopened = propose(hit, refresh_cache=True)
    assert reopened.status is SetStateStatus.ACCEPT and reopened.state.type is StateType.PENDING
    running = State(type=StateType.RUNNING, state_details=StateDetails(cache_key="k", refresh_cache=True))
    answer = service.set_task_run_state(hit.id, SetStateRequest(state=running))
    assert answer.state.type is StateType.RUNNING, "refresh_cache: the cache rule lets it run"
    store.close()
