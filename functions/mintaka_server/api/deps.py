"""FastAPI dependencies as `Annotated` aliases: a route asks for `Service` (or
`Deployments`) and gets the app's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService


def get_service(request: Request) -> OrchestrationService:
    return request.app.state.service


Service = Annotated[OrchestrationService, Depends(get_service)]


def get_deployments(request: Request) -> DeploymentService:
    return request.app.state.deployments


Deployments = Annotated[DeploymentService, Depends(get_deployments)]
