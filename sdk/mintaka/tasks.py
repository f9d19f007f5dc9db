"""`@task`: a function whose calls are orchestrated task runs. It stays a function.

The engine, futures and client are imported where a call needs them, not at the top: decorating
a function (importing a module of flows, `from mintaka import flow, task`) then takes ~0.1 s
instead of ~0.45 s, which loading the engine, results and HTTP client costs."""

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
from mintaka.utilities.annotations import BaseAnnotation, allow_failure, quote, unmapped

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
        result_serializer: Any = "cloudpickle",
        log_prints: bool | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        on_completion: list[Callable] | None = None,
        on_failure: list[Callable] | None = None,
        retry_condition_fn: Callable[[Any, Any, Any], bool] | None = None,
        refresh_cache: bool | None = None,
        cache_result_in_memory: bool = True,
    ):
        if not callable(fn):
            raise TypeError("@task must decorate a function")
        if retry_condition_fn is not None and not callable(retry_condition_fn):
            raise TypeError("retry_condition_fn must be a callable (task, task_run, state) -> bool")
        if task_run_name is not None and not (isinstance(task_run_name, str) or callable(task_run_name)):
            raise TypeError(f"task_run_name must be a string or a callable; got {type(task_run_name).__name__}")
        from mintaka.engine.hooks import check_hooks

        hooks = check_hooks("Task", on_completion=on_completion, on_failure=on_failure)
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
        from mintaka.serializers import serializer_name

        self.result_serializer = serializer_name(result_serializer)
        self.log_prints = log_prints
        self.task_run_name = task_run_name
        self.on_completion = hooks["on_completion"]
        self.on_failure = hooks["on_failure"]
        self.retry_condition_fn = retry_condition_fn
        self.refresh_cache = refresh_cache
        self.cache_result_in_memory = cache_result_in_memory
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
            "task_run_name": self.task_run_name,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
            "retry_condition_fn": self.retry_condition_fn,
            "refresh_cache": self.refresh_cache,
            "cache_result_in_memory": self.cache_result_in_memory,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"Unknown task options: {', '.join(sorted(unknown))}")
        return Task(self.fn, **{**current, **options})

    # -- calling
    def _engine(self, args: tuple, kwargs: dict, wait_for: Any = None):
        from mintaka.client import get_client
        from mintaka.engine.parameters import bind_parameters
        from mintaka.engine.task_engine import TaskRunEngine

        parameters = bind_parameters(self.fn, args, kwargs)
        flow_ctx = flow_run_context.get()
        client = flow_ctx.client if flow_ctx else get_client()
        return TaskRunEngine(self, parameters, flow_ctx, client, _as_list(wait_for))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task now and return its value (`return_state=True`: its final State).
        Called in a flow it is a task run of that flow, like a `.submit()` one awaited at once."""
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        engine = self._engine(args, kwargs, wait_for)
        flow_ctx = engine.flow_ctx
        if self.isasync:
            coro = _finish_async(engine, return_state)
            return coro if should_return_coroutine() else run_coroutine_sync(coro)
        state = engine.run()
        if flow_ctx is not None:
            flow_ctx.track(_done_future(engine, state))
        return state if return_state else state.result()

    def submit(self, *args: Any, **kwargs: Any):
        """Run concurrently on the flow's task runner; returns a future (`return_state=True`:
        waits and returns the final State). In async flows: `future = await task.submit(...)`."""
        from mintaka.futures import in_async_context

        flow_ctx = flow_run_context.get()
        if flow_ctx is None:
            raise RuntimeError(f"{self.name}.submit() must be called inside a flow run")
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        future = self._submit(flow_ctx, self._engine(args, kwargs, wait_for))
        if not return_state:
            return future
        return future.wait() if in_async_context() else future._inner.result()

    def _submit(self, flow_ctx: Any, engine: Any):
        from mintaka.futures import MintakaFuture

        inner = _submit_on_loop(engine) if self.isasync else None
        if inner is None:
            inner = flow_ctx.task_runner.submit_task(engine)
        future = MintakaFuture(inner, engine.task_run_id, engine.name)
        flow_ctx.track(future)
        return future

    def map(self, *args: Any, **kwargs: Any):
        """Submit one run per element of the iterable arguments (`unmapped(x)` passes x whole;
        a future's value may be the iterable). Returns the futures (`return_state=True`: the
        final states). In async flows: `futures = await task.map(...)`."""
        from mintaka.futures import in_async_context

        flow_ctx = flow_run_context.get()
        if flow_ctx is None:
            raise RuntimeError(f"{self.name}.map() must be called inside a flow run")
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        parameters = _bind_for_map(self.fn, args, kwargs)
        if in_async_context():
            from mintaka.engine.parameters import upstream_futures

            if any(not f.done() for f in upstream_futures(list(parameters.values()))):
                return self._amap(flow_ctx, parameters, wait_for, return_state)
        futures = self._map(flow_ctx, parameters, wait_for)
        if not return_state:
            return futures
        if in_async_context():
            return _await_states(futures)
        return [f._inner.result() for f in futures]

    async def _amap(self, flow_ctx: Any, parameters: dict[str, Any], wait_for: Any, return_state: bool):
        import asyncio

        from mintaka.engine.parameters import upstream_futures

        pending = [asyncio.wrap_future(f._inner) for f in upstream_futures(list(parameters.values()))]
        await asyncio.wait(pending)
        futures = self._map(flow_ctx, parameters, wait_for)
        return await _await_states(futures) if return_state else futures

    def _map(self, flow_ctx: Any, parameters: dict[str, Any], wait_for: Any):
        from mintaka.engine.parameters import collect_task_inputs, resolve_futures
        from mintaka.futures import MintakaFutureList

        # Futures and states given whole are resolved first (their values may be the iterables);
        # their runs stay recorded as every mapped run's upstreams.
        upstream_inputs = collect_task_inputs({k: v for k, v in parameters.items() if not isinstance(v, unmapped)})
        iterables: dict[str, list[Any]] = {}
        static: dict[str, Any] = {}
        annotations: dict[str, type[BaseAnnotation]] = {}
        for name, value in parameters.items():
            if isinstance(value, allow_failure | quote):
                annotations[name] = type(value)
                value = value.unwrap()
            if isinstance(value, unmapped):
                static[name] = value.value
                continue
            if annotations.get(name) is not quote and _is_upstream(value):
                value = resolve_futures({name: value})[name]  # its value is what is mapped over
            if _is_iterable(value):
                iterables[name] = list(value)
            else:
                static[name] = value
        if not iterables:
            raise TypeError(
                f"{self.name}.map() needs at least one iterable argument; got {sorted(parameters) or 'none'}"
            )
        lengths = {name: len(values) for name, values in iterables.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{self.name}.map() got iterables of different lengths: {lengths}")
        futures = MintakaFutureList()
        for i in range(next(iter(lengths.values()))):
            call = {}
            for name in parameters:
                value = iterables[name][i] if name in iterables else static[name]
                call[name] = annotations[name](value) if name in annotations else value
            engine = self._engine((), call, wait_for)
            for name, inputs in upstream_inputs.items():
                engine._task_inputs.setdefault(name, inputs)
            futures.append(self._submit(flow_ctx, engine))
        return futures

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def _as_list(wait_for: Any) -> list[Any]:
    if wait_for is None:
        return []
    if isinstance(wait_for, list | tuple | set | frozenset):
        return list(wait_for)
    return [wait_for]


def _is_upstream(value: Any) -> bool:
    from mintaka.futures import MintakaFuture
    from mintaka.states import State

    return isinstance(value, MintakaFuture | State)


def _is_iterable(value: Any) -> bool:
    """Prefect's rule: anything iterable but strings, bytes and files."""
    import io

    if isinstance(value, str | bytes | io.IOBase):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


