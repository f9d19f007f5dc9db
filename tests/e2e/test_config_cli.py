"""`mintaka config set | get | ls | unset`: a profile under MINTAKA_HOME that the SDK and CLI
read (the environment wins), with the API key masked when listed."""

from __future__ import annotations

import json
import stat

import pytest


@pytest.fixture
def run_cli(run_cli_in_process):
    """This module's commands run in this process (`main(argv)`), not as subprocesses."""
    return run_cli_in_process


def test_set_get_ls_unset(run_cli, mintaka_home):
    assert run_cli("config", "get", "api_url").stdout == "\n"
    done = run_cli("config", "set", "MINTAKA_API_URL", "https://mintaka.example/api")
    assert done.returncode == 0, done.stderr
    assert "config.json" in done.stdout
    assert run_cli("config", "set", "api-key", "mk_1a2b3c4d5e6f_SECRET").returncode == 0
    assert run_cli("config", "set", "api_timeout", "7.5").returncode == 0

    assert run_cli("config", "get", "api_url").stdout.strip() == "https://mintaka.example/api"
    assert run_cli("config", "get", "api_timeout").stdout.strip() == "7.5"
    listed = json.loads(run_cli("config", "ls", "--json").stdout)
    assert listed == {
        "api_key": "mk_1a2b3c4d5e6f_…",
        "api_timeout": "7.5",
        "api_url": "https://mintaka.example/api",
    }
    assert json.loads(run_cli("config", "ls", "--json", "--show-secrets").stdout)["api_key"] == "mk_1a2b3c4d5e6f_SECRET"
    table = run_cli("config", "ls").stdout
    assert "api_url" in table and "SECRET" not in table
    profile = mintaka_home / "config.json"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600

    assert run_cli("config", "unset", "api_key").returncode == 0
    assert "api_key" not in json.loads(run_cli("config", "ls", "--json").stdout)
    assert "was not set" in run_cli("config", "unset", "api_key").stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("config", "set", "nope", "x"), "Unknown setting 'nope'"),
        (("config", "set", "home", "/x"), "Unknown setting 'home'"),
        (("config", "set", "api_timeout", "soon"), "api_timeout"),
        (("config", "get", "colour"), "Unknown setting"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(run_cli, args, fragment):
    result = run_cli(*args)
    assert result.returncode == 1
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_profile_points_the_cli_at_an_api_and_the_environment_wins(run_cli, live_server, serve_asgi, tmp_path):
    from mintaka.schemas import FlowRunCreate
    from mintaka_server.api import create_app
    from mintaka_server.services import OrchestrationService
    from mintaka_server.storage.sqlite import SQLiteStore

    other = SQLiteStore(tmp_path / "other.db")  # another API, told apart by its one flow
    service = OrchestrationService(other)
    service.create_flow_run(FlowRunCreate(flow_name="elsewhere"))
    with serve_asgi(create_app(service)) as base:
        assert run_cli("config", "set", "api_url", f"{base}/api").returncode == 0
        profiled = run_cli("flow", "ls", "--json")
        assert profiled.returncode == 0, profiled.stderr
        assert [flow["name"] for flow in json.loads(profiled.stdout)] == ["elsewhere"]
        reached = run_cli("flow", "ls", "--json", api_url=live_server.url)  # MINTAKA_API_URL wins
        assert reached.returncode == 0, reached.stderr
        assert json.loads(reached.stdout) == []
    other.close()
