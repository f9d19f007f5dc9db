"""`@task`: a function whose calls are orchestrated task runs. It stays a function."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from mintaka._sync import is_async_fn, run_coroutine_sync, should_return_coroutine
from mintaka.context import flow_run_context

P = ParamSpec("P")
R = TypeVar("R")

RetryDelay = float | int | list[float] | Callable[[int], list[float]]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Retry delays `backoff_factor * 2**attempt`: use as `retry_delay_seconds=exponential_backoff(10)`."""

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**attempt for attempt in range(retries)]

    return delays


def retry_delays(delay: RetryDelay | None, retries: int) -> list[float]:
    """The delay before each retry, as the server's retry rule reads it (the last one repeats)."""
    if delay is None:
        return []
    if callable(delay):
        return [float(d) for d in delay(retries)]
    if isinstance(delay, int | float):
        return [float(delay)]
    return [float(d) for d in delay]


def task_input_hash(context: Any, arguments: dict[str, Any]) -> str | None:
    """A cache key from the task and its inputs (JSON when possible, else pickled)."""
    try:
        payload = json.dumps(arguments, sort_keys=True, default=_stable_repr).encode()
    except (TypeError, ValueError):
        import cloudpickle

        payload = cloudpickle.dumps(arguments)
    return hashlib.sha256(context.task.task_key.encode() + b"\0" + payload).hexdigest()


def _stable_repr(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


class unmapped:
    """Wrap an argument of `.map()` that is passed whole to every mapped run."""

    def __init__(self, value: Any):
        self.value = value


class Task(Generic[P, R]):
    """An orchestrated function. Call it, `.submit()` it, or `.map()` it."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        tags: Iterable[str] | None = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay | None = None,
        retry_jitter_factor: float | None = None,
        timeout_seconds: float | None = None,
        cache_key_fn: Callable[[Any, dict[str, Any]], str | None] | None = None,
        cache_expiration: dt.timedelta | None = None,
        persist_result: bool | None = None,
        result_serializer: str = "cloudpickle",
        log_prints: bool | None = None,
    ):
        if not callable(fn):
            raise TypeError("@task must decorate a function")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if retry_jitter_factor is not None and retry_jitter_factor < 0:
            raise ValueError("retry_jitter_factor must be >= 0")
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.tags = frozenset(tags or ())
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        self.timeout_seconds = timeout_seconds
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.persist_result = persist_result
        self.result_serializer = result_serializer
        self.log_prints = log_prints
        self.isasync = is_async_fn(fn)
        self.task_key = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', self.name)}"
        functools.update_wrapper(self, fn)

    def retry_delay_list(self) -> list[float]:
        return retry_delays(self.retry_delay_seconds, self.retries)

    def with_options(self, **options: Any) -> Task[P, R]:
        """A copy of this task with some options changed."""
        current = {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "tags": self.tags,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "retry_jitter_factor": self.retry_jitter_factor,
            "timeout_seconds": self.timeout_seconds,
            "cache_key_fn": self.cache_key_fn,
            "cache_expiration": self.cache_expiration,
            "persist_result": self.persist_result,
            "result_serializer": self.result_serializer,
            "log_prints": self.log_prints,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"Unknown task options: {', '.join(sorted(unknown))}")
        return Task(self.fn, **{**current, **options})

    # -- calling
    def _engine(self, args: tuple, kwargs: dict, wait_for: list | None = None):
        from mintaka.client import get_client
        from mintaka.engine.parameters import bind_parameters
        from mintaka.engine.task_engine import TaskRunEngine

        parameters = bind_parameters(self.fn, args, kwargs)
        flow_ctx = flow_run_context.get()
        client = flow_ctx.client if flow_ctx else get_client()
        return TaskRunEngine(self, parameters, flow_ctx, client, wait_for)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        engine = self._engine(args, kwargs, wait_for)
        if self.isasync:
            coro = _finish_async(engine, return_state)
            return coro if should_return_coroutine() else run_coroutine_sync(coro)
        state = engine.run()
        return state if return_state else state.result()

    def submit(self, *args: Any, **kwargs: Any):
        """Run concurrently on the flow's task runner; returns a future."""
        from mintaka.futures import MintakaFuture

        flow_ctx = flow_run_context.get()
        if flow_ctx is None:
            raise RuntimeError(f"{self.name}.submit() must be called inside a flow run")
        wait_for = kwargs.pop("wait_for", None)
        engine = self._engine(args, kwargs, wait_for)
        inner = flow_ctx.task_runner.submit_task(engine)
        future = MintakaFuture(inner, engine.task_run_id, engine.name)
        flow_ctx.track(future)
        return future

    def map(self, *args: Any, **kwargs: Any):
        """Submit one run per element of the iterable arguments (`unmapped(x)` passes x whole)."""
        from mintaka.futures import MintakaFutureList

        wait_for = kwargs.pop("wait_for", None)
        parameters = _bind_for_map(self.fn, args, kwargs)
        iterables = {
            k: list(v)
            for k, v in parameters.items()
            if not isinstance(v, unmapped | str | bytes | dict) and isinstance(v, Iterable)
        }
        if not iterables:
            raise TypeError(f"{self.name}.map() needs at least one iterable argument")
        lengths = {len(v) for v in iterables.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.name}.map() got iterables of different lengths: {sorted(lengths)}")
        futures = MintakaFutureList()
        for i in range(lengths.pop()):
            call = {
                k: (iterables[k][i] if k in iterables else (v.value if isinstance(v, unmapped) else v))
                for k, v in parameters.items()
            }
            futures.append(self.submit(**call, wait_for=wait_for))
        return futures

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def _bind_for_map(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    from mintaka.engine.parameters import signature

    bound = signature(fn).bind_partial(*args, **kwargs)
    return dict(bound.arguments)


async def _finish_async(engine, return_state: bool):
    state = await engine.run_async()
    return state if return_state else state.result()


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn=None, **options: Any):
    """Decorate a function as a task: `@task` or `@task(retries=2, ...)`."""
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)


__all__ = ["Task", "exponential_backoff", "task", "task_input_hash", "unmapped"]
