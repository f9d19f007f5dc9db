"""Attributes of the current run, read where you need them, as `prefect.runtime` offers them:

    from mintaka import runtime
    from mintaka.runtime import flow_run, task_run, deployment
    from mintaka.runtime.flow_run import id, parameters

    @flow
    def report(day: str):
        print(flow_run.name, flow_run.run_count, deployment.name, task_run.id)  # task_run.id: None

Three namespaces, each attribute computed when read:

- `flow_run`: `id`, `name`, `flow_name`, `flow_version`, `tags`, `parameters`,
  `scheduled_start_time`, `run_count` (the current attempt), `parent_flow_run_id`,
  `parent_deployment_id`, `root_flow_run_id`, `api_url`, `ui_url`, `job_variables`;
- `task_run`: `id`, `name`, `task_name`, `tags`, `parameters`, `run_count`;
- `deployment`: `id`, `flow_run_id`, `name`, `version`, `parameters`.

Inside a run they come from the run's context (no API call, except the attributes that need
another record: parents, the deployment's version). Outside any run they are empty (None, [],
{}, 0; `scheduled_start_time` is now), unless `MINTAKA__FLOW_RUN_ID` names a flow run: then the
`flow_run` and `deployment` attributes are read from the API for that run, as Prefect does with
`PREFECT__FLOW_RUN_ID`. In a flow run that no deployment created, `deployment` describes the
nearest parent flow run that a deployment created (a subflow of a deployed run sees its
deployment, as in Prefect, where the deployed process's environment names it).

Mocking, for tests: `MINTAKA__RUNTIME__{FLOW_RUN|TASK_RUN|DEPLOYMENT}__{NAME}` overrides an
attribute, cast to its type (`"true"` for a bool, ISO 8601 for a datetime; a list or a dict as
JSON, and a list also as `a,b,c`). A name that is not an attribute reads back the string. Unlike
Prefect, a mocked attribute does not compute its real value first (no API call).

Differences from Prefect 2.20, on purpose: ids are strings everywhere (Prefect returns a UUID
for `parent_flow_run_id` and `parent_deployment_id`); `deployment.*` works inside a deployed
flow run in the process that runs it, not only when the environment names the run; `api_url`
is the run's resource in the API (`{MINTAKA_API_URL}/flow_runs/{id}`) and `ui_url` its page in
the dashboard, both None on the embedded store (no server to point at); `job_variables` is
always `{}` (Mintaka deployments have no per-run job variables).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import sys
import threading
import types
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.deployment_schemas import Deployment
    from mintaka.schemas import FlowRun

FLOW_RUN_ID_ENV = "MINTAKA__FLOW_RUN_ID"
_MOCK_PREFIX = "MINTAKA__RUNTIME__"
_MAX_PARENT_DEPTH = 100  # a guard: a chain of subflows deeper than this is not followed


# -- where the values come from


def _flow_ctx():
    from mintaka.context import flow_run_context

    return flow_run_context.get()


def _task_ctx():
    from mintaka.context import task_run_context

    return task_run_context.get()


def _client() -> MintakaClient:
    ctx = _task_ctx() or _flow_ctx()
    if ctx is not None and getattr(ctx, "client", None) is not None:
        return ctx.client
    from mintaka.client import get_client

    return get_client()


def _env_flow_run_id() -> str | None:
    return os.environ.get(FLOW_RUN_ID_ENV) or None


def _read_flow_run(run_id: uuid.UUID | str) -> FlowRun:
    return _client().read_flow_run(uuid.UUID(str(run_id)))


def _current_flow_run_id() -> str | None:
    flow_ctx = _flow_ctx()
    if flow_ctx is not None:
        return str(flow_ctx.flow_run.id)
    task_ctx = _task_ctx()
    if task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        return str(task_ctx.task_run.flow_run_id)
    return _env_flow_run_id()


def _current_flow_run() -> FlowRun | None:
    """The flow run in progress: the context's record, else read from the API by id (the task
    run's flow run, or `MINTAKA__FLOW_RUN_ID`); None outside any run."""
    flow_ctx = _flow_ctx()
    if flow_ctx is not None:
        return flow_ctx.flow_run
    run_id = _current_flow_run_id()
    return _read_flow_run(run_id) if run_id is not None else None


def _parent_flow_run_id_of(run: FlowRun) -> str | None:
    if run.parent_task_run_id is None:
        return None
    parent_task_run = _client().read_task_run(run.parent_task_run_id)
    return str(parent_task_run.flow_run_id) if parent_task_run.flow_run_id is not None else None


