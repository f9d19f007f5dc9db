"""FastAPI dependencies as `Annotated` aliases: a route asks for `Service` and gets the app's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mintaka_server.services import OrchestrationService


def get_service(request: Request) -> OrchestrationService:
    return request.app.state.service


Service = Annotated[OrchestrationService, Depends(get_service)]
