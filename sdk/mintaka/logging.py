"""Run loggers. Records are printed to the console and shipped to the API in batches by a
background thread (off the hot path); `flush()` ships what is left before a run ends.

Each record gets an id here, and the server stores an id once, so a batch sent again (its
answer was lost) records nothing twice. While the API is away records wait: in memory up to
a bound, then in a local spool (`_log_spool`), which this process, or the next Mintaka
process using that API, delivers once the API answers again."""

from __future__ import annotations

import atexit
import builtins
import datetime as dt
import logging
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mintaka.context import TaskRunContext, flow_run_context, get_run_context, task_run_context
from mintaka.exceptions import ApiUnavailable

_LOGGER_NAME = "mintaka"


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        run_name = getattr(record, "run_name", None)
        prefix = f"{run_name} - " if run_name else ""
        record.message = record.getMessage()
        time = self.formatTime(record, "%H:%M:%S")
        text = f"{time} | {record.levelname:<7} | {record.name} - {prefix}{record.message}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


# Records kept in memory while the API is away; past either bound they spill to disk.
MAX_BUFFERED_RECORDS = 10_000
MAX_BUFFERED_BYTES = 16 * 1024 * 1024


class APILogShipper(logging.Handler):
    """Buffers run log records and ships them to the API in batches."""

    def __init__(
        self,
        interval: float = 0.5,
        max_batch: int = 500,
        max_records: int = MAX_BUFFERED_RECORDS,
        max_bytes: int = MAX_BUFFERED_BYTES,
    ):
        super().__init__()
        self.interval = interval
        self.max_batch = max_batch
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._buffered_bytes = 0
        self._spool_lock = threading.Lock()
        self._buffer: list[Any] = []
        self._buffer_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ship_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = getattr(record, "flow_run_id", None)
        if flow_run_id is None and getattr(record, "task_run_id", None) is None:
            return
        message = self.format(record) if record.exc_info else record.getMessage()
        entry = (
            flow_run_id,
            getattr(record, "task_run_id", None),
            record.name,
            record.levelno,
            message,
            record.created,
            getattr(record, "client", None),
        )
        with self._buffer_lock:
            self._buffer.append((*entry, _next_log_id()))
            self._buffered_bytes += len(message)
            full = len(self._buffer) >= self.max_batch
            over = len(self._buffer) > self.max_records or self._buffered_bytes > self.max_bytes
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()
        if over:
            self._spill_overflow()

    def _start(self) -> None:
        with self._buffer_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="mintaka-log-shipper", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self, final: bool = False) -> None:
        """Ship everything buffered now (called at the end of every flow run). Records the API
        cannot take now go back to the buffer; with `final` (the process is exiting), to the spool."""
        with self._ship_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
                self._buffered_bytes = 0
            by_client: dict[int, tuple[Any, list]] = {}
            for entry in batch:
                client = entry[6] or _default_client()
                by_client.setdefault(id(client), (client, []))[1].append(entry)
            if not by_client and _spool_for(_default_client()) is not None:
                by_client[0] = (_default_client(), [])
            for client, entries in by_client.values():
                kept = self._ship(client, entries)
                if kept:
                    self._keep(client, kept, final)
                else:
                    self._deliver_spool(client)

    def _ship(self, client: Any, entries: list) -> list:
        """Send `entries`; returns those the API could not take now (it is away)."""

        if not entries:
            return []
        try:
            client.create_logs([_to_log(e) for e in entries])
        except ApiUnavailable:
            return entries  # the transport already said the API is away
        except Exception as exc:  # logs must never break a run
            sys.stderr.write(f"mintaka: could not ship {len(entries)} log records: {exc}\n")
        return []

    def _keep(self, client: Any, entries: list, final: bool) -> None:
        """Records to send later: back to the front of the buffer, or to the spool."""
        if final:
            spooled = self._spool_entries(client, entries)
            if spooled is not None:
                sys.stderr.write(
                    f"mintaka: {len(entries)} log records could not reach the API yet; they wait in"
                    f" {spooled.parent} for the next Mintaka process using it\n"
                )
            return
        with self._buffer_lock:
            self._buffer[:0] = entries
            self._buffered_bytes += sum(len(e[4]) for e in entries)
            over = len(self._buffer) > self.max_records or self._buffered_bytes > self.max_bytes
        if over:
            self._spill_overflow()

    def _spill_overflow(self) -> None:
        """The buffer is over its bound: the oldest records of HTTP clients go to the spool."""
        with self._spool_lock:
            with self._buffer_lock:
                entries, self._buffer = self._buffer, []
                self._buffered_bytes = 0
            kept, by_client = [], {}
            for entry in entries:
                client = entry[6] or _default_client()
                if _spool_for(client) is None:
                    kept.append(entry)  # an embedded API is never away: it stays in memory
                else:
                    by_client.setdefault(id(client), (client, []))[1].append(entry)
            for client, spilled in by_client.values():
                self._spool_entries(client, spilled)
            if kept:
                with self._buffer_lock:
                    self._buffer[:0] = kept
                    self._buffered_bytes += sum(len(e[4]) for e in kept)

    @staticmethod
    def _spool_entries(client: Any, entries: list):
        spool = _spool_for(client)
        if spool is None:
            sys.stderr.write(f"mintaka: dropped {len(entries)} log records the API did not take\n")
            return None
        try:
            return spool.write([_to_log(e) for e in entries])
        except OSError as exc:
            sys.stderr.write(f"mintaka: could not keep {len(entries)} log records in {spool.path}: {exc}\n")
            return None

    def _deliver_spool(self, client: Any) -> None:
        """The API took our records: send what waits in the spool for it too."""
        spool = _spool_for(client)
        if spool is None or not spool.pending():
            return

        for path in spool.claim():
            try:
                logs = spool.read(path)
                for start in range(0, len(logs), self.max_batch):
                    client.create_logs(logs[start : start + self.max_batch])
            except ApiUnavailable:
                spool.release(path)
                return
            except Exception as exc:  # a damaged file must not stop the others
                sys.stderr.write(f"mintaka: could not deliver spooled log records from {path}: {exc}\n")
            path.unlink(missing_ok=True)


