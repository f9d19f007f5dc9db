"""Service layer shared by the API routers and the SDK's embedded transport."""

from .api_keys import ApiKeyService
from .orchestration import OrchestrationService

__all__ = ["ApiKeyService", "OrchestrationService"]
