"""Code storage cannot be turned against the executor: git URLs and branches git would read as
options or commands are refused (at the API, and again by the executor before it runs git),
the entrypoint must resolve inside the fetched code, and unpacking never writes or links
outside it. Real git, a real repository over file://, real HTTP-shaped API calls (in-process
ASGI), and the attack strings themselves: each would create a marker file if it ran."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mintaka.code_storage import CodeStorageError, fetch_code, fetch_git, parse_storage_spec
from mintaka.deployment_schemas import CodeStorage, Deployment, DeploymentRunCreate
from mintaka.deployments import EntrypointError, load_flow
from mintaka.exceptions import InvalidRequest
from mintaka.states import StateType
from mintaka.testing import harness
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DEPLOYMENT, DeploymentService
from mintaka_server.storage.sqlite import SQLiteStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FLOW = """
from mintaka import flow

@flow
def hello(who: str = "git") -> str:
    return "hello " + who
"""
EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("pwned")

def f():
    pass
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    for name, target in (links or {}).items():
        (path / name).symlink_to(target)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "code")
    return path


@pytest.fixture
def marker(tmp_path) -> Iterator[Path]:
    path = tmp_path / "marker"
    yield path
    assert not path.exists(), "an attack string ran a command"


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo", {"flows/hello.py": FLOW})


def attack_urls(marker: Path) -> list[str]:
    return [
        f"--upload-pack=touch {marker}",
        f"-c core.sshCommand=touch {marker}",
        f"ext::sh -c touch% {marker}",
        f"ext::sh -c 'touch {marker}'",
        f"ssh://-oProxyCommand=touch%20{marker}/repo",
        f"ssh://-oProxyCommand=touch%20{marker}@host/repo",
        f"-oProxyCommand=touch {marker}:repo",
        f"fd::17/{marker}",
        f"file:///tmp/repo\n--upload-pack=touch {marker}",
    ]


# -- the real thing still works


def test_a_local_repository_over_file_url_is_fetched_at_its_branch_head(repo, tmp_path):
    directory, sha = fetch_git(f"file://{repo}", "main", tmp_path / "cache")
    assert sha == git(repo, "rev-parse", "HEAD")
    assert load_flow("flows/hello.py:hello", root=directory)("Ada") == "hello Ada"


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("git+file:///srv/repo@main", ("git", "file:///srv/repo", "main")),
        ("git+https://github.com/org/repo.git@release/v2", ("git", "https://github.com/org/repo.git", "release/v2")),
        ("git+git@github.com:org/repo.git@dev", ("git", "git@github.com:org/repo.git", "dev")),
        ("git+ssh://git@github.com/org/repo.git", ("git", "ssh://git@github.com/org/repo.git", "main")),
        ("git+ssh://git@host:2222/repo.git@v1", ("git", "ssh://git@host:2222/repo.git", "v1")),
        (
            "git+https://x-token:s3cr%40t@git.example.com/r.git@main",
            ("git", "https://x-token:s3cr%40t@git.example.com/r.git", "main"),
        ),
        ("git+git://git.example.com/r.git", ("git", "git://git.example.com/r.git", "main")),
        ("git+file://localhost/srv/repo@feature/x-1", ("git", "file://localhost/srv/repo", "feature/x-1")),
    ],
)
def test_ordinary_git_urls_and_branches_are_accepted(spec, expected):
    assert parse_storage_spec(spec) == expected


# -- git URLs and branches


def test_attack_urls_never_reach_git_and_say_what_to_fix(marker, tmp_path):
    for url in attack_urls(marker):
        with pytest.raises(CodeStorageError, match="git URL") as caught:
            fetch_git(url, "main", tmp_path / "cache")
        assert "git URL" in str(caught.value)
        with pytest.raises(InvalidRequest, match="--storage"):
            parse_storage_spec(f"git+{url}")


def test_attack_branches_never_reach_git(repo, marker, tmp_path):
    for branch in (f"--output={marker}", f"--upload-pack=touch {marker}", "main..evil", "a b", "x\n-y", "@{-1}"):
        with pytest.raises(CodeStorageError, match="git branch"):
            fetch_git(f"file://{repo}", branch, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*/mirror.git")), "git was not even started"


def test_only_allowed_transports_even_for_urls_git_rewrites(repo, marker, tmp_path, monkeypatch):
    """A machine's git config could rewrite an allowed URL into ext:: and allow it (this one
    runs the command with plain git); GIT_ALLOW_PROTOCOL, which git puts above config, stops it."""
    config = tmp_path / "gitconfig"
    config.write_text(
        f'[url "ext::sh -c touch% {marker}% #"]\n\tinsteadOf = https://evil.example/\n'
        '[protocol "ext"]\n\tallow = always\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    with pytest.raises(CodeStorageError, match="Cannot fetch branch 'main'"):
        fetch_git("https://evil.example/repo.git", "main", tmp_path / "cache")


# -- entrypoints and unpacking


def test_entrypoints_outside_the_fetched_code_are_refused(repo, marker, tmp_path):
    (tmp_path / "evil.py").write_text(EVIL.format(marker=str(marker)))
    directory, _ = fetch_git(f"file://{repo}", "main", tmp_path / "cache")
    outside = directory.parent / "evil.py"
    outside.write_text(EVIL.format(marker=str(marker)))
    for entrypoint, reason in (
        ("../evil.py:f", "contains '..'"),
        ("flows/../../evil.py:f", "contains '..'"),
        (f"{tmp_path / 'evil.py'}:f", "is absolute"),
    ):
        with pytest.raises(EntrypointError, match=reason):
            load_flow(entrypoint, root=directory)


def test_a_symlink_in_a_repository_pointing_outside_is_never_unpacked(marker, tmp_path):
    (tmp_path / "evil.py").write_text(EVIL.format(marker=str(marker)))
    sneaky = make_repo(
        tmp_path / "sneaky",
        {"flows/hello.py": FLOW},
        links={"flows/evil.py": str(tmp_path / "evil.py"), "up.py": "../evil.py"},
    )
    with pytest.raises(CodeStorageError, match="unsafe to unpack"):
        fetch_git(f"file://{sneaky}", "main", tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("evil.py")], "nothing of it was unpacked"


def test_a_symlink_in_a_local_code_directory_pointing_outside_is_not_imported(marker, tmp_path):
    (tmp_path / "evil.py").write_text(EVIL.format(marker=str(marker)))
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").symlink_to(tmp_path / "evil.py")
    with pytest.raises(EntrypointError, match="resolves outside the deployment's code"):
        load_flow("flow.py:f", root=project)


# -- at the edge: the API refuses, writing nothing


@pytest.fixture
def api(tmp_path) -> Iterator[TestClient]:
    store = SQLiteStore(tmp_path / "mintaka.db")
    deployments = DeploymentService(OrchestrationService(store))
    app = create_app(deployments.orchestration, deployments=deployments)
    with TestClient(app, base_url="http://localhost") as client:  # a loopback Host, as a local client sends
        yield client
    store.close()


def body(**fields) -> dict:
    return {
        "flow_name": "hello",
        "name": "prod",
        "entrypoint": "flows/hello.py:hello",
        "storage": {"type": "git", "url": "https://github.com/org/repo.git", "branch": "main"},
        **fields,
    }


def test_the_api_refuses_attack_deployments_with_a_422_saying_what_to_fix(api, marker):
    bad = [
        *({"storage": {"type": "git", "url": url, "branch": "main"}} for url in attack_urls(marker)),
        {"storage": {"type": "git", "url": "https://github.com/org/repo.git", "branch": f"--output={marker}"}},
        {"entrypoint": "../evil.py:f"},
        {"entrypoint": "/tmp/evil.py:f"},
        {"entrypoint": "flows/../../evil.py:f"},
    ]
    for fields in bad:
        response = api.post("/api/deployments", json=body(**fields))
        assert response.status_code == 422, (fields, response.text)
        detail = str(response.json())
        assert any(word in detail for word in ("git URL", "git branch", "entrypoint path")), detail
        assert api.get("/api/deployments/hello/prod").status_code == 404, "a refused deployment writes nothing"
    ok = api.post("/api/deployments", json=body())
    assert ok.status_code == 200, ok.text


# -- the executor re-checks a deployment stored before the API checked


def test_the_executor_refuses_a_stored_attack_deployment_and_fails_the_run(marker, tmp_path):
    from mintaka.engine.deployed import execute_flow_run

    with harness(tmp_path / "home") as client:
        store = client.service.store
        for url in (f"--upload-pack=touch {marker}", f"ext::sh -c touch% {marker}"):
            name = f"evil-{uuid.uuid4().hex[:6]}"
            stored = Deployment(
                flow_name="hello",
                name=name,
                entrypoint="flows/hello.py:hello",
                storage=CodeStorage(type="git", url="https://github.com/org/repo.git", branch="main"),
            )
            doc = stored.model_dump(mode="json")
            doc["storage"]["url"] = url  # as an older server may have stored it
            store.ensure_flow("hello")
            store.put_document(DEPLOYMENT, f"hello/{name}", doc)
            run = client.create_deployment_run("hello", name, DeploymentRunCreate())
            execution = execute_flow_run(run.id, client=client)
            assert execution.state is not None and execution.state.type is StateType.FAILED
            assert "git URL" in (execution.state.message or ""), execution.state.message


def test_fetch_code_checks_git_storage_too(marker, tmp_path):
    with pytest.raises(CodeStorageError, match="starts with '-'"):
        fetch_code(CodeStorage(type="git", url=f"--upload-pack=touch {marker}", branch="main"), tmp_path)


# -- S3 archives (moto's server, or AWS_ENDPOINT_URL)


@pytest.fixture
def code_bucket(monkeypatch) -> Iterator[str]:
    boto3 = pytest.importorskip("boto3")
    moto = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        moto = pytest.importorskip("moto.server").ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    name = f"code-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    yield name
    if moto is not None:
        moto.stop()


@pytest.mark.parametrize("member", ["../evil.py", "/tmp/evil-abs.py", "flows/../../evil.py"])
def test_an_s3_archive_with_a_path_leading_outside_is_never_unpacked(member, code_bucket, marker, tmp_path):
    import boto3

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("flows/hello.py", FLOW)
        archive.writestr(member, EVIL.format(marker=str(marker)))
    boto3.client("s3").put_object(Bucket=code_bucket, Key="p/code.zip", Body=buffer.getvalue())
    with pytest.raises(CodeStorageError, match="unsafe path"):
        fetch_code(CodeStorage(type="s3", url=f"s3://{code_bucket}/p/code.zip"), tmp_path / "home")
    assert not list((tmp_path / "home").rglob("*.py")), "nothing of it was unpacked"
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil-abs.py").exists()


def test_a_token_in_a_refused_url_is_not_echoed(api):
    url = "http://x-token:ghp_SECRET@github.com/org/repo.git"
    response = api.post("/api/deployments", json=body(storage={"type": "git", "url": url, "branch": "main"}))
    assert response.status_code == 422 and "scheme 'http' is not allowed" in response.text
    assert "ghp_SECRET" not in response.text and "x-token:***@" in response.text
    with pytest.raises(InvalidRequest) as caught:
        parse_storage_spec(f"git+{url}@main")
    assert "ghp_SECRET" not in str(caught.value)
