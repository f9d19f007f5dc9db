"""The public names users import stay importable, and `import mintaka` stays light."""

from __future__ import annotations

import subprocess
import sys

import mintaka


def test_public_names():
    for name in mintaka.__all__:
        assert getattr(mintaka, name) is not None
    from mintaka.input import (  # noqa: F401 - Prefect's import paths for typed pause input
        AutomaticRunInput,
        Keyset,
        RunInput,
        RunInputMetadata,
        keyset_from_base_key,
        keyset_from_paused_state,
    )
    from mintaka.states import AwaitingRetry, Cached, Completed, Crashed, Failed, Pending, Running  # noqa: F401
    from mintaka.tasks import exponential_backoff, task_input_hash  # noqa: F401
    from mintaka.testing import harness  # noqa: F401


def test_import_does_not_load_the_server_or_web_stack():
    heavy = "('fastapi', 'uvicorn', 'httpx', 'mintaka_server')"
    code = f"import sys, mintaka; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
