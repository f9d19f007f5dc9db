"""Where a deployment's code lives, and getting it back to run a flow.

- local: a directory on this machine (`url` is its absolute path).
- s3: the project packaged as a zip and uploaded (`url` is `s3://bucket/key.zip`; the key holds
  the archive's content hash, so unchanged code is one archive).
- git: a repository and a branch; every run fetches the branch and runs its HEAD, recording the
  commit, so pushing new code changes the next run with no re-registration.

Fetched code is cached under `$MINTAKA_HOME/code`: one read-only directory per git commit or S3
archive, written under a file lock and renamed into place, so concurrent runs share it safely.
boto3 is imported only for S3 storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mintaka._aws import ErrorMap, aws_client
from mintaka._code_checks import GIT_SCHEMES, branch_problem, git_url_problem, redact
from mintaka.deployment_schemas import CodeStorage
from mintaka.exceptions import InvalidRequest, MintakaError

# Never packaged: version control, caches, virtual environments.
SKIP_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same files make the same archive
# git runs with no prompt and only these transports (submodules and redirects included).
_GIT_ENV = {"GIT_ALLOW_PROTOCOL": ":".join(GIT_SCHEMES), "GIT_TERMINAL_PROMPT": "0"}


class CodeStorageError(MintakaError):
    """The code could not be stored or fetched (git, S3 or the file system said no)."""


# -- parsing `--storage`


def parse_storage_spec(spec: str) -> tuple[str, str | None, str | None]:
    """`local` → ("local", None, None); `s3://bucket/prefix` → ("s3", url, None);
    `git+URL[@branch]` → ("git", URL, branch), branch `main` by default."""
    spec = spec.strip()
    if spec in ("", "local"):
        return "local", None, None
    if spec.startswith("s3://"):
        if not spec[5:].split("/", 1)[0]:
            raise InvalidRequest(f"--storage {spec!r}: expected s3://BUCKET[/PREFIX]")
        return "s3", spec.rstrip("/"), None
    if spec.startswith("git+"):
        url, branch = spec[4:], "main"
        head, sep, tail = url.rpartition("@")
        if sep and tail and ":" not in tail and _is_git_url(head):
            url, branch = head, tail
        problem = git_url_problem(url) or branch_problem(branch)
        if problem:
            raise InvalidRequest(
                f"--storage {redact(spec)!r}: {problem} (expected git+URL@BRANCH, e.g. git+file:///srv/repo@main)"
            )
        return "git", url, branch
    raise InvalidRequest(f"--storage {spec!r}: expected local, s3://BUCKET[/PREFIX] or git+URL@BRANCH")


def _is_git_url(url: str) -> bool:
    return git_url_problem(url) is None and ("://" not in url or bool(url.split("://", 1)[1].partition("/")[2]))


def git_toplevel(directory: Path) -> Path | None:
    """The root of the git work tree holding `directory`, if any."""
    done = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


# -- packaging and uploading (S3)


def package_project(root: Path, exclude: Iterable[Path] = ()) -> bytes:
    """The project directory as a zip archive (deterministic: sorted, fixed timestamps), without
    `exclude`d directories (e.g. a MINTAKA_HOME inside the project)."""
    buffer = io.BytesIO()
    skip = {p.resolve() for p in exclude}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_project_files(root, skip)):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _project_files(root: Path, skip: set[Path]) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIP_DIRS and not d.endswith(".egg-info") and (Path(directory) / d).resolve() not in skip
        ]
        for name in files:
            if not name.endswith(SKIP_SUFFIXES):
                yield Path(directory) / name


def archive_url(prefix_url: str, label: str, archive: bytes) -> str:
    """`s3://bucket/prefix/LABEL-HASH.zip`: a new key when, and only when, the code changed."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "project"
    return f"{prefix_url}/{safe}-{hashlib.sha256(archive).hexdigest()[:16]}.zip"


def upload_archive(archive: bytes, url: str, on_progress: Callable[[int], None] | None = None) -> None:
    """Upload to `s3://bucket/key`; `on_progress(bytes_sent)` is called as chunks go."""
    bucket, key = _split_s3(url)
    with _s3_errors(f"upload the code to {url}"):
        _s3_client().upload_fileobj(io.BytesIO(archive), bucket, key, Callback=on_progress)


# -- fetching


