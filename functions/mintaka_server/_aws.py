"""boto3 clients built from the server settings: endpoint (moto, LocalStack) and region from
`ServerSettings`, botocore's standard retry mode. Callers build a client once per container and
keep it; nothing here runs at import time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server_settings import ServerSettings


def aws_client(service: str, settings: ServerSettings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    return boto3.session.Session().client(
        service, endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region, config=config
    )


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore `ClientError` ("" for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
