"""Run loggers. Records are printed to the console and shipped to the API in batches by a
background thread (off the hot path); `flush()` ships what is left before a run ends."""

from __future__ import annotations

import atexit
import builtins
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


class APILogShipper(logging.Handler):
    """Buffers run log records and ships them to the API in batches."""

    def __init__(self, interval: float = 0.5, max_batch: int = 500):
        super().__init__()
        self.interval = interval
        self.max_batch = max_batch
        self._buffer: list[Any] = []
        self._buffer_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ship_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = getattr(record, "flow_run_id", None)
        if flow_run_id is None and getattr(record, "task_run_id", None) is None:
            return
        entry = (
            flow_run_id,
            getattr(record, "task_run_id", None),
            record.name,
            record.levelno,
            self.format(record) if record.exc_info else record.getMessage(),
            record.created,
            getattr(record, "client", None),
        )
        with self._buffer_lock:
            self._buffer.append(entry)
            full = len(self._buffer) >= self.max_batch
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

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

    def flush(self) -> None:
        """Ship everything buffered now (called at the end of every flow run)."""
        import datetime as dt

        from mintaka.schemas import LogCreate

        with self._ship_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            by_client: dict[int, tuple[Any, list]] = {}
            for flow_run_id, task_run_id, name, level, message, created, client in batch:
                log = LogCreate(
                    flow_run_id=flow_run_id,
                    task_run_id=task_run_id,
                    name=name[:200],
                    level=level,
                    message=message[:100_000],
                    timestamp=dt.datetime.fromtimestamp(created, dt.UTC),
                )
                by_client.setdefault(id(client), (client, []))[1].append(log)
            for client, logs in by_client.values():
                try:
                    (client or _default_client()).create_logs(logs)
                except Exception as exc:  # logs must never break a run
                    sys.stderr.write(f"mintaka: could not ship {len(logs)} log records: {exc}\n")


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
            atexit.register(shipper.flush)
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
    from mintaka.context import TaskRunContext

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
    from mintaka.context import flow_run_context, get_run_context, task_run_context

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
    from mintaka.context import flow_run_context, task_run_context

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
