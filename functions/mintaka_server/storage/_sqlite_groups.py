"""Group commit of ended task runs, mixed into `SQLiteStore`.

`record_ended_task_run` (a task run that started and ended in this process, written whole)
appends the row to this process's journal (`_sqlite_journal`) and keeps it in memory. The group
commits in one transaction when it holds `GROUP_SIZE` rows, when its oldest row is
`GROUP_DELAY` old (a background thread), before any other operation of this store (so this
process reads and decides on everything it wrote), and when the store closes or the process
exits. Other processes see a row at most about `GROUP_DELAY` late. Rows a killed process left in
its journal are committed by the next store that opens the database, and by the reaper's pass
(`commit_orphaned_rows`).
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from mintaka_core.schemas import TaskRun
from mintaka_core.states import State

from ._sqlite_codec import INSERT_TASK_RUN, _doc, _history, task_run_row
from ._sqlite_journal import RowJournal, orphaned_rows

logger = logging.getLogger(__name__)

GROUP_SIZE = 256  # rows committed together at most
GROUP_DELAY = 0.1  # seconds a row may wait for its group

_GROUPING_STORES: weakref.WeakSet = weakref.WeakSet()


class SQLiteGroupCommit:
    """Needs the host's `path`, `_lock`, `_conn`, `_in_batch`, `_write()`, `_flow_runs_seen` and
    `create_task_run`."""

    _group: list[tuple] | tuple = ()  # until `_init_groups`: the schema is written before
    _journal: RowJournal | None = None

    def _init_groups(self) -> None:
        self._group = []
        self._group_since = 0.0
        self._journal = None
        self._group_stop = threading.Event()
        self._group_waiting = threading.Event()  # set while rows wait: the thread sleeps otherwise
        self.commit_orphaned_rows()

    @property
    def journal_directory(self) -> Path:
        return self.path.with_name(self.path.name + "-ended-task-runs")

    def record_ended_task_run(self, run: TaskRun, history_before: Sequence[State] = ()) -> None:
        """Write a task run that started and ended here, with its whole history. Durable against
        a crash of this process when this returns; committed with its group (see the module)."""
        flow_run_id = str(run.flow_run_id) if run.flow_run_id else None
        if flow_run_id is None or flow_run_id not in self._flow_runs_seen:
            self.create_task_run(run, history_before)  # its flow run is checked in the write
            return
        doc, history = _doc(run), _history([*history_before, run.state])
        row = task_run_row(run, doc, history)
        with self._lock:
            if self._in_batch:  # committed with the batch
                self._conn.execute(INSERT_TASK_RUN, row)
                return
            if not self._open_journal():
                self.create_task_run(run, history_before)
                return
            self._journal.append(doc, history)
            if not self._group:
                self._group_since = time.monotonic()
                self._group_waiting.set()
            self._group.append(row)
            if len(self._group) >= GROUP_SIZE:
                self._commit_group()

    def commit_grouped(self) -> None:
        """Commit the rows waiting for their group now (inside a batch they wait for its end)."""
        with self._lock:
            if self._group and not self._in_batch:
                self._commit_group()

    def _commit_group(self) -> None:
        """(With the lock held, outside a batch.) Commit the rows waiting, in one transaction."""
        rows, self._group = self._group, []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(INSERT_TASK_RUN, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except BaseException:
            self._group = rows + self._group  # still journaled: committed by the next try
            raise
        self._journal.clear()

    def _open_journal(self) -> bool:
        if self._journal is not None:
            return True
        try:
            self._journal = RowJournal(self.journal_directory)
        except OSError:  # no journal here (a read-only directory...): each row commits alone
            logger.warning("Cannot keep a journal in %s; committing each task run alone", self.journal_directory)
            return False
        _GROUPING_STORES.add(self)
        ref = weakref.ref(self)
        # A collected store wakes its thread, which then finds it gone and ends.
        weakref.finalize(self, self._group_waiting.set)
        thread = threading.Thread(target=_commit_loop, args=(ref, self._group_stop, self._group_waiting), daemon=True)
        thread.name = "mintaka-sqlite-groups"
        thread.start()
        atexit.register(_commit_at_exit, ref)
        return True

    def _close_groups(self) -> None:
        """(With the lock held.) Commit what waits and remove the journal."""
        self._group_stop.set()
        self._group_waiting.set()
        if self._group:
            self._commit_group()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def commit_orphaned_rows(self) -> int:
        """Commit the rows of journals whose processes died; returns how many there were."""
        directory = self.journal_directory
        if not directory.is_dir():
            return 0
        committed = 0
        for path, rows in orphaned_rows(directory):
            runs = [(TaskRun.model_validate_json(doc), doc, history) for doc, history in rows]
            with self._write() as conn:
                conn.executemany(INSERT_TASK_RUN, [task_run_row(*run) for run in runs])
            path.unlink(missing_ok=True)
            committed += len(runs)
        if committed:
            logger.info("Committed %d task runs a stopped process had left in %s", committed, directory)
        return committed


def _commit_loop(ref: weakref.ref, stop: threading.Event, waiting: threading.Event) -> None:
    """Commit each group when its oldest row is GROUP_DELAY old; asleep while no row waits."""
    while True:
        waiting.wait()
        store = ref()
        if store is None or stop.is_set():
            return
        try:
            with store._lock:
                due = store._group_since + GROUP_DELAY - time.monotonic() if store._group else None
                if due is not None and due <= 0:
                    store._commit_group()
                    due = None
                if due is None:
                    waiting.clear()  # under the lock: the next row sets it again
        except (sqlite3.Error, OSError):  # busy past its timeout: the rows wait for the next try
            logger.warning("Committing ended task runs failed; retrying", exc_info=True)
            due = GROUP_DELAY
        del store
        if due is not None and stop.wait(due):
            return


def _commit_at_exit(ref: weakref.ref) -> None:
    store = ref()
    if store is not None:
        try:
            with store._lock:
                store._close_groups()
        except (sqlite3.Error, OSError):  # the rows stay journaled for the next process
            logger.debug("Committing ended task runs at exit failed", exc_info=True)


def _forget_groups_in_child() -> None:
    """A forked child must neither commit its parent's rows nor clear its parent's journal."""
    for store in list(_GROUPING_STORES):
        store._group = []
        if store._journal is not None:
            store._journal.abandon()
            store._journal = None
        store._group_stop = threading.Event()
        store._group_waiting = threading.Event()


os.register_at_fork(after_in_child=_forget_groups_in_child)
