"""The layering holds (issue 9): the contracts in pyproject.toml's `[tool.importlinter]` pass
(the SDK never names the server package but in its CLI; the core, `mintaka_core`, imports
neither side; the rules engine does no I/O; the server imports the core, not the SDK, but in
the executors and the embedded transport), importing the server loads none of the SDK's runtime,
and importing the core loads nothing of either side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # fresh interpreters


def test_the_import_contracts_are_kept():
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; c()", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout, done.stdout[-2000:]


RUNTIME = ["mintaka.flows", "mintaka.tasks", "mintaka.context", "mintaka.logging", "mintaka.engine.task_engine"]


@pytest.mark.parametrize(
    "modules",
    [
        ["mintaka_server.orchestration.rules", "mintaka_server.orchestration.policies"],
        ["mintaka_server.api", "mintaka_server.services", "mintaka_server.storage.sqlite"],
    ],
)
def test_importing_the_server_loads_none_of_the_sdks_runtime(modules):
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {RUNTIME!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_importing_the_core_loads_neither_side_nor_io_libraries():
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import mintaka_core\n"
        "for m in pkgutil.iter_modules(mintaka_core.__path__): importlib.import_module('mintaka_core.' + m.name)\n"
        "roots = ('mintaka', 'mintaka_server', 'httpx', 'boto3', 'botocore', 'fastapi', 'starlette')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_the_sdk_finds_the_embedded_transport_by_its_entry_point():
    from mintaka.client.embedded import EmbeddedTransport
    from mintaka.client.transports import transport_class

    assert transport_class("embedded") is EmbeddedTransport
    assert EmbeddedTransport.__module__ == "mintaka_server.embedded"
