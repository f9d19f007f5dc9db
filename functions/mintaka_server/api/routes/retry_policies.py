"""Retry policies set on the server, per flow, deployment (`FLOW/NAME`) or tag: the rules read
them when a run fails, so retries change without redeploying code."""

from fastapi import APIRouter

from mintaka_core.schemas import PolicyScope, RetryPolicy, RetryPolicySet

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/retry_policies", tags=["retry policies"])


@operation(router, "list_retry_policies")
def list_retry_policies(service: Service) -> list[RetryPolicy]:
    return service.list_retry_policies()


@operation(router, "set_retry_policy")
def set_retry_policy(scope: PolicyScope, name: str, body: RetryPolicySet, service: Service) -> RetryPolicy:
    """Create or replace the policy for the runs of a flow, of a deployment, or with a tag."""
    return service.set_retry_policy(scope, name, body)


@operation(router, "read_retry_policy")
def read_retry_policy(scope: PolicyScope, name: str, service: Service) -> RetryPolicy:
    return service.read_retry_policy(scope, name)


@operation(router, "delete_retry_policy")
def delete_retry_policy(scope: PolicyScope, name: str, service: Service) -> None:
    """Runs in scope follow their code's (or deployment's) retries again."""
    service.delete_retry_policy(scope, name)
