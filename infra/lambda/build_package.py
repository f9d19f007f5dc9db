"""Build the Lambda functions' code package into a directory (what `sam build` zips and uploads).

    python infra/lambda/build_package.py TARGET_DIR [--platform manylinux2014_aarch64|local] [--no-compile]

Any Python 3.8+ runs it; the package targets the template's runtime, Python 3.13 on arm64.

Steps, each one `pip` or the standard library:
1. the `mintaka` project itself (packages `mintaka`, `mintaka_core` and `mintaka_server`), `--no-deps`: the CLI's,
   HTTP client's and local server's dependencies never reach Lambda;
2. `infra/lambda/requirements.txt` (generated from pyproject.toml by gen_requirements.py; on
   Python 3.11+ the build refuses a stale one) as wheels for the Lambda platform (CPython 3.13 on arm64
   Graviton by default: `--platform manylinux2014_aarch64 --only-binary=:all:`), so the build runs
   on any machine without Docker;
3. boto3, botocore and s3transfer removed (the Lambda Python runtime provides them: ~25 MB saved);
4. bytecode compiled by a Python 3.13 interpreter (`$MINTAKA_LAMBDA_PYTHON`, this one if it is
   3.13, `python3.13` on PATH, or uv's `uv python find 3.13`) with `--invalidation-mode
   unchecked-hash`: Lambda's file system is read-only, so without shipped .pyc files every cold
   start compiles FastAPI and pydantic from source again (first invocation ~0.7 s -> ~1.4 s);
   unchecked-hash .pyc files stay valid whatever timestamps the zip gives the sources. Without
   such an interpreter the build fails, saying how to get one; `MINTAKA_LAMBDA_BYTECODE=skip`
   (or `--no-compile`) ships sources only, on purpose.

`sam build` calls this through infra/lambda/Makefile; benchmarks/lambda_cold_start.py calls
`build()` to measure the zipped size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON = "3.13"  # template.yaml: Globals.Function.Runtime
# What setuptools needs to build the `mintaka` distribution (pyproject.toml: packages from sdk/
# and functions/, readme README.md).
DISTRIBUTION_FILES = ("pyproject.toml", "README.md", "sdk", "functions")
# Import names the Lambda runtime provides; removed with their .dist-info directories.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
BYTECODE_ENV = "MINTAKA_LAMBDA_BYTECODE"  # "skip": ship sources only


class BuildError(SystemExit):
    """The package cannot be built as the runtime needs it (`sam build` shows the message)."""

    def __init__(self, message: str):
        super().__init__(f"build_package.py: {message}")


def pip(*args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-conflicts",
            "--no-compile",
            *args,
        ],
        check=True,
    )


def build(target: Path, platform: str = LAMBDA_PLATFORM, compile_bytecode: bool = True) -> Path:
    """Fill `target` with the package; `platform="local"` builds for this machine instead."""
    check_requirements()
    interpreter = bytecode_interpreter(platform) if compile_bytecode else None  # fails before any download
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pip("--no-deps", "--target", str(target), str(clean_copy(Path(tmp) / "mintaka")))
    wheels_for = ["--platform", platform, "--implementation", "cp", "--python-version", LAMBDA_PYTHON]
    wheels_for = [] if platform == "local" else [*wheels_for, "--only-binary=:all:"]
    pip("--target", str(target), "--upgrade", *wheels_for, "-r", str(REQUIREMENTS))
    prune(target)
    if interpreter is not None:
        compile_for_lambda(target, platform, interpreter)
    return target


def check_requirements() -> None:
    """Refuse a requirements.txt that no longer matches pyproject.toml (checked where Python has
    tomllib, 3.11+; older build machines trust the committed file, which CI checks)."""
    import importlib.util

    if importlib.util.find_spec("tomllib") is None:
        return
    spec = importlib.util.spec_from_file_location("gen_requirements", REQUIREMENTS.with_name("gen_requirements.py"))
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    if REQUIREMENTS.read_text() != generator.render():
        raise SystemExit(f"{REQUIREMENTS} is stale: run python infra/lambda/gen_requirements.py")


def clean_copy(dest: Path) -> Path:
    """The distribution's sources only: setuptools builds in-tree (a `build/` folder whose stale
    modules would ride along into later packages), so it builds a fresh copy instead."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dest.mkdir(parents=True)
    for name in DISTRIBUTION_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=skip)
        elif source.exists():
            shutil.copy2(source, dest / name)
    return dest


