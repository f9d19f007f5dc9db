"""Events: each creates one run per deployment whose trigger matches (idempotent per event id)."""

from fastapi import APIRouter

from mintaka_core.deployment_schemas import EventCreate, EventResult

from ..deps import Deployments

router = APIRouter(prefix="/events", tags=["events"])


@router.post("")
def create_event(body: EventCreate, deployments: Deployments) -> EventResult:
    """The runs this event made (or made before, when delivered again), one per matching deployment."""
    return deployments.create_event(body)
