"""API keys: create (the secret is in this answer only), list, revoke."""

from fastapi import APIRouter, Response, status

from mintaka_core.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated

from ..deps import Service

router = APIRouter(prefix="/api_keys", tags=["api keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, service: Service) -> ApiKeyCreated:
    """A new key. Its secret (`key`) is shown once, here; the server keeps only a hash."""
    return service.create_api_key(body)


@router.get("")
def list_api_keys(service: Service) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (ids and names, never secrets)."""
    return service.list_api_keys()


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_api_key(key_id: str, service: Service) -> None:
    """Revoke the key: requests carrying it get 401 from now on."""
    service.revoke_api_key(key_id)
