"""Deployments, addressed as FLOW/NAME: upsert, read, list, delete, pause or resume their
schedules, and create runs of them."""

from fastapi import APIRouter, status

from mintaka_core.deployment_schemas import Deployment, DeploymentCreate, DeploymentRunCreate
from mintaka_core.schemas import FlowRun

from ..deps import Deployments
from ..operation_routes import operation

router = APIRouter(prefix="/deployments", tags=["deployments"])


@operation(router, "upsert_deployment")
def upsert_deployment(body: DeploymentCreate, deployments: Deployments) -> Deployment:
    """Create FLOW/NAME, or replace it (its id and creation time are kept). Its parameters are
    validated against `parameter_schema`."""
    return deployments.upsert_deployment(body)


@operation(router, "list_deployments")
def list_deployments(deployments: Deployments) -> list[Deployment]:
    return deployments.list_deployments()


@operation(router, "read_deployment")
def read_deployment(flow_name: str, name: str, deployments: Deployments) -> Deployment:
    return deployments.read_deployment(flow_name, name)


@operation(router, "delete_deployment")
def delete_deployment(flow_name: str, name: str, deployments: Deployments) -> None:
    """Remove the deployment and its schedules (runs already created are kept)."""
    deployments.delete_deployment(flow_name, name)


@operation(router, "pause_deployment_schedule")
def pause_schedule(flow_name: str, name: str, deployments: Deployments) -> Deployment:
    """No new scheduled runs until resumed (runs already scheduled stay)."""
    return deployments.set_deployment_schedule_paused(flow_name, name, paused=True)


@operation(router, "resume_deployment_schedule")
def resume_schedule(flow_name: str, name: str, deployments: Deployments) -> Deployment:
    return deployments.set_deployment_schedule_paused(flow_name, name, paused=False)


@operation(router, "create_deployment_run", status_code=status.HTTP_201_CREATED)
def create_deployment_run(flow_name: str, name: str, body: DeploymentRunCreate, deployments: Deployments) -> FlowRun:
    """A SCHEDULED run on the deployment's work queue (due now unless `scheduled_time`); its
    parameters override the deployment's. With a taken `idempotency_key`, the existing run."""
    return deployments.create_deployment_run(flow_name, name, body)
