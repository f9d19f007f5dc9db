"""The journal of task-run rows a SQLite store accepted but has not committed yet.

A SQLite commit costs more than the rest of a short task's bookkeeping (WAL frames and file
locks: about 16 system calls). So a store commits the rows of task runs that ended in its
process in groups, and until a row's group commits it sits in this process's journal: an
append-only file, one write per row, in the OS's cache before the call returns (the durability
of a WAL commit under `synchronous=NORMAL`: a killed process loses nothing, only an OS crash
may). A live process holds an exclusive `flock` on its file. The kernel drops that lock when the
process dies, however it dies, so whoever opens the database next finds the file unlocked and
commits its rows (`orphaned_rows`); rows are inserted idempotently, so a row committed twice
(the process died between its commit and clearing the file) is written once.

A line is a run's JSON document, a tab, and its history (JSON never holds a raw tab or newline);
a line cut short by the kill was never acknowledged to anyone and is skipped.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".rows"


class RowJournal:
    """This process's journal file under `directory`, locked while it is open."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # a new file of our own: never contended

    def append(self, doc: str, history: str) -> None:
        line = f"{doc}\t{history}\n".encode()
        while line:  # a regular file takes it whole unless the disk is full, which raises
            line = line[os.write(self._fd, line) :]

    def clear(self) -> None:
        """Every row written so far is committed."""
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        """Everything is committed: the file goes."""
        self.path.unlink(missing_ok=True)
        os.close(self._fd)

    def abandon(self) -> None:
        """In a forked child: the file (and its lock) stay the parent's."""
        os.close(self._fd)


def orphaned_rows(directory: Path) -> Iterator[tuple[Path, list[tuple[str, str]]]]:
    """(file, its whole rows as (doc, history)) of each journal whose process is gone. The file
    is locked while the caller holds it; the caller commits the rows, then removes the file."""
    try:
        paths = sorted(directory.glob(f"*{SUFFIX}"))
    except OSError:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # committed and removed by another process meanwhile
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is alive (or another is committing it)
                continue
            with open(fd, "rb", closefd=False) as lines:
                rows = []
                for line in lines:
                    if line.endswith(b"\n"):
                        doc, _, history = line[:-1].decode().partition("\t")
                        rows.append((doc, history))
            yield path, rows
        finally:
            os.close(fd)
