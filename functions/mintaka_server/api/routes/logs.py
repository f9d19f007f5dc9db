"""Logs: written in batches (all of a batch, or none of it when any record is invalid)."""

from fastapi import APIRouter

from mintaka_core.schemas import LogCreate

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/logs", tags=["logs"])


@operation(router, "create_logs")
def create_logs(body: list[LogCreate], service: Service) -> None:
    service.create_logs(body)
