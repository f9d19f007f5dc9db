"""Building deployments: the logic shared by `mintaka deploy`, `mintaka.yaml` and `Flow.deploy`.

A deployment names a flow by its entrypoint (`path/to/file.py:flow_fn`, relative to the code's
root), says where the code lives, and what parameters, tags, work queue, infrastructure and
schedule its runs get. Parameters are checked against the flow's signature here, before
anything is written, and the flow's JSON parameter schema goes with the deployment so the
server checks the parameters of every run too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import inspect
import json
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import GenerateJsonSchema

from mintaka import code_storage
from mintaka._code_checks import entrypoint_file
from mintaka.engine.isolation import fresh_modules
from mintaka.exceptions import InvalidRequest, MintakaError
from mintaka_core.vocabulary import DEFAULT_QUEUE

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.deployment_schemas import Deployment, DeploymentCreate
    from mintaka.flows import Flow

PROJECT_FILE = "mintaka.yaml"


class EntrypointError(MintakaError):
    """The entrypoint does not name a loadable flow."""


class DeploySpec(BaseModel):
    """What a user says about one deployment (CLI options, a `mintaka.yaml` entry, `Flow.deploy`)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    entrypoint: str = Field(description="path/to/file.py:flow_fn")
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    work_queue: str = DEFAULT_QUEUE
    infrastructure: str = "process"
    cron: str | None = None
    interval: float | None = None
    anchor_date: dt.datetime | None = None
    rrule: str | None = None
    timezone: str = "UTC"
    paused: bool = False
    storage: str = "local"
    description: str | None = None
    version: str | None = None
    persist_results: bool = True  # task results kept, so a run executing again skips what completed
    requirements: str | None = None  # a requirements file; default: requirements.txt at the project root


# -- entrypoints


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    path, sep, attr = entrypoint.rpartition(":")
    if not sep or not path or not attr.isidentifier():
        raise EntrypointError(f"Entrypoint {entrypoint!r}: expected path/to/file.py:flow_function")
    return path, attr


def load_flow(entrypoint: str, root: Path | None = None) -> Flow:
    """Import `path/file.py:flow_fn` (relative to `root`) from its file and return the flow.
    The root and the file's directory go on `sys.path`, so the flow's own imports work."""
    from mintaka.flows import Flow

    path, attr = split_entrypoint(entrypoint)
    if root is not None:  # a deployment's code: the file must be inside it, symlinks followed
        try:
            file = entrypoint_file(root, path)
        except ValueError as exc:
            raise EntrypointError(f"Entrypoint {entrypoint!r}: {exc}") from None
    else:
        file = Path(path)
    if not file.is_file():
        raise EntrypointError(f"Entrypoint {entrypoint!r}: no file {file}")
    file = file.resolve()
    for directory in (file.parent, root.resolve() if root is not None else None):
        if directory is not None and str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    # The same name in every process (hash() of a str is salted per process): task keys are
    # module + qualname, and a run executing again recognises its completed task runs by them.
    where = path if root is not None else str(file)
    module_name = f"mintaka_entrypoint_{hashlib.sha256(where.encode()).hexdigest()[:16]}_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"Entrypoint {entrypoint!r}: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise EntrypointError(
            f"Entrypoint {entrypoint!r}: importing {file} failed: {type(exc).__name__}: {exc}"
        ) from exc
    found = getattr(module, attr, None)
    if found is None:
        raise EntrypointError(f"Entrypoint {entrypoint!r}: {file.name} has no {attr!r}")
    if isinstance(found, Flow):
        return found
    if callable(found):
        return Flow(found)
    raise EntrypointError(f"Entrypoint {entrypoint!r}: {attr!r} is a {type(found).__name__}, not a flow")


# -- parameters


def parse_param_options(values: Iterable[str]) -> dict[str, Any]:
    """`--param k=v` values: JSON when they parse as JSON (5, true, [1], {"a": 1}), else strings."""
    parameters: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--param {item!r}: expected NAME=VALUE")
        try:
            parameters[key.strip()] = json.loads(raw)
        except ValueError:
            parameters[key.strip()] = raw
    return parameters


