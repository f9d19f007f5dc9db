"""`sam build` (infra/lambda/Makefile -> build_package.py) ships bytecode for the Lambda runtime's
Python, or fails saying how to get that Python: never a silent sources-only package, whose every
cold start compiles FastAPI and pydantic again."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_builder():
    spec = importlib.util.spec_from_file_location("build_package", ROOT / "infra" / "lambda" / "build_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = load_builder()
RUNTIME = builder.LAMBDA_PYTHON
THIS = f"{sys.version_info[0]}.{sys.version_info[1]}"


def without_the_runtimes_python(monkeypatch, tmp_path: Path) -> None:
    """An environment with no Python of the runtime's version to be found: only this one (another
    version) on PATH, no uv, MINTAKA_LAMBDA_PYTHON naming this one."""
    if THIS == RUNTIME:
        pytest.skip(f"this interpreter is Python {RUNTIME}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MINTAKA_LAMBDA_PYTHON", sys.executable)
    monkeypatch.delenv(builder.BYTECODE_ENV, raising=False)


def a_package(tmp_path: Path) -> Path:
    target = tmp_path / "package"
    (target / "mintaka").mkdir(parents=True)
    (target / "mintaka" / "__init__.py").write_text("VALUE = 1\n")
    return target


def test_without_the_runtimes_python_the_build_fails_and_says_how_to_get_one(monkeypatch, tmp_path):
    without_the_runtimes_python(monkeypatch, tmp_path)
    assert builder.lambda_interpreter() is None
    with pytest.raises(SystemExit) as refused:
        builder.compile_for_lambda(a_package(tmp_path), builder.LAMBDA_PLATFORM)
    message = str(refused.value)
    assert f"no Python {RUNTIME} found" in message
    assert f"uv python install {RUNTIME}" in message and "MINTAKA_LAMBDA_PYTHON" in message
    assert f"{builder.BYTECODE_ENV}=skip" in message  # the way to ship sources on purpose


def test_the_make_target_sam_build_runs_fails_loudly_before_installing_anything(monkeypatch, tmp_path):
    """What `sam build` runs, with no Python of the runtime's version: a non-zero exit and the reason."""
    make = shutil.which("make")  # before PATH is narrowed
    if make is None:
        pytest.skip("no make")
    without_the_runtimes_python(monkeypatch, tmp_path)
    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "MINTAKA_LAMBDA_BYTECODE": ""}
    build = subprocess.run(
        [make, "-s", "-f", "infra/lambda/Makefile", "build-ApiFunction", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode != 0
    assert f"no Python {RUNTIME} found" in build.stderr
    assert not artifacts.exists() or not any(artifacts.iterdir())  # nothing half-built to upload


def test_skipping_bytecode_is_a_choice_made_out_loud(monkeypatch, tmp_path):
    without_the_runtimes_python(monkeypatch, tmp_path)
    monkeypatch.setenv(builder.BYTECODE_ENV, "skip")
    assert builder.bytecode_interpreter(builder.LAMBDA_PLATFORM) is None
    target = a_package(tmp_path)
    builder.compile_for_lambda(target, builder.LAMBDA_PLATFORM)
    assert list(target.rglob("*.pyc")) == []


def test_bytecode_is_compiled_unchecked_so_the_zips_timestamps_cannot_invalidate_it(tmp_path):
    target = a_package(tmp_path)
    builder.compile_for_lambda(target, "local")
    [pyc] = target.rglob(f"*.cpython-{THIS.replace('.', '')}.pyc")
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source not checked (PEP 552): valid whatever mtime the zip gives
