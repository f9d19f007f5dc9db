"""Service layer shared by the API routers and the SDK's embedded transport."""

from .orchestration import OrchestrationService

__all__ = ["OrchestrationService"]