def parameter_schema(flow: Flow) -> dict[str, Any]:
    """The JSON schema of the flow's parameters (types it cannot express accept anything).
    Unknown parameters are refused unless the flow takes **kwargs."""

    class _Lenient(GenerateJsonSchema):
        def handle_invalid_for_json_schema(self, schema, error_info):
            return {}

    model = flow._parameters_model or flow._build_parameters_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = model.model_json_schema(schema_generator=_Lenient)
    signature = inspect.signature(flow.fn).parameters.values()
    if all(p.kind is not p.VAR_KEYWORD for p in signature) and set(schema.get("properties", {})) == {
        p.name for p in signature if p.kind is not p.VAR_POSITIONAL
    }:
        schema["additionalProperties"] = False
    return schema


def check_parameters(flow: Flow, parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters validated against the flow's signature, as JSON (error names the parameter)."""
    from mintaka.engine.parameters import jsonable

    accepted = set(parameter_schema(flow).get("properties", {}))
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(flow.fn).parameters.values())
    unknown = sorted(set(parameters) - accepted)
    if unknown and not takes_kwargs:
        raise InvalidRequest(
            f"Flow {flow.name!r} has no parameter {', '.join(map(repr, unknown))}"
            f" (it takes: {', '.join(sorted(accepted)) or 'no parameters'})"
        )
    validated = flow.validate(parameters)  # ParameterValidationError names the parameter
    return jsonable({k: validated[k] for k in parameters})


# -- building


def build_schedules(spec: DeploySpec) -> list[Any]:
    from mintaka.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    given = [opt for opt, value in (("cron", spec.cron), ("interval", spec.interval), ("rrule", spec.rrule)) if value]
    if len(given) > 1:
        raise InvalidRequest(f"Give one schedule: --{', --'.join(given)} are exclusive")
    try:
        if spec.cron:
            return [CronSchedule(cron=spec.cron, timezone=spec.timezone)]
        if spec.interval:
            return [
                IntervalSchedule(interval_seconds=spec.interval, anchor_date=spec.anchor_date, timezone=spec.timezone)
            ]
        if spec.rrule:
            return [RRuleSchedule(rrule=spec.rrule, timezone=spec.timezone)]
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc, prefix="schedule")) from None
    return []


def build_deployment(
    spec: DeploySpec,
    flow: Flow | None = None,
    on_upload: Callable[[str, bytes], None] | None = None,
) -> DeploymentCreate:
    """The deployment `spec` describes. S3 storage packages and uploads the project here
    (`on_upload(url, archive)` does the upload instead, e.g. with a progress bar)."""
    from mintaka.deployment_schemas import CodeStorage, DeploymentCreate

    path, attr = split_entrypoint(spec.entrypoint)
    file = Path(path).resolve()
    kind, url, branch = code_storage.parse_storage_spec(spec.storage)
    root = _project_root(file) if kind != "git" else (code_storage.git_toplevel(file.parent) or _project_root(file))
    dependencies = _lambda_dependencies(spec, root, kind, url)
    if flow is None:
        flow = _load_with_dependencies(spec.entrypoint, root, dependencies)
    parameters = check_parameters(flow, spec.parameters)
    entrypoint = f"{file.relative_to(root).as_posix()}:{attr}"
    if kind == "local":
        storage = CodeStorage(type="local", url=str(root))
    elif kind == "git":
        storage = CodeStorage(type="git", url=url, branch=branch)
    else:
        from mintaka.settings import get_settings

        archive = code_storage.package_project(root, exclude=[get_settings().home_path])
        target = code_storage.archive_url(url, f"{flow.name}-{spec.name}", archive)
        if on_upload is not None:
            on_upload(target, archive)
        else:
            code_storage.upload_archive(archive, target)
        storage = CodeStorage(type="s3", url=target)
    try:
        return DeploymentCreate(
            flow_name=flow.name,
            name=spec.name,
            entrypoint=entrypoint,
            storage=storage,
            parameters=parameters,
            parameter_schema=parameter_schema(flow),
            tags=spec.tags,
            work_queue_name=spec.work_queue,
            infrastructure=spec.infrastructure,
            schedules=build_schedules(spec),
            schedule_paused=spec.paused,
            description=spec.description or flow.description,
            version=spec.version or flow.version,
            retries=flow.retries,
            retry_delay_seconds=flow.retry_delay_list(),
            persist_results=spec.persist_results,
            dependencies=dependencies,
        )
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None


