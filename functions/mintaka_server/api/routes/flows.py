"""Flows: named, created on first use."""

from fastapi import APIRouter, status

from mintaka_core.schemas import Flow, FlowCreate

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/flows", tags=["flows"])


@operation(router, "create_flow", status_code=status.HTTP_201_CREATED)
def create_flow(body: FlowCreate, service: Service) -> Flow:
    """The flow with this name (created if it does not exist yet)."""
    return service.create_flow(body)


@operation(router, "list_flows")
def list_flows(service: Service) -> list[Flow]:
    return service.list_flows()
