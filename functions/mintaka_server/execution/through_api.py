"""The Lambda worker without the control plane's rights: every read and write goes through the
orchestration API with an API key, the way a Fargate task's `mintaka flow-run execute` reports.

User flow code runs inside the worker function, so the worker's IAM role is what that code may
do. With `MINTAKA_API_URL` set (template.yaml sets it on WorkerFunction, whose role has no
DynamoDB rights at all), the worker handler takes its `RunWorker` from `worker_services()`:
the same consumer (claim once, paused and full queues, Fargate launches), over `ApiControl`,
which answers `RunWorker`'s calls with API requests, and the flow runs with the HTTP client.

The key comes from `MINTAKA_API_KEY`, or from the Secrets Manager secret that
`MINTAKA_API_KEY_SECRET_ARN` names (read once per container; the template's stack creates a
`write`-scoped key there, see `mintaka_server.stack_api_key`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mintaka.client import set_client
from mintaka.client.http import HttpTransport
from mintaka.logging import flush_logs
from mintaka_core.exceptions import ObjectNotFound
from mintaka_core.states import utcnow

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.engine.deployed import Execution
    from mintaka_core.deployment_schemas import WorkQueue
    from mintaka_core.schemas import ConcurrencyLimit, FlowRun, OrchestrationResult, SetStateRequest, State
    from mintaka_server.queues import WorkQueuePort
    from mintaka_server.server_settings import ServerSettings
    from mintaka_server.services.run_worker import RunWorker


class _ApiLimits:
    """The one store read `RunWorker` makes (a work queue's slot usage), as API reads."""

    def __init__(self, client: MintakaClient):
        self.client = client

    def read_concurrency_limits(self, tags: list[str]) -> dict[str, ConcurrencyLimit]:
        found = {}
        for tag in tags:
            try:
                found[tag] = self.client.read_concurrency_limit(tag)
            except ObjectNotFound:
                continue
        return found


@dataclass
class ApiControl:
    """Stands in for the `OrchestrationService` and `DeploymentService` a `RunWorker` is given,
    answering each call it makes with the API client instead of the store."""

    client: MintakaClient
    clock: Any = utcnow
    store: _ApiLimits = field(init=False)

    def __post_init__(self) -> None:
        self.store = _ApiLimits(self.client)

    @property
    def orchestration(self) -> ApiControl:
        return self

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun:
        return self.client.read_flow_run(run_id)

    def read_flow_run_states(self, run_id: uuid.UUID) -> list[State]:
        return self.client.read_flow_run_states(run_id)

    def set_flow_run_state(self, run_id: uuid.UUID, request: SetStateRequest) -> OrchestrationResult:
        return self.client.set_flow_run_state(run_id, request)

    def read_work_queue(self, name: str) -> WorkQueue:
        return self.client.read_work_queue(name)


def execute_through_api(
    run_id: uuid.UUID, control: ApiControl, _deployments: Any, claim: str | None = None
) -> Execution:
    """Run the flow run with the API client (what `RunWorker` calls in place of
    `execute_in_process`): in a child process this one heartbeats for
    (`MINTAKA_WORKER_CHILD_PROCESS`, the default), else here with the API client as the
    process-wide client; its logs are flushed before returning."""
    from mintaka.engine.deployed import execute_flow_run
    from mintaka_server.server_settings import get_server_settings

    client = control.client
    if get_server_settings().worker_child_process and isinstance(client, HttpTransport):
        from mintaka.engine.child_execution import execute_in_child

        return execute_in_child(run_id, client, api_url=client.api_url, api_key=client.api_key, claim=claim)
    previous = set_client(control.client)
    try:
        return execute_flow_run(run_id, control.client, claim=claim)
    finally:
        flush_logs()
        set_client(previous)


@dataclass
class ApiWorkerServices:
    """What the worker handler uses (`queues`, `worker`), with no store behind them."""

    settings: ServerSettings
    client: MintakaClient
    queues: WorkQueuePort
    worker: RunWorker

    def close(self) -> None:
        self.client.close()


def api_key(settings: ServerSettings) -> str | None:
    """`MINTAKA_API_KEY`, else the value of the secret `MINTAKA_API_KEY_SECRET_ARN` names."""
    if settings.api_key or not settings.api_key_secret_arn:
        return settings.api_key
    from mintaka._aws import aws_client

    secrets = aws_client("secretsmanager", settings.aws_region, settings.aws_endpoint_url)
    return secrets.get_secret_value(SecretId=settings.api_key_secret_arn)["SecretString"].strip()


def build_api_worker(settings: ServerSettings, clock: Any = None) -> ApiWorkerServices:
    """The worker over the API at `settings.api_url` (SQS work queues, Fargate if configured)."""
    from mintaka_server.composition import build_launcher, build_work_queues
    from mintaka_server.services.run_worker import RunWorker

    client = HttpTransport(
        settings.api_url,
        api_key=api_key(settings),
        timeout=settings.api_timeout,
        outage_tolerance=settings.api_outage_tolerance,
    )
    control = ApiControl(client, clock or utcnow)
    queues = build_work_queues(settings, store=None)  # type: ignore[arg-type]  # SQS needs no store
    worker = RunWorker(
        control,  # type: ignore[arg-type]
        queues,
        launcher=build_launcher(settings),
        execute=execute_through_api,
        clock=control.clock,
    )
    return ApiWorkerServices(settings, client, queues, worker)


_api_worker: ApiWorkerServices | None = None


def worker_services() -> Any:
    """The worker handler's services: over the API when `MINTAKA_API_URL` is set, else the
    container's shared services (`composition.get_services()`, straight on the store)."""
    global _api_worker
    from mintaka_server.composition import get_services
    from mintaka_server.server_settings import get_server_settings

    settings = get_server_settings()
    if not settings.api_url:
        return get_services()
    if _api_worker is None or _api_worker.settings is not settings:  # settings reset: build anew
        if _api_worker is not None:
            _api_worker.close()
        _api_worker = build_api_worker(settings)
    return _api_worker
