"""Tag concurrency limits: at most `limit` task runs carrying the tag are RUNNING at once."""

from fastapi import APIRouter, status

from mintaka_core.schemas import ConcurrencyLimit, ConcurrencyLimitCreate
from mintaka_server.services.dashboard import ConcurrencyLimitStatus

from ..deps import Service
from ..operation_routes import operation
from .dashboard import Dashboard

router = APIRouter(prefix="/concurrency_limits", tags=["concurrency limits"])


@operation(router, "set_concurrency_limit", status_code=status.HTTP_201_CREATED)
def set_concurrency_limit(body: ConcurrencyLimitCreate, service: Service) -> ConcurrencyLimit:
    """Create the tag's limit, or change it (slots already held are kept)."""
    return service.set_concurrency_limit(body)


@operation(router, "list_concurrency_limits")
def list_concurrency_limits(dashboard: Dashboard, service: Service) -> list[ConcurrencyLimitStatus]:
    """Every limit with the runs holding its slots (`holders`)."""
    return dashboard.with_holders(service.list_concurrency_limits())


@operation(router, "read_concurrency_limit")
def read_concurrency_limit(tag: str, dashboard: Dashboard, service: Service) -> ConcurrencyLimitStatus:
    return dashboard.with_holders([service.read_concurrency_limit(tag)])[0]


@operation(router, "delete_concurrency_limit")
def delete_concurrency_limit(tag: str, service: Service) -> None:
    service.delete_concurrency_limit(tag)
