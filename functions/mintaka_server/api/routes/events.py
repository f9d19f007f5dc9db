"""Events: each creates one run per deployment whose trigger matches (idempotent per event id)."""

from fastapi import APIRouter

from mintaka_core.deployment_schemas import EventCreate, EventResult

from ..deps import Deployments
from ..operation_routes import operation

router = APIRouter(prefix="/events", tags=["events"])


@operation(router, "create_event")
def create_event(body: EventCreate, deployments: Deployments) -> EventResult:
    """The runs this event made (or made before, when delivered again), one per matching deployment."""
    return deployments.create_event(body)
