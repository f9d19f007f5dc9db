"""Retry policies set on the server, per flow, deployment (`FLOW/NAME`) or tag: the rules read
them when a run fails, so retries change without redeploying code."""

from fastapi import APIRouter, Response, status

from mintaka_core.schemas import PolicyScope, RetryPolicy, RetryPolicySet

from ..deps import Service

router = APIRouter(prefix="/retry_policies", tags=["retry policies"])


@router.get("")
def list_retry_policies(service: Service) -> list[RetryPolicy]:
    return service.list_retry_policies()


@router.put("/{scope}/{name:path}")
def set_retry_policy(scope: PolicyScope, name: str, body: RetryPolicySet, service: Service) -> RetryPolicy:
    """Create or replace the policy for the runs of a flow, of a deployment, or with a tag."""
    return service.set_retry_policy(scope, name, body)


@router.get("/{scope}/{name:path}")
def read_retry_policy(scope: PolicyScope, name: str, service: Service) -> RetryPolicy:
    return service.read_retry_policy(scope, name)


@router.delete("/{scope}/{name:path}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_retry_policy(scope: PolicyScope, name: str, service: Service) -> None:
    """Runs in scope follow their code's (or deployment's) retries again."""
    service.delete_retry_policy(scope, name)