def _deployed_flow_run() -> FlowRun | None:
    """The flow run `deployment` describes: the current one if a deployment created it, else its
    nearest ancestor that one did, else the run `MINTAKA__FLOW_RUN_ID` names (if deployed)."""
    run = _current_flow_run()
    for _ in range(_MAX_PARENT_DEPTH):
        if run is None or run.deployment_id is not None:
            break
        parent_id = _parent_flow_run_id_of(run)
        run = _read_flow_run(parent_id) if parent_id is not None else None
    if run is not None and run.deployment_id is not None:
        return run
    env_id = _env_flow_run_id()
    if env_id is not None and env_id != _current_flow_run_id():
        env_run = _read_flow_run(env_id)
        if env_run.deployment_id is not None:
            return env_run
    return None


_deployments: dict[uuid.UUID, Deployment] = {}
_deployments_lock = threading.Lock()


def _read_deployment(run: FlowRun) -> Deployment | None:
    """The run's deployment, read once per process (as Prefect caches it)."""
    if run.deployment_id is None or not run.deployment_name:
        return None
    cached = _deployments.get(run.deployment_id)
    if cached is None:
        flow_name, _, name = run.deployment_name.partition("/")
        cached = _client().read_deployment(flow_name, name)
        with _deployments_lock:
            if len(_deployments) > 256:
                _deployments.clear()
            _deployments[run.deployment_id] = cached
    return cached


def _api_base() -> str | None:
    url = getattr(_client(), "api_url", None)
    return url.rstrip("/") if isinstance(url, str) and url else None


# -- flow_run


def _flow_run_id() -> str | None:
    return _current_flow_run_id()


def _flow_run_name() -> str | None:
    run = _current_flow_run()
    return run.name if run is not None else None


def _flow_run_flow_name() -> str | None:
    flow_ctx = _flow_ctx()
    if flow_ctx is not None:
        return flow_ctx.flow.name
    run = _current_flow_run()
    return run.flow_name if run is not None else None


def _flow_run_flow_version() -> str | None:
    flow_ctx = _flow_ctx()
    if flow_ctx is not None:
        return getattr(flow_ctx.flow, "version", None) or flow_ctx.flow_run.flow_version
    run = _current_flow_run()
    return run.flow_version if run is not None else None


def _flow_run_tags() -> list[str]:
    run = _current_flow_run()
    return list(run.tags) if run is not None else []


def _flow_run_parameters() -> dict[str, Any]:
    flow_ctx = _flow_ctx()
    if flow_ctx is not None:
        # the values the body was called with when the context has them, else the recorded ones
        return dict(getattr(flow_ctx, "parameters", None) or flow_ctx.flow_run.parameters or {})
    run = _current_flow_run()
    return dict(run.parameters or {}) if run is not None else {}


def _flow_run_scheduled_start_time() -> dt.datetime:
    run = _current_flow_run()
    if run is None:
        return dt.datetime.now(dt.UTC)
    return run.expected_start_time or run.start_time or run.created


def _flow_run_run_count() -> int:
    run = _current_flow_run()
    return run.run_count if run is not None else 0


def _flow_run_parent_flow_run_id() -> str | None:
    run = _current_flow_run()
    return _parent_flow_run_id_of(run) if run is not None else None


def _flow_run_parent_deployment_id() -> str | None:
    parent_id = _flow_run_parent_flow_run_id()
    if parent_id is None:
        return None
    parent = _read_flow_run(parent_id)
    return str(parent.deployment_id) if parent.deployment_id is not None else None


def _flow_run_root_flow_run_id() -> str | None:
    run = _current_flow_run()
    if run is None:
        return None
    for _ in range(_MAX_PARENT_DEPTH):
        parent_id = _parent_flow_run_id_of(run)
        if parent_id is None:
            break
        run = _read_flow_run(parent_id)
    return str(run.id)


def _flow_run_api_url() -> str | None:
    run_id, base = _current_flow_run_id(), _api_base()
    return f"{base}/flow_runs/{run_id}" if run_id is not None and base is not None else None


def _flow_run_ui_url() -> str | None:
    run_id, base = _current_flow_run_id(), _api_base()
    if run_id is None or base is None:
        return None
    return f"{base.removesuffix('/api')}/ui/#/runs/{run_id}"


def _flow_run_job_variables() -> dict[str, Any]:
    return {}


# -- task_run


def _task_run_id() -> str | None:
    ctx = _task_ctx()
    return str(ctx.task_run.id) if ctx is not None else None


def _task_run_name() -> str | None:
    ctx = _task_ctx()
    return ctx.task_run.name if ctx is not None else None


def _task_run_task_name() -> str | None:
    ctx = _task_ctx()
    return ctx.task.name if ctx is not None else None


def _task_run_tags() -> list[str]:
    ctx = _task_ctx()
    return list(ctx.task_run.tags) if ctx is not None else []


def _task_run_parameters() -> dict[str, Any]:
    ctx = _task_ctx()
    return dict(ctx.parameters) if ctx is not None else {}


def _task_run_run_count() -> int:
    ctx = _task_ctx()
    return ctx.task_run.run_count if ctx is not None else 0


