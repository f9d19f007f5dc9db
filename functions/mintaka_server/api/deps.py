"""FastAPI dependencies as `Annotated` aliases: a route asks for `Service` (or
`Deployments`, or `Caller`: the API key that called) and gets the app's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from mintaka_core.schemas import ApiKey, ApiKeyScope, SetStateRequest
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService

from .scopes import scope_refusal


def get_service(request: Request) -> OrchestrationService:
    return request.app.state.service


Service = Annotated[OrchestrationService, Depends(get_service)]


def get_deployments(request: Request) -> DeploymentService:
    return request.app.state.deployments


Deployments = Annotated[DeploymentService, Depends(get_deployments)]


def get_caller(request: Request) -> ApiKey | None:
    """The key this request carried; None on an app that requires no keys (anyone may do anything)."""
    return request.scope.get("state", {}).get("api_key")


Caller = Annotated[ApiKey | None, Depends(get_caller)]


def require_force(caller: ApiKey | None, body: SetStateRequest) -> None:
    """`force=True` skips the rules (e.g. moves a COMPLETED run back to RUNNING): `admin` keys only."""

    if body.force and caller is not None and not caller.scope.allows(ApiKeyScope.admin):
        raise HTTPException(
            403, detail=scope_refusal(caller.scope, ApiKeyScope.admin, "a state proposal with force=true")
        )