_last_id_stamp = 0


def _next_log_id() -> uuid.UUID:
    """A record's id, made here: increasing within the process (high 64 bits: a nanosecond
    stamp that never repeats), so lines with equal timestamps keep their order in any store."""
    global _last_id_stamp
    _last_id_stamp = max(_last_id_stamp + 1, time.time_ns())  # callers hold the buffer lock
    return uuid.UUID(int=(_last_id_stamp << 64) | random.getrandbits(64))


def _to_log(entry: tuple) -> Any:
    from mintaka.schemas import LogCreate

    flow_run_id, task_run_id, name, level, message, created, _client, log_id = entry
    return LogCreate(
        id=log_id,
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
        name=name[:200],
        level=level,
        message=message[:100_000],
        timestamp=dt.datetime.fromtimestamp(created, dt.UTC),
    )


def _spool_for(client: Any):
    """The spool of an HTTP client's API (None: an embedded API needs none)."""
    api_url = getattr(client, "api_url", None)
    if not api_url:
        return None
    from mintaka._log_spool import LogSpool
    from mintaka.settings import get_settings

    return LogSpool(get_settings().log_spool_path, api_url)


def _default_client():
    from mintaka.client import get_client

    return get_client()


_shipper: APILogShipper | None = None
_setup_lock = threading.Lock()


def setup_logging() -> APILogShipper:
    """Configure the `mintaka` logger once: console output plus the API shipper."""
    global _shipper
    if _shipper is not None:
        return _shipper
    with _setup_lock:
        if _shipper is None:
            from mintaka.settings import get_settings

            settings = get_settings()
            logger = logging.getLogger(_LOGGER_NAME)
            logger.setLevel(settings.logging_level.upper())
            logger.propagate = False
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(_ConsoleFormatter())
            logger.addHandler(console)
            shipper = APILogShipper(interval=settings.log_batch_interval)
            logger.addHandler(shipper)
            atexit.register(shipper.flush, final=True)
            _shipper = shipper
    return _shipper


def flush_logs() -> None:
    if _shipper is not None:
        _shipper.flush()


class RunLoggerAdapter(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs


def _run_extra(ctx: Any) -> dict[str, Any]:
    if isinstance(ctx, TaskRunContext):
        run = ctx.task_run
        return {
            "flow_run_id": run.flow_run_id,
            "task_run_id": run.id,
            "run_name": f"Task run {run.name!r}",
            "client": ctx.client,
        }
    run = ctx.flow_run
    return {"flow_run_id": run.id, "run_name": f"Flow run {run.name!r}", "client": ctx.client}


_run_logger_disabled = 0


@contextmanager
def disable_run_logger() -> Iterator[None]:
    """Within the block, run loggers are silent and `get_run_logger()` works outside runs too
    (e.g. to test a task's `.fn` directly), as Prefect 2's `disable_run_logger`."""
    global _run_logger_disabled
    names = [f"{_LOGGER_NAME}.flow_runs", f"{_LOGGER_NAME}.task_runs"]
    previous = [logging.getLogger(n).disabled for n in names]
    _run_logger_disabled += 1
    for n in names:
        logging.getLogger(n).disabled = True
    try:
        yield
    finally:
        _run_logger_disabled -= 1
        for n, was in zip(names, previous, strict=True):
            logging.getLogger(n).disabled = was


def get_run_logger(name: str | None = None) -> logging.LoggerAdapter:
    """A logger bound to the current flow or task run; its records reach the API."""

    if _run_logger_disabled and task_run_context.get() is None and flow_run_context.get() is None:
        return logging.LoggerAdapter(logging.getLogger("null"), {})
    ctx = get_run_context()
    setup_logging()
    suffix = name or ("task_runs" if hasattr(ctx, "task_run") else "flow_runs")
    return RunLoggerAdapter(logging.getLogger(f"{_LOGGER_NAME}.{suffix}"), _run_extra(ctx))


def engine_logger(ctx: Any) -> logging.LoggerAdapter:
    setup_logging()
    kind = "task_runs" if hasattr(ctx, "task_run") else "flow_runs"
    return RunLoggerAdapter(logging.getLogger(f"{_LOGGER_NAME}.{kind}"), _run_extra(ctx))


# -- log_prints: print() inside a run with log_prints=True also becomes an INFO log record
_original_print = builtins.print
_print_patched = False


def _logging_print(*args: Any, **kwargs: Any) -> None:
    ctx = task_run_context.get() or flow_run_context.get()
    if ctx is None or not ctx.log_prints or kwargs.get("file") not in (None, sys.stdout):
        _original_print(*args, **kwargs)
        return
    sep = kwargs.get("sep")
    message = (" " if sep is None else sep).join(str(a) for a in args)
    engine_logger(ctx).info(message)


def enable_log_prints() -> None:
    global _print_patched
    if not _print_patched:
        builtins.print = _logging_print
        _print_patched = True
