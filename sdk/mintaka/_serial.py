"""Threads (by ident) inside work that more threads cannot speed up: the embedded store, one
SQLite connection behind a lock. Its stalls (a WAL checkpoint's fsync, another process's write
lock) look like waiting, but a task runner growing its pool then would only add contenders."""

from __future__ import annotations

serial_threads: set[int] = set()
