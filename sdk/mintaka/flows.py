"""`@flow`: a function whose calls are orchestrated flow runs. It stays a function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from mintaka._sync import is_async_fn, run_coroutine_sync, should_return_coroutine
from mintaka.exceptions import ParameterTypeError, ParameterValidationError
from mintaka.serializers import serializer_name
from mintaka.tasks import RetryDelay, retry_delays

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    """An orchestrated function: each call is a recorded flow run."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay | None = None,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        persist_result: bool | None = None,
        result_serializer: Any = "cloudpickle",
        log_prints: bool | None = None,
        task_runner: Any = None,
        flow_run_name: str | Callable[[], str] | None = None,
        on_completion: list[Callable] | None = None,
        on_failure: list[Callable] | None = None,
        on_cancellation: list[Callable] | None = None,
        on_crashed: list[Callable] | None = None,
        on_running: list[Callable] | None = None,
        cache_result_in_memory: bool = True,
    ):
        if not callable(fn):
            raise TypeError("@flow must decorate a function")
        if flow_run_name is not None and not (isinstance(flow_run_name, str) or callable(flow_run_name)):
            raise TypeError(f"flow_run_name must be a string or a callable; got {type(flow_run_name).__name__}")
        from mintaka.engine.hooks import check_hooks

        hooks = check_hooks(
            "Flow",
            on_completion=on_completion,
            on_failure=on_failure,
            on_cancellation=on_cancellation,
            on_crashed=on_crashed,
            on_running=on_running,
        )
        if retries < 0:
            raise ValueError("retries must be >= 0")
        from mintaka.task_runners import ConcurrentTaskRunner, TaskRunner

        if task_runner is not None and not isinstance(task_runner, TaskRunner):
            if isinstance(task_runner, type) and issubclass(task_runner, TaskRunner):
                task_runner = task_runner()
            else:
                raise TypeError("task_runner must be a TaskRunner, e.g. SequentialTaskRunner()")
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.validate_parameters = validate_parameters
        self.persist_result = persist_result

        self.result_serializer = serializer_name(result_serializer)
        self.log_prints = log_prints
        self.task_runner = task_runner or ConcurrentTaskRunner()
        self.flow_run_name = flow_run_name
        self.cache_result_in_memory = cache_result_in_memory
        for option, callables in hooks.items():
            setattr(self, option, callables)
        self.isasync = is_async_fn(fn)
        self._parameters_model: Any = None
        functools.update_wrapper(self, fn)

    _OPTIONS = (
        "name",
        "description",
        "version",
        "retries",
        "retry_delay_seconds",
        "timeout_seconds",
        "validate_parameters",
        "persist_result",
        "result_serializer",
        "log_prints",
        "task_runner",
        "flow_run_name",
        "on_completion",
        "on_failure",
        "on_cancellation",
        "on_crashed",
        "on_running",
        "cache_result_in_memory",
    )

    def with_options(self, **options: Any) -> Flow[P, R]:
        """A copy of this flow with some options changed."""
        unknown = set(options) - set(self._OPTIONS)
        if unknown:
            raise TypeError(f"Unknown flow options: {', '.join(sorted(unknown))}")
        current = {option: getattr(self, option) for option in self._OPTIONS}
        return Flow(self.fn, **{**current, **options})

    def retry_delay_list(self) -> list[float]:
        return retry_delays(self.retry_delay_seconds, self.retries)

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Parameters validated and coerced by their type hints (pydantic)."""
        from pydantic import ValidationError

        model = self._parameters_model or self._build_parameters_model()
        checked = {k: v for k, v in parameters.items() if k in model.model_fields}
        try:
            validated = model.model_validate(checked)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
            raise ParameterTypeError(f"Flow {self.name!r} got invalid parameters: {problems}") from None
        return {**parameters, **{k: getattr(validated, k) for k in checked}}

    def _build_parameters_model(self):
        from pydantic import ConfigDict, create_model

        fields: dict[str, Any] = {}
        for name, param in inspect.signature(self.fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or name.startswith(("_", "model_")):
                continue
            annotation = _resolve_annotation(self.fn, param.annotation)
            default = ... if param.default is param.empty else param.default
            fields[name] = (annotation, default)
        model = create_model(
            f"{self.fn.__name__}_parameters",
            __config__=ConfigDict(arbitrary_types_allowed=True),
            __module__=getattr(self.fn, "__module__", __name__),
            **fields,
        )
        self._parameters_model = model
        return model

    def deploy(self, name: str, **options: Any) -> Any:
        """Create or update the deployment FLOW/`name` of this flow: `parameters`, `tags`,
        `work_queue`, `infrastructure`, `cron` (+ `timezone`) | `interval` | `rrule`, `storage`
        (local, s3://bucket/prefix, git+URL@branch), ... (see `mintaka.deployments.DeploySpec`)."""
        from mintaka.deployments import deploy

        return deploy(self, name, **options)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from mintaka.engine.flow_engine import FlowRunEngine

        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        if wait_for is not None and not isinstance(wait_for, list | tuple | set | frozenset):
            wait_for = [wait_for]
        engine = FlowRunEngine(self, args, kwargs, wait_for=list(wait_for or []))
        if self.isasync:
            coro = _finish_async(engine, return_state)
            return coro if should_return_coroutine() else run_coroutine_sync(coro)
        try:
            state = engine.run()
        except ParameterValidationError as exc:
            return _refused(engine, exc, return_state)
        return state if return_state else state.result()

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


def _resolve_annotation(fn: Callable, annotation: Any) -> Any:
    """A parameter's type; a hint that cannot be resolved (e.g. a class local to a test,
    under `from __future__ import annotations`) is not validated rather than an error."""
    if annotation is inspect.Parameter.empty:
        return Any
    if isinstance(annotation, str):
        try:
            return eval(annotation, getattr(fn, "__globals__", {}))
        except Exception:
            return Any
    return annotation


async def _finish_async(engine, return_state: bool):
    try:
        state = await engine.run_async()
    except ParameterValidationError as exc:
        return _refused(engine, exc, return_state)
    return state if return_state else state.result()


def _refused(engine: Any, exc: ParameterValidationError, return_state: bool) -> Any:
    """Parameters that do not validate: the run was recorded FAILED and never started. With
    `return_state=True` that state is returned (its result raises the error), as Prefect 2 does."""
    run = engine.flow_run
    if not return_state or run is None or run.state is None or not run.state.is_failed():
        raise exc
    return run.state.model_copy().with_result(exc)


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...


@overload
def flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn=None, **options: Any):
    """Decorate a function as a flow: `@flow` or `@flow(name="etl", retries=1, ...)`."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)


__all__ = ["Flow", "flow"]
