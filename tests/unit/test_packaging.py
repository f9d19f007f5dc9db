"""What installing mintaka gives users beyond the code: type information (`py.typed`), the
pytest plugin with the `mintaka_harness` fixture, and license metadata."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata, resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_sdk_ships_its_types():
    assert resources.files("mintaka").joinpath("py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["mintaka"]
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]


def test_license_metadata_names_files_that_exist():
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"  # PEP 639: an SPDX expression
    assert project["license-files"] and all((ROOT / path).is_file() for path in project["license-files"])
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639 deprecates them


def test_installing_mintaka_registers_its_pytest_plugin():
    (entry,) = [e for e in metadata.entry_points(group="pytest11") if e.name == "mintaka"]
    assert entry.value == "mintaka.pytest_plugin"
    assert callable(entry.load().mintaka_harness)


@pytest.mark.slow  # a pytest session in a fresh interpreter
def test_users_tests_get_the_harness_fixture_without_importing_it(tmp_path):
    (tmp_path / "test_users_flow.py").write_text(
        textwrap.dedent(
            """
            from mintaka import flow

            @flow
            def answer():
                return 42

            def test_answer(mintaka_harness):
                assert answer() == 42
                assert [run.flow_name for run in mintaka_harness.read_flow_runs()] == ["answer"]

            def test_each_test_gets_a_fresh_store(mintaka_harness):
                assert mintaka_harness.read_flow_runs() == []
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTAKA_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_users_flow.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
