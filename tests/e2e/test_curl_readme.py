"""The README's "Report states from any language" commands, run exactly as written with bash
against a live server that requires API keys: the run ends COMPLETED, history Pending, Running,
Completed, and running them again makes no second run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mintaka.schemas import ApiKeyCreate, FlowRunFilter
from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl"),
]

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- test: curl-report-states -->"


def readme_commands() -> str:
    """The fenced bash block right after the marker comment."""
    text = README.read_text()
    assert text.count(MARKER) == 1, f"README.md needs exactly one {MARKER}"
    found = re.search(re.escape(MARKER) + r"\s*```bash\n(.*?)\n```", text, re.DOTALL)
    assert found, "the marker must be followed by a ```bash block"
    return found.group(1)


def test_readme_block_is_curl_only():
    commands = readme_commands()
    assert "curl" in commands and "$MINTAKA_API_KEY" in commands and "$MINTAKA_API_URL" in commands
    assert "jq" not in commands and "python" not in commands


def test_readme_curl_commands_report_a_run_to_completed(mintaka_home, serve_asgi):
    store = SQLiteStore(mintaka_home / "mintaka.db")
    service = OrchestrationService(store)
    key = service.create_api_key(ApiKeyCreate(name="readme")).key
    commands = readme_commands()
    try:
        with serve_asgi(create_app(service, require_api_key=True)) as base:
            env = {**os.environ, "MINTAKA_API_URL": f"{base}/api", "MINTAKA_API_KEY": key}

            def run_readme() -> subprocess.CompletedProcess:
                done = subprocess.run(
                    ["bash", "-e", "-o", "pipefail", "-c", commands],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert done.returncode == 0, done.stderr
                return done

            first = run_readme()
            [run] = service.list_flow_runs(FlowRunFilter()).items
            assert run.flow_name == "nightly-report"
            assert run.state.type == "COMPLETED" and run.state.message == "42 rows"
            assert [s.name for s in service.read_flow_run_states(run.id)] == ["Pending", "Running", "Completed"]
            assert first.stdout.count('"status":"ACCEPT"') == 2
            assert f'"id":"{run.id}"' in first.stdout.splitlines()[-1]

            # Pasted twice: the idempotency key returns the same run, and a finished run stays finished.
            again = run_readme()
            assert again.stdout.count('"status":"REJECT"') == 2
            assert [r.id for r in service.list_flow_runs(FlowRunFilter()).items] == [run.id]

            # Without the key the same commands are refused, and nothing is written.
            refused = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", commands],
                env={**env, "MINTAKA_API_KEY": "mk_000000000000_wrong"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert refused.returncode != 0 and "401" in refused.stderr
            assert len(service.list_flow_runs(FlowRunFilter()).items) == 1
    finally:
        store.close()