class _Finished:
    """The `concurrent.futures.Future` surface the engine uses, for a run already finished
    (a plain call): far cheaper than a real future, which takes a lock and a condition."""

    __slots__ = ("_state",)

    def __init__(self, state: Any):
        self._state = state

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Any:
        return self._state

    def exception(self, timeout: float | None = None) -> None:
        return None

    def add_done_callback(self, fn: Any) -> None:
        fn(self)


def _done_future(engine: Any, state: Any):
    """A finished future for a plain call, so the flow's final state can count it."""
    from mintaka.futures import MintakaFuture

    return MintakaFuture(_Finished(state), engine.task_run_id, engine.name)


def _submit_on_loop(engine: Any):
    """An async task submitted from async code runs on that code's event loop (no thread,
    no second loop): returns its concurrent future, or None to use the task runner."""
    import asyncio
    import concurrent.futures as cf

    from mintaka.task_runners import ConcurrentTaskRunner

    if not isinstance(engine.flow_ctx.task_runner, ConcurrentTaskRunner) or not should_return_coroutine():
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    inner: cf.Future = cf.Future()
    task = loop.create_task(engine.run_async())

    def settle(done: asyncio.Task) -> None:
        if done.cancelled():
            inner.cancel()
        elif done.exception() is not None:
            inner.set_exception(done.exception())
        else:
            inner.set_result(done.result())

    task.add_done_callback(settle)
    inner.set_running_or_notify_cancel()
    return inner


async def _await_states(futures: Any) -> list[Any]:
    await futures._await_all(None)
    return [f._inner.result() for f in futures]


def _bind_for_map(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    from mintaka.engine.parameters import signature

    bound = signature(fn).bind_partial(*args, **kwargs)
    return dict(bound.arguments)


async def _finish_async(engine, return_state: bool):
    state = await engine.run_async()
    if engine.flow_ctx is not None:
        engine.flow_ctx.track(_done_future(engine, state))
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


__all__ = ["Task", "allow_failure", "exponential_backoff", "quote", "task", "task_input_hash", "unmapped"]