def lambda_interpreter() -> str | None:
    """A Python whose version is the Lambda runtime's, to compile bytecode that runtime uses."""
    candidates = [os.environ.get("MINTAKA_LAMBDA_PYTHON"), sys.executable, shutil.which(f"python{LAMBDA_PYTHON}")]
    uv = shutil.which("uv")
    if uv:  # uv-managed Pythons are not on PATH
        found = subprocess.run([uv, "python", "find", LAMBDA_PYTHON], capture_output=True, text=True)
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == LAMBDA_PYTHON:
            return candidate
    return None


def bytecode_interpreter(platform: str) -> str | None:
    """The Python to compile with: this one for a local build, else the runtime's version; None
    if MINTAKA_LAMBDA_BYTECODE=skip. `BuildError` if the runtime's Python is nowhere to be found."""
    if os.environ.get(BYTECODE_ENV, "").strip().lower() == "skip":
        print(f"note: {BYTECODE_ENV}=skip: the package ships sources only", file=sys.stderr)
        return None
    interpreter = sys.executable if platform == "local" else lambda_interpreter()
    if interpreter is None:
        raise BuildError(
            f"no Python {LAMBDA_PYTHON} found to compile the package's bytecode for the Lambda runtime "
            f"(python{LAMBDA_PYTHON}); without it every cold start compiles FastAPI and pydantic again "
            f"(first invocation ~0.7 s -> ~1.4 s). Install one (`uv python install {LAMBDA_PYTHON}`, "
            f"`pyenv install {LAMBDA_PYTHON}`, `brew install python@{LAMBDA_PYTHON}`, `apt install "
            f"python{LAMBDA_PYTHON}`) or point MINTAKA_LAMBDA_PYTHON at one; {BYTECODE_ENV}=skip ships sources only."
        )
    return interpreter


def compile_for_lambda(target: Path, platform: str, interpreter: str | None = None) -> None:
    """Compile every module with the runtime's Python, and check that its .pyc files are there."""
    interpreter = interpreter or bytecode_interpreter(platform)
    if interpreter is None:
        return
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    compiled_for = version if platform == "local" else LAMBDA_PYTHON
    if platform == "local" and version != LAMBDA_PYTHON:
        print(f"note: local build compiled for Python {version}", file=sys.stderr)
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(target)],
        check=True,
    )
    tag = f"cpython-{compiled_for.replace('.', '')}"
    for package in ("mintaka", "mintaka_core", "mintaka_server", "fastapi", "pydantic"):
        if (target / package).is_dir() and not any((target / package).rglob(f"*.{tag}.pyc")):
            raise BuildError(f"compiling left no {tag} bytecode in {target / package}")


def prune(target: Path) -> None:
    """Drop what Lambda provides or never runs: the runtime's AWS SDK, console scripts, caches."""
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(target / name, ignore_errors=True)
        for info in target.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info, ignore_errors=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="Directory to fill (sam build: $ARTIFACTS_DIR)")
    parser.add_argument("--platform", default=LAMBDA_PLATFORM, help="Wheel platform, or 'local' for this machine")
    parser.add_argument(
        "--no-compile", action="store_true", help=f"Ship sources only (no .pyc), as {BYTECODE_ENV}=skip does"
    )
    args = parser.parse_args(argv)
    build(args.target, platform=args.platform, compile_bytecode=not args.no_compile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
