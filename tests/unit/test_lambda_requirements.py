"""The Lambda package's requirements come from pyproject.toml (infra/lambda/gen_requirements.py):
the committed file matches it, and a new project dependency ships unless it is left out on purpose."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "lambda" / "gen_requirements.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_requirements", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_requirements_are_what_pyproject_makes():
    generator = load_generator()
    committed = (ROOT / "infra" / "lambda" / "requirements.txt").read_text()
    assert committed == generator.render(), "stale: run python infra/lambda/gen_requirements.py"
    check = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_requirements_carry_the_project_bounds_and_leave_out_the_local_tools():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = load_generator().lambda_requirements(pyproject)
    assert "pydantic>=2.7,<3" in lines and "aws-xray-sdk>=2.12,<3" in lines
    shipped = {line.split(">")[0] for line in lines}
    assert not {"uvicorn", "typer", "rich", "pyyaml", "boto3"} & shipped
    assert "httpx" in shipped  # the worker reports through the API


def test_a_new_dependency_ships_unless_left_out():
    generator = load_generator()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pyproject["project"]["dependencies"].append("Brand_New.Dep>=1.2")
    assert "Brand_New.Dep>=1.2" in generator.lambda_requirements(pyproject)
    pyproject["tool"]["mintaka"]["lambda-package"]["leave-out"].append("brand-new-dep")
    assert "Brand_New.Dep>=1.2" not in generator.lambda_requirements(pyproject)


def test_a_leave_out_naming_no_dependency_is_an_error():
    generator = load_generator()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pyproject["tool"]["mintaka"]["lambda-package"]["leave-out"].append("gone-long-ago")
    with pytest.raises(ValueError, match="gone-long-ago"):
        generator.lambda_requirements(pyproject)
