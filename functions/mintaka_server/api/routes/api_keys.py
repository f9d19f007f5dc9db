"""API keys: create (the secret is in this answer only), list, revoke."""

from fastapi import APIRouter, status

from mintaka_core.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/api_keys", tags=["api keys"])


@operation(router, "create_api_key", status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, service: Service) -> ApiKeyCreated:
    """A new key. Its secret (`key`) is shown once, here; the server keeps only a hash."""
    return service.create_api_key(body)


@operation(router, "list_api_keys")
def list_api_keys(service: Service) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (ids and names, never secrets)."""
    return service.list_api_keys()


@operation(router, "revoke_api_key")
def revoke_api_key(key_id: str, service: Service) -> None:
    """Revoke the key: requests carrying it get 401 from now on."""
    service.revoke_api_key(key_id)
