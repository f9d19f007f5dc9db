"""Log records the API could not take yet, kept on local disk until it can.

Records wait in JSON-lines files under `<spool dir>/<API>/` (one directory per API URL).
Each spill writes a new file (written aside, then renamed into place), and whoever delivers a
file first claims it by renaming it, so processes never share a file half-written or
half-read. Every record carries its client-made id and the server stores an id once, so a
file delivered twice (a process died between sending and deleting it) records nothing twice.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from mintaka.schemas import LogCreate

_READY = ".jsonl"
_CLAIMED = ".sending"


class LogSpool:
    """The spool of one API (`api_url`) under `directory`."""

    def __init__(self, directory: Path, api_url: str):
        self.api_url = api_url
        self.path = directory / hashlib.sha256(api_url.encode()).hexdigest()[:16]

    def write(self, logs: list[LogCreate]) -> Path:
        """Keep `logs` for later; returns the file they are in."""
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex}"
        partial = self.path / f".{name}.tmp"
        with partial.open("w", encoding="utf-8") as out:
            out.write(f"# {self.api_url}\n")
            for log in logs:
                out.write(log.model_dump_json() + "\n")
        final = self.path / f"{name}{_READY}"
        partial.replace(final)
        return final

    def pending(self) -> bool:
        """Whether any records wait here (cheap: one directory listing)."""
        try:
            return any(p.name.endswith((_READY, _CLAIMED)) for p in self.path.iterdir())
        except FileNotFoundError:
            return False

    def claim(self) -> Iterator[Path]:
        """Files this process now owns: ready ones, and claims of processes that died."""
        try:
            entries = sorted(self.path.iterdir())
        except FileNotFoundError:
            return
        for path in entries:
            if path.name.endswith(_READY) or (path.name.endswith(_CLAIMED) and not _claimer_alive(path)):
                claimed = path.with_name(f"{path.name.split('.')[0]}.{os.getpid()}{_CLAIMED}")
                try:
                    path.replace(claimed)
                except FileNotFoundError:  # another process claimed it first
                    continue
                yield claimed

    @staticmethod
    def read(path: Path) -> list[LogCreate]:
        logs = []
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip() and not line.startswith("#"):
                    logs.append(LogCreate.model_validate_json(line))
        return logs

    def release(self, path: Path) -> None:
        """Give a claimed file back (it could not be delivered now)."""
        path.replace(path.with_name(f"{path.name.split('.')[0]}{_READY}"))


def _claimer_alive(path: Path) -> bool:
    parts = path.name.split(".")
    try:
        pid = int(parts[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True  # ours: being delivered now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