def fetch_code(storage: CodeStorage, home: Path) -> tuple[Path, str | None]:
    """The directory holding the deployment's code, and the git commit it is at (git only).
    A git URL and branch are checked again here (a deployment may predate the API's checks)."""
    if storage.type == "local":
        directory = Path(storage.url)
        if not directory.is_dir():
            raise CodeStorageError(f"The deployment's code directory {storage.url} does not exist on this machine")
        return directory, None
    if storage.type == "git":
        return fetch_git(storage.url, storage.branch or "main", home / "code" / "git")
    return fetch_s3(storage.url, home / "code" / "s3"), None


def fetch_git(url: str, branch: str, cache: Path) -> tuple[Path, str]:
    """Fetch `branch` of `url` into a bare mirror and materialise its HEAD commit. The URL and
    branch are checked (git_url_problem, branch_problem) and passed after `--`."""
    problem = git_url_problem(url) or branch_problem(branch)
    if problem:
        raise CodeStorageError(f"Cannot fetch the deployment's code: {problem}")
    base = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    base.mkdir(parents=True, exist_ok=True)
    mirror = base / "mirror.git"
    with _locked(base / ".lock"):
        if not (mirror / "HEAD").exists():
            _git("init", "--quiet", "--bare", str(mirror))
        _git(
            "--git-dir", str(mirror), "fetch", "--quiet", "--no-tags", "--force", "--", url,
            f"+refs/heads/{branch}:refs/heads/{branch}",
            what=f"fetch branch {branch!r} of {redact(url)}",
        )  # fmt: skip
        sha = _git("--git-dir", str(mirror), "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").strip()
        target = base / sha
        if not target.is_dir():
            tar = subprocess.run(
                ["git", "--git-dir", str(mirror), "archive", "--format=tar", sha], capture_output=True, check=False
            )
            if tar.returncode:
                raise CodeStorageError(f"Cannot read commit {sha} of {redact(url)}: {tar.stderr.decode().strip()}")
            _unpack_into(target, lambda tmp: _extract_tar(tar.stdout, tmp, f"commit {sha} of {redact(url)}"))
    return target, sha


def fetch_s3(url: str, cache: Path) -> Path:
    bucket, key = _split_s3(url)
    client = _s3_client()
    with _s3_errors(f"read the code archive {url}"):
        etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    base = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    base.mkdir(parents=True, exist_ok=True)
    target = base / etag
    with _locked(base / ".lock"):
        if not target.is_dir():
            with _s3_errors(f"download the code archive {url}"):
                blob = io.BytesIO()
                client.download_fileobj(bucket, key, blob)
            _unpack_into(target, lambda tmp: _extract_zip(blob.getvalue(), tmp, url))
    return target


# -- helpers


def _git(*args: str, what: str | None = None) -> str:
    env = {**os.environ, **_GIT_ENV}
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        message = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise CodeStorageError(f"Cannot {what or 'run git ' + args[0]}: {message[0]}")
    return done.stdout


def _unpack_into(target: Path, fill: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        fill(tmp)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract_tar(blob: bytes, directory: Path, what: str) -> None:
    """The "data" filter refuses absolute paths, `..`, devices and links leading outside."""
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(directory, filter="data")
    except tarfile.FilterError as exc:
        raise CodeStorageError(f"The code at {what} is unsafe to unpack, nothing of it runs: {exc}") from None


def _extract_zip(blob: bytes, directory: Path, url: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for member in archive.namelist():
                resolved = (directory / member).resolve()
                if not resolved.is_relative_to(directory.resolve()):
                    raise CodeStorageError(f"The code archive {url} has an unsafe path: {member}")
            archive.extractall(directory)
    except zipfile.BadZipFile as exc:
        raise CodeStorageError(f"The code archive {url} is not a zip file: {exc}") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise InvalidRequest(f"Expected s3://BUCKET/KEY, got {url!r}")
    return bucket, key


def _s3_client() -> Any:
    try:
        return aws_client("s3")
    except MintakaError:
        raise CodeStorageError("S3 code storage needs boto3: pip install 'mintaka[aws]'") from None


_S3_ERRORS = ErrorMap(
    "S3",
    default=(CodeStorageError, "Cannot {action}: {code}: {message}"),
    unreachable=(CodeStorageError, "Cannot {action}: {message}"),
)


def _s3_errors(action: str) -> contextlib.AbstractContextManager[None]:
    """S3 errors as `CodeStorageError`s naming what was being done."""
    return _S3_ERRORS.translating(action=action)
