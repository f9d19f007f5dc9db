"""The names `mintaka` exports are a promise: `dir(mintaka)` and `mintaka.__all__` are exactly
the list below. A new public name is added here on purpose, in the same change that exports it;
removing one breaks users' imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mintaka

PUBLIC_NAMES = [
    "ConcurrentTaskRunner",
    "Flow",
    "FlowRunContext",
    "MintakaFuture",
    "SequentialTaskRunner",
    "State",
    "StateType",
    "Task",
    "TaskRunContext",
    "allow_failure",
    "flow",
    "get_async_client",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "pause_flow_run",
    "quote",
    "resume_flow_run",
    "runtime",
    "suspend_flow_run",
    "tags",
    "task",
    "unmapped",
]


def test_dir_and_all_are_the_golden_list():
    assert sorted(mintaka.__all__) == PUBLIC_NAMES
    assert len(set(mintaka.__all__)) == len(mintaka.__all__)
    assert dir(mintaka) == PUBLIC_NAMES


def test_every_public_name_resolves_lazy_ones_included():
    code = (
        "import mintaka, sys\n"
        "before = dir(mintaka)\n"  # dir() must not import the lazy names to list them
        "assert 'mintaka.client' not in sys.modules and 'mintaka.task_runners' not in sys.modules\n"
        "missing = [n for n in before if getattr(mintaka, n, None) is None]\n"
        "print(missing, dir(mintaka) == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] True"


def test_star_import_gives_exactly_the_public_names():
    namespace: dict[str, object] = {}
    exec("from mintaka import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == PUBLIC_NAMES


def test_unknown_names_still_raise_attribute_error():
    assert isinstance(mintaka.__version__, str) and mintaka.__version__
    with pytest.raises(AttributeError, match="not_a_name"):
        mintaka.not_a_name  # noqa: B018
