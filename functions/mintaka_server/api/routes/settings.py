"""Server settings the operator sets for every client, e.g. where flows persist results."""

from fastapi import APIRouter, Response, status

from mintaka_core.schemas import ResultStorageSetting

from ..deps import Service

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("/result-storage")
def read_result_storage(service: Service) -> ResultStorageSetting | None:
    """The default result storage (`{"url": "s3://bucket/prefix"}`), or `null`: each client
    then persists to its own filesystem. The SDK writes the data itself, with its own credentials."""
    return service.read_result_storage()


@router.put("/result-storage")
def set_result_storage(body: ResultStorageSetting, service: Service) -> ResultStorageSetting:
    return service.set_result_storage(body)


@router.delete("/result-storage", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def clear_result_storage(service: Service) -> None:
    service.clear_result_storage()