# -- deployment


def _deployment_id() -> str | None:
    run = _deployed_flow_run()
    return str(run.deployment_id) if run is not None else None


def _deployment_flow_run_id() -> str | None:
    run = _deployed_flow_run()
    return str(run.id) if run is not None else None


def _deployment_name() -> str | None:
    run = _deployed_flow_run()
    if run is None:
        return None
    if run.deployment_name:
        return run.deployment_name.partition("/")[2]
    deployment = _read_deployment(run)
    return deployment.name if deployment is not None else None


def _deployment_version() -> str | None:
    run = _deployed_flow_run()
    deployment = _read_deployment(run) if run is not None else None
    return deployment.version if deployment is not None else None


def _deployment_parameters() -> dict[str, Any]:
    run = _deployed_flow_run()
    if run is None:
        return {}
    flow_ctx = _flow_ctx()
    if flow_ctx is not None and flow_ctx.flow_run.id == run.id:
        return _flow_run_parameters()
    return dict(run.parameters or {})


# -- the namespaces

# name -> (getter, the type a mocked value is cast to)
_Field = tuple[Callable[[], Any], type]

_FIELDS: dict[str, dict[str, _Field]] = {
    "flow_run": {
        "id": (_flow_run_id, str),
        "tags": (_flow_run_tags, list),
        "scheduled_start_time": (_flow_run_scheduled_start_time, dt.datetime),
        "name": (_flow_run_name, str),
        "flow_name": (_flow_run_flow_name, str),
        "flow_version": (_flow_run_flow_version, str),
        "parameters": (_flow_run_parameters, dict),
        "parent_flow_run_id": (_flow_run_parent_flow_run_id, str),
        "parent_deployment_id": (_flow_run_parent_deployment_id, str),
        "root_flow_run_id": (_flow_run_root_flow_run_id, str),
        "run_count": (_flow_run_run_count, int),
        "api_url": (_flow_run_api_url, str),
        "ui_url": (_flow_run_ui_url, str),
        "job_variables": (_flow_run_job_variables, dict),
    },
    "task_run": {
        "id": (_task_run_id, str),
        "tags": (_task_run_tags, list),
        "name": (_task_run_name, str),
        "parameters": (_task_run_parameters, dict),
        "run_count": (_task_run_run_count, int),
        "task_name": (_task_run_task_name, str),
    },
    "deployment": {
        "id": (_deployment_id, str),
        "flow_run_id": (_deployment_flow_run_id, str),
        "name": (_deployment_name, str),
        "version": (_deployment_version, str),
        "parameters": (_deployment_parameters, dict),
    },
}


def _cast(raw: str, kind: type, env_key: str) -> Any:
    if kind is str:
        return raw
    if kind is bool:
        return raw.strip().lower() == "true"
    if kind in (int, float):
        return kind(raw)
    if kind is dt.datetime:
        value = dt.datetime.fromisoformat(raw.strip())
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if kind is list:
        try:
            value = json.loads(raw)
        except ValueError:
            return [part.strip() for part in raw.split(",") if part.strip()]
        if isinstance(value, list):
            return value
    if kind is dict:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    raise ValueError(f"{env_key} must hold a JSON {kind.__name__} to mock this attribute (got {raw!r})")


class _Namespace(types.ModuleType):
    """`mintaka.runtime.flow_run` and its siblings: modules whose attributes are computed when
    read (so `from mintaka.runtime.flow_run import id` works too)."""

    def __init__(self, kind: str, doc: str):
        super().__init__(f"{__name__}.{kind}", doc)
        self._kind = kind
        self.__all__ = sorted(_FIELDS[kind])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        env_key = f"{_MOCK_PREFIX}{self._kind.upper()}__{name.upper()}"
        field = _FIELDS[self._kind].get(name)
        mocked = os.environ.get(env_key)
        if field is None:
            if mocked is not None:
                return mocked
            raise AttributeError(f"{self.__name__} has no attribute {name!r}")
        getter, kind = field
        if mocked is not None:
            return _cast(mocked, kind, env_key)
        return getter()

    def __dir__(self) -> list[str]:
        return sorted(_FIELDS[self._kind])

    def __repr__(self) -> str:
        return f"<mintaka runtime namespace {self.__name__!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # by name, as pickle treats modules: a task using `flow_run` ships to Dask or Ray workers
        return importlib.import_module, (self.__name__,)


flow_run = _Namespace("flow_run", "Attributes of the current flow run (see `mintaka.runtime`).")
task_run = _Namespace("task_run", "Attributes of the current task run (see `mintaka.runtime`).")
deployment = _Namespace("deployment", "Attributes of the current run's deployment (see `mintaka.runtime`).")

for _namespace in (flow_run, task_run, deployment):
    sys.modules[_namespace.__name__] = _namespace

__all__ = ["deployment", "flow_run", "task_run"]
