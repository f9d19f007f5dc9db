"""End-to-end fixtures: real uvicorn servers on free loopback ports, and the `mintaka` CLI as a
subprocess, each on its own MINTAKA_HOME under tmp_path (never ~/.mintaka)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.servers import STARTUP_TIMEOUT, free_port, serve_in_thread


def mintaka_executable() -> list[str]:
    """The installed `mintaka` console script (the real entry point), else `python -m mintaka.cli`."""
    script = Path(sys.executable).with_name("mintaka")
    found = str(script) if script.exists() else shutil.which("mintaka")
    return [found] if found else [sys.executable, "-m", "mintaka.cli"]


def cli_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTAKA_")}
    env["MINTAKA_HOME"] = str(home)
    env["NO_COLOR"] = "1"
    if api_url:
        env["MINTAKA_API_URL"] = api_url
    return env


def wait_healthy(url: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited early: {process.communicate()}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not become healthy")


@pytest.fixture
def serve_asgi():
    """`with serve_asgi(app, **uvicorn_config) as base_url:` serves any ASGI app in a thread."""
    return serve_in_thread


@pytest.fixture
def closed_port_url() -> str:
    """An API URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/api"


@dataclass
class LiveServer:
    url: str  # e.g. http://127.0.0.1:51234/api
    database: Path


@pytest.fixture
def mintaka_home(tmp_path, monkeypatch) -> Iterator[Path]:
    """MINTAKA_HOME for this test, in this process too; settings and client reset around it."""
    from mintaka.client import set_client
    from mintaka.settings import reset_settings

    home = tmp_path / "home"
    for key in [k for k in os.environ if k.startswith("MINTAKA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MINTAKA_HOME", str(home))
    reset_settings()
    previous = set_client(None)
    yield home
    set_client(previous)
    reset_settings()


@pytest.fixture
def live_server(mintaka_home) -> Iterator[LiveServer]:
    """uvicorn serving `create_app` on the test's embedded store, in a thread."""
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    database = mintaka_home / "mintaka.db"
    store = SQLiteStore(database)
    with serve_in_thread(create_app(OrchestrationService(store))) as base:
        wait_healthy(f"{base}/api")
        yield LiveServer(url=f"{base}/api", database=database)
    store.close()


@pytest.fixture
def start_cli_server(mintaka_home) -> Iterator[Callable[[], LiveServer]]:
    """Starts `mintaka server start --port P` as a subprocess on the test's MINTAKA_HOME."""
    processes: list[subprocess.Popen] = []

    def start() -> LiveServer:
        port = free_port()
        process = subprocess.Popen(
            [*mintaka_executable(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(mintaka_home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}/api"
        wait_healthy(url, process)
        return LiveServer(url=url, database=mintaka_home / "mintaka.db")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli_in_process(mintaka_home) -> Callable[..., CliResult]:
    """Runs `mintaka ARGS...` in this process, through the console script's own `main(argv)`
    (its error edge and exit codes), on the test's MINTAKA_HOME (embedded unless api_url): what
    `run_cli` does without a fresh interpreter per command. Output is captured as the
    subprocess's would be; settings and the SDK's client are reset around each command."""
    from click.testing import CliRunner

    from mintaka.cli import main
    from mintaka.client import set_client
    from mintaka.settings import reset_settings

    def run(*args: str, api_url: str | None = None, timeout: float = 60) -> CliResult:
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MINTAKA_")}
        env.update(cli_env(mintaka_home, api_url))
        with CliRunner().isolation(env=env) as (stdout, stderr, _):
            reset_settings()
            previous = set_client(None)
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            finally:
                set_client(previous)
                reset_settings()
            return CliResult(code, stdout.getvalue().decode(), stderr.getvalue().decode())

    return run


def subprocess_cli(home: Path) -> Callable[..., CliResult]:
    """`run(*args, api_url=None, timeout=60)`: `mintaka ARGS...` as a subprocess on MINTAKA_HOME
    `home` (embedded unless api_url)."""

    def run(*args: str, api_url: str | None = None, timeout: float = 60) -> CliResult:
        done = subprocess.run(
            [*mintaka_executable(), *args],
            env=cli_env(home, api_url),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def run_cli(mintaka_home) -> Callable[..., CliResult]:
    """Runs `mintaka ARGS...` as a subprocess on the test's MINTAKA_HOME (embedded unless api_url)."""
    return subprocess_cli(mintaka_home)


@pytest.fixture
def run_cli_subprocess(mintaka_home) -> Callable[..., CliResult]:
    """`run_cli` as a subprocess even in a module whose `run_cli` runs in-process (smoke tests)."""
    return subprocess_cli(mintaka_home)
