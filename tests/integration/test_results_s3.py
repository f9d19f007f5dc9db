"""Results on S3, configured by the server: the operator sets `s3://bucket/prefix` once, flows
persist there with no code change, the API keeps only references, and a state read back from
the API loads its value from S3. Runs against moto's S3 server on a free loopback port, or
against `AWS_ENDPOINT_URL` when it is set (LocalStack, a real account)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator

import pytest

from mintaka import flow, task
from mintaka.exceptions import MintakaError
from mintaka.results import (
    LocalResultStore,
    MissingResult,
    S3ResultStore,
    default_result_store,
    read_result,
    result_store,
)
from mintaka.schemas import ApiKeyCreate, ResultStorageSetting
from mintaka.settings import get_settings
from mintaka.testing import harness
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

boto3 = pytest.importorskip("boto3")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str | None]:
    """The endpoint to test against: AWS_ENDPOINT_URL when set, else a moto server of our own."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield None
        return
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket; dummy credentials when talking to our own moto server."""
    if s3_endpoint is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    name = f"mintaka-results-{uuid.uuid4().hex[:12]}"
    s3().create_bucket(Bucket=name)
    return name


def s3():
    return boto3.client("s3")


def object_keys(bucket: str) -> list[str]:
    """The results in the bucket (not the storage's signing key, `.mintaka-result-key`)."""
    keys = [o["Key"] for o in s3().list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [k for k in keys if not k.endswith("/.mintaka-result-key")]


def test_importing_mintaka_and_its_results_does_not_load_boto3():
    code = "import sys, mintaka, mintaka.results; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_s3_store_round_trips_both_serializers(bucket):
    store = S3ResultStore(f"s3://{bucket}/runs/")
    assert store.url == f"s3://{bucket}/runs"
    pickled = store.write({"rows": [1, 2]})
    as_json = store.write([1, "two"], serializer="json", key="fixed")
    assert sorted(object_keys(bucket)) == sorted([f"runs/{pickled.key}", "runs/fixed"])
    body = s3().get_object(Bucket=bucket, Key="runs/fixed")["Body"].read()
    assert json.loads(body) == [1, "two"]
    assert read_result(pickled, store=store) == {"rows": [1, 2]}
    assert read_result(as_json, store=store) == [1, "two"]
    assert S3ResultStore(f"s3://{bucket}").write(1).storage == f"s3://{bucket}"
    assert object_keys(bucket).count("runs/fixed") == 1


def test_s3_errors_are_mintaka_errors(bucket):
    store = S3ResultStore(f"s3://{bucket}/p")
    with pytest.raises(MissingResult, match=f"missing from s3://{bucket}/p"):
        store.read("nope")
    with pytest.raises(MintakaError, match="Cannot write"):
        S3ResultStore(f"s3://{bucket}-does-not-exist/p").write(1)
    with pytest.raises(MintakaError, match="s3://bucket/prefix"):
        S3ResultStore("s3:///no-bucket")
    with pytest.raises(MintakaError, match="not readable by this client"):
        result_store("gs://elsewhere/x")


def test_result_storage_setting_over_the_api(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    service = OrchestrationService(store)
    key = service.create_api_key(ApiKeyCreate(name="ops", scope="admin")).key
    with TestClient(create_app(service, require_api_key=True), base_url="http://localhost") as api:
        auth = {"Authorization": f"Bearer {key}"}
        path = "/api/settings/result-storage"
        assert api.get(path).status_code == 401
        assert api.put(path, json={"url": "s3://team/results"}).status_code == 401
        assert api.get(path, headers=auth).json() is None
        assert api.put(path, json={"url": "s3://team/results"}, headers=auth).json() == {"url": "s3://team/results"}
        assert api.get(path, headers=auth).json() == {"url": "s3://team/results"}
        bad = api.put(path, json={"url": "http://team/results"}, headers=auth)
        assert bad.status_code == 422 and "body.url" in bad.json()["detail"]
        assert api.get(path, headers=auth).json() == {"url": "s3://team/results"}
        assert api.delete(path, headers=auth).status_code == 204
        assert api.get(path, headers=auth).json() is None
    store.close()


def test_flows_persist_to_the_servers_bucket_and_read_back_from_s3(bucket):
    @task(persist_result=True)
    def extract(n: int) -> dict:
        return {"rows": list(range(n))}

    @task(persist_result=True, result_serializer="json")
    def count(data: dict) -> int:
        return len(data["rows"])

    @flow
    def etl(n: int):
        data = extract(n, return_state=True)
        return data, count(data.result(), return_state=True)

    with harness() as client:
        client.set_result_storage(ResultStorageSetting(url=f"s3://{bucket}/team/results"))
        extracted, counted = etl(3)
        assert counted.result() == 3

        refs = []
        for state in (extracted, counted):
            stored = client.read_task_run(state.state_details.task_run_id).state  # fresh, from the API
            assert stored.data is not None and stored.data.storage == f"s3://{bucket}/team/results"
            refs.append(stored.data)
            head = s3().head_object(Bucket=bucket, Key=f"team/results/{stored.data.key}")
            assert head["ContentLength"] > 0
        assert sorted(object_keys(bucket)) == sorted(f"team/results/{ref.key}" for ref in refs)
        assert not get_settings().results_path.exists()  # nothing went to the local filesystem

        fresh = client.read_task_run(extracted.state_details.task_run_id).state
        assert fresh.result() == {"rows": [0, 1, 2]}  # loaded from S3
        s3().delete_object(Bucket=bucket, Key=f"team/results/{fresh.data.key}")
        again = client.read_task_run(extracted.state_details.task_run_id).state
        with pytest.raises(MissingResult):
            again.result()


def test_the_server_default_is_asked_once_per_client(bucket, monkeypatch):
    with harness() as client:
        local = default_result_store(client)  # nothing set on the server: the local filesystem
        assert isinstance(local, LocalResultStore) and local.directory == get_settings().results_path.resolve()
    with harness() as client:
        client.set_result_storage(ResultStorageSetting(url=f"s3://{bucket}/p"))
        asked = []
        real = client.read_result_storage
        monkeypatch.setattr(client, "read_result_storage", lambda: asked.append(1) or real())

        @task(persist_result=True)
        def one(i: int) -> int:
            return i

        @flow
        def many():
            return [one(i) for i in range(5)]

        assert many() == [0, 1, 2, 3, 4]
        assert len(asked) == 1
        assert len(object_keys(bucket)) == 5
        assert default_result_store(client).url == f"s3://{bucket}/p"
        assert len(asked) == 1


@pytest.mark.slow  # CLI subprocesses: 15 s
def test_cli_sets_shows_and_unsets_the_result_storage(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env.update(MINTAKA_HOME=str(tmp_path), NO_COLOR="1")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mintaka.cli", *args], env=env, capture_output=True, text=True, timeout=60
        )

    assert json.loads(cli("settings", "show", "--json").stdout) == {"result_storage": None}
    done = cli("settings", "set-result-storage", "s3://team-bucket/mintaka")
    assert done.returncode == 0, done.stderr
    assert json.loads(cli("settings", "show", "--json").stdout) == {"result_storage": "s3://team-bucket/mintaka"}
    assert "s3://team-bucket/mintaka" in cli("settings", "show").stdout
    bad = cli("settings", "set-result-storage", "ftp://nope")
    assert bad.returncode == 1 and "url" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("settings", "unset-result-storage").returncode == 0
    assert json.loads(cli("settings", "show", "--json").stdout) == {"result_storage": None}