def _lambda_dependencies(spec: DeploySpec, root: Path, kind: str, url: str | None) -> str | None:
    """A Lambda deployment's requirements built into a zip on S3 next to its code (None: no
    requirements, or not a Lambda deployment: its executor's environment or image has them)."""
    from mintaka.dependencies import build_dependencies, find_requirements

    if spec.infrastructure != "lambda":
        if spec.requirements is not None:
            raise InvalidRequest(
                "--requirements is for Lambda deployments (--infra lambda): a process worker runs in its own "
                "environment, and Fargate's image is built from infra/Dockerfile with them"
            )
        return None
    requirements = find_requirements(root, spec.requirements)
    if requirements is None:
        return None
    if kind != "s3" or url is None:
        raise InvalidRequest(
            f"A Lambda deployment's requirements ({requirements.name}) are uploaded next to its code: "
            "deploy with --storage s3://BUCKET/PREFIX"
        )
    return build_dependencies(requirements, url)[0]


def _load_with_dependencies(entrypoint: str, root: Path, dependencies: str | None) -> Flow:
    """Import the flow to check it, with its built dependencies if any (they may be missing
    here), in a module namespace of its own: a run later in this process imports it afresh."""

    roots = [root]
    if dependencies is not None:
        from mintaka.dependencies import fetch_dependencies
        from mintaka.settings import get_settings

        roots.append(fetch_dependencies(dependencies, get_settings().home_path))
    with fresh_modules(*roots):
        return load_flow(entrypoint)


def apply(spec: DeploySpec, client: MintakaClient | None = None, **build_options: Any) -> Deployment:
    """Build the deployment and create or update it on the API."""
    from mintaka.client import get_client

    body = build_deployment(spec, **build_options)
    return (client or get_client()).upsert_deployment(body)


def deploy(flow: Flow, name: str, **options: Any) -> Deployment:
    """`my_flow.deploy(name="prod", parameters={...}, cron="0 9 * * *", ...)`: see `DeploySpec`."""
    entrypoint = options.pop("entrypoint", None) or _entrypoint_of(flow)
    spec = _spec(entrypoint=entrypoint, name=name, **options)
    return apply(spec, flow=flow)


def _entrypoint_of(flow: Flow) -> str:
    source = inspect.getsourcefile(flow.fn)
    if source is None:
        raise EntrypointError(f"Cannot tell which file defines flow {flow.name!r}; pass entrypoint='file.py:fn'")
    module = sys.modules.get(flow.fn.__module__)
    attr = next((k for k, v in vars(module).items() if v is flow), None) if module else None
    return f"{source}:{attr or flow.fn.__name__}"


def _project_root(file: Path) -> Path:
    """The current directory when it holds the file, else the file's own directory."""
    cwd = Path.cwd().resolve()
    return cwd if file.is_relative_to(cwd) else file.parent


def _spec(**fields: Any) -> DeploySpec:
    try:
        return DeploySpec(**fields)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None


def _describe(exc: ValidationError, prefix: str | None = None) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{prefix + ': ' if prefix else ''}{loc or 'value'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


# -- mintaka.yaml


def read_project_file(path: Path) -> list[DeploySpec]:
    """The deployments a `mintaka.yaml` lists (`deployments: [...]`, or a bare list)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InvalidRequest(f"No {path} here (it lists deployments for `mintaka deploy --all`)") from None
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{path} is not valid YAML: {exc}") from None
    entries = data.get("deployments") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise InvalidRequest(f"{path}: expected `deployments:` with a list of deployments")
    specs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidRequest(f"{path}: deployment #{index + 1} is not a mapping")
        entry = dict(entry)
        schedule = entry.pop("schedule", None) or {}
        if not isinstance(schedule, dict):
            raise InvalidRequest(f"{path}: deployment #{index + 1}: schedule must be a mapping (cron/interval/rrule)")
        try:
            specs.append(DeploySpec(**{**entry, **schedule}))
        except (ValidationError, TypeError) as exc:
            detail = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
            raise InvalidRequest(f"{path}: deployment #{index + 1} ({entry.get('name', '?')}): {detail}") from None
    return specs
