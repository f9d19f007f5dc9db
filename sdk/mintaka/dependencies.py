"""A deployment's requirements, built for the Lambda runtime and kept on S3.

A deployment declares its requirements with a `requirements.txt` at its project root, or
`--requirements FILE`. For a Lambda deployment `mintaka deploy` installs them for the runtime
and architecture of the worker function (template.yaml: python3.13 on arm64; pip's
`--platform`/`--python-version` with `--only-binary=:all:`, so no package is compiled on the
deploying machine), zips them and uploads the zip next to the code archive, under a key that is
the hash of the requirements and the target: unchanged requirements reuse the zip (no pip run,
no upload). The Lambda worker fetches it once per container (`fetch_dependencies`) and puts it
first on `sys.path` for that run only (`mintaka.engine.isolation`). Fargate builds its image
from `infra/Dockerfile` with the same file; a process worker runs in its own environment.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mintaka.exceptions import InvalidRequest

LAMBDA_PLATFORM = "manylinux2014_aarch64"  # template.yaml: Architectures [arm64]
LAMBDA_PYTHON = "3.13"  # template.yaml: Runtime python3.13
REQUIREMENTS_FILE = "requirements.txt"
PIP_TIMEOUT_SECONDS = 900


class DependencyBuildFailed(InvalidRequest):
    """pip could not install the requirements for the target (a package without a wheel for it)."""


def find_requirements(root: Path, explicit: str | Path | None = None) -> Path | None:
    """The requirements file: `explicit` (it must exist), else `root/requirements.txt` if any."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InvalidRequest(f"--requirements {explicit}: no such file")
        return path.resolve()
    default = root / REQUIREMENTS_FILE
    return default.resolve() if default.is_file() else None


def dependencies_url(prefix_url: str, requirements: str, platform: str, python: str) -> str:
    """`s3://bucket/prefix/deps/requirements-HASH.zip`: the same requirements and target, the same key."""
    lines = sorted(line.strip() for line in requirements.splitlines() if line.strip() and not line.startswith("#"))
    digest = hashlib.sha256("\n".join([platform, python, *lines]).encode()).hexdigest()[:20]
    return f"{prefix_url.rstrip('/')}/deps/requirements-{digest}.zip"


def build_dependencies(
    requirements: Path, prefix_url: str, platform: str = LAMBDA_PLATFORM, python: str = LAMBDA_PYTHON
) -> tuple[str, bool]:
    """Install `requirements` for the target into a zip on S3 under `prefix_url`; returns its
    URL and whether it was built now (False: the same requirements were built before)."""
    from mintaka.code_storage import _s3_client, _s3_errors, _split_s3, package_project, upload_archive

    url = dependencies_url(prefix_url, requirements.read_text(), platform, python)
    bucket, key = _split_s3(url)
    if _exists(_s3_client(), bucket, key):
        return url, False
    with tempfile.TemporaryDirectory(prefix="mintaka-deps-") as tmp:
        target = Path(tmp) / "site"
        _pip_install(requirements, target, platform, python)
        archive = package_project(target)
    with _s3_errors(f"upload the dependencies to {url}"):
        upload_archive(archive, url)
    return url, True


def fetch_dependencies(url: str, home: Path) -> Path:
    """The directory holding the dependencies zip's contents, fetched once per machine."""
    from mintaka.code_storage import fetch_s3

    return fetch_s3(url, home / "deps")


def _pip_install(requirements: Path, target: Path, platform: str, python: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
        "--platform", platform, "--implementation", "cp", "--python-version", python,
        "--only-binary=:all:", "--target", str(target), "--requirement", str(requirements),
    ]  # fmt: skip
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, env=env, timeout=PIP_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise DependencyBuildFailed(f"pip did not install {requirements} within {PIP_TIMEOUT_SECONDS} s") from None
    if done.returncode:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or done.stderr.splitlines()
        raise DependencyBuildFailed(
            f"Cannot build {requirements} for {platform} / Python {python} (wheels only): "
            + ("; ".join(errors[-3:]) or f"pip exited with code {done.returncode}")
        )


def _exists(client, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    from mintaka.code_storage import _s3_errors

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        with _s3_errors(f"read {bucket}/{key}"):
            raise
    return True
