"""Server settings the operator sets for every client, e.g. where flows persist results."""

from fastapi import APIRouter

from mintaka_core.schemas import ResultStorageSetting

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/settings", tags=["settings"])


@operation(router, "read_result_storage")
def read_result_storage(service: Service) -> ResultStorageSetting | None:
    """The default result storage (`{"url": "s3://bucket/prefix"}`), or `null`: each client
    then persists to its own filesystem. The SDK writes the data itself, with its own credentials."""
    return service.read_result_storage()


@operation(router, "set_result_storage")
def set_result_storage(body: ResultStorageSetting, service: Service) -> ResultStorageSetting:
    return service.set_result_storage(body)


@operation(router, "clear_result_storage")
def clear_result_storage(service: Service) -> None:
    service.clear_result_storage()
