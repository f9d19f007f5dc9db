"""Logs: written in batches (all of a batch, or none of it when any record is invalid)."""

from fastapi import APIRouter, Response, status

from mintaka_core.schemas import LogCreate

from ..deps import Service

router = APIRouter(prefix="/logs", tags=["logs"])


@router.post("", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def create_logs(body: list[LogCreate], service: Service) -> None:
    service.create_logs(body)
