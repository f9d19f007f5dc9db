"""Running a deployment's flow run in this process (the Lambda worker), with the same executor
as `mintaka flow-run execute`, the SDK talking to this container's services directly: no HTTP,
and the run's states and logs go to the same store."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from mintaka.client import set_client
from mintaka.logging import flush_logs
from mintaka_server.embedded import EmbeddedTransport

if TYPE_CHECKING:
    from mintaka.engine.deployed import Execution
    from mintaka_server.services import OrchestrationService
    from mintaka_server.services.deployments import DeploymentService


class ServiceClient(EmbeddedTransport):
    """The embedded transport over services this process already holds (any store adapter),
    instead of opening a SQLite file. The services belong to the caller: `close` keeps them."""

    def __init__(self, service: OrchestrationService, deployments: DeploymentService):
        self.service = service
        self.deployments = deployments

    def close(self) -> None:
        return None


def execute_in_process(
    run_id: uuid.UUID, service: OrchestrationService, deployments: DeploymentService, claim: str | None = None
) -> Execution:
    """Run the flow run here; the SDK's process-wide client is this container's services for
    the duration, and the run's logs are flushed before returning."""
    from mintaka.engine.deployed import execute_flow_run

    client = ServiceClient(service, deployments)
    previous = set_client(client)
    try:
        return execute_flow_run(run_id, client, claim=claim)
    finally:
        flush_logs()
        set_client(previous)
