"""Lambda entry points. Each one only turns an event into calls on the app or a service.

`api` serves the orchestration API behind API Gateway (HTTP API, payload v2): the FastAPI app
wrapped by Mangum, built once per container on the first invocation and reused by every warm
one. Every route but `GET /api/health` needs an API key (`Authorization: Bearer mk_…`) unless
`MINTAKA_API_AUTH=false`, for deployments that authenticate at the gateway (IAM/SigV4).

Importing this module is cheap on purpose (the cold-start budget counts it): FastAPI, Mangum,
pydantic models, the store adapter and aws-xray-sdk load inside that first invocation.

Observability (aws-lambda-powertools):
- `Logger`: JSON lines carrying the Lambda context and the API Gateway request id as
  `correlation_id`; on Lambda the server's own `mintaka_server.*` records (e.g. an unhandled
  error's traceback) go through it too.
- Metrics: one `ColdStart` EMF metric per container. API Gateway already counts requests, 4xx
  and 5xx, and Lambda its errors, throttles and durations; the template alarms on those.
- `Tracer`: X-Ray segments for the handler and subsegments for botocore calls, only on Lambda
  with tracing on (`POWERTOOLS_TRACE_DISABLED` unset/false) and aws-xray-sdk installed;
  everywhere else a no-op that imports nothing.

The trigger, worker and reaper entry points (issue 4) go beside `api`, each as thin as it is.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

# Never a Python package name: Powertools names its `logging` logger after the service, and
# "mintaka" would take over the SDK's logger.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "mintaka-server")
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Mintaka")

logger = Logger(service=SERVICE)


def _on_lambda() -> bool:
    """In a Lambda container (or `sam local`, which emulates one)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _tracing_enabled() -> bool:
    """On Lambda, unless POWERTOOLS_TRACE_DISABLED says no; never under `sam local` (no X-Ray daemon)."""
    flag = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower()
    return _on_lambda() and not os.environ.get("AWS_SAM_LOCAL") and flag not in {"1", "true", "yes", "on"}


class _NoTracer:
    """Stands in for Powertools' Tracer when tracing is off: nothing to import, nothing to send."""

    def capture_lambda_handler(self, handler: Callable, **_: Any) -> Callable:
        return handler

    def patch(self, modules: Any = None) -> None:
        return None


def _build_tracer() -> Any:
    """Powertools' Tracer, or `_NoTracer` when tracing is off or aws-xray-sdk is missing.

    Built in the first invocation, not at import: importing aws-xray-sdk costs ~0.3 s, which only
    containers that trace should pay."""
    if not _tracing_enabled() or importlib.util.find_spec("aws_xray_sdk") is None:
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, auto_patch=False)


class _Container:
    """What a Lambda container builds once, in its first invocation: the API adapter (Mangum
    around the FastAPI app over the configured store) and the traced call into it."""

    def __init__(self) -> None:
        from mangum import Mangum

        from mintaka_server.api import create_app
        from mintaka_server.api.auth import auth_required
        from mintaka_server.config import build_store
        from mintaka_server.services import OrchestrationService

        tracer = _build_tracer()
        tracer.patch(["botocore"])  # X-Ray subsegments for DynamoDB/S3 calls
        # API keys are required on Lambda unless MINTAKA_API_AUTH=false (e.g. IAM auth at the gateway).
        self.app = create_app(OrchestrationService(build_store()), require_api_key=auth_required(default=True))
        if _on_lambda():
            _route_server_logs_to_powertools()
        # lifespan "off": Mangum would otherwise run startup *and shutdown* around every
        # invocation. The store lives as long as the container; Lambda freezes it in between.
        self.adapter = Mangum(self.app, lifespan="off")

        def serve_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.adapter(event, context)

        self.serve_api = tracer.capture_lambda_handler(serve_api, capture_response=False)
        self.cold_start_pending = True

    def close(self) -> None:
        self.app.state.service.store.close()


_container: _Container | None = None


def get_container() -> _Container:
    """This container's app and adapters, built on first use."""
    global _container
    if _container is None:
        _container = _Container()
    return _container


def _route_server_logs_to_powertools() -> None:
    """Send `mintaka_server.*` records through the Powertools handler (JSON, correlation id).
    Only on Lambda: it takes over that logger's handlers."""
    import logging

    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logging.getLogger("mintaka_server")  # make sure it is registered
    copy_config_to_registered_loggers(source_logger=logger, include={"mintaka_server"})


def _publish_cold_start(container: _Container, context: Any) -> None:
    if not container.cold_start_pending:
        return
    container.cold_start_pending = False
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="ColdStart", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="function_name", value=str(getattr(context, "function_name", "unknown")))
        metric.add_dimension(name="service", value=SERVICE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload v2) → the orchestration API → the v2 response dict."""
    container = get_container()
    try:
        return container.serve_api(event, context)
    finally:
        _publish_cold_start(container, context)


def reset() -> None:
    """Drop the container's app and store and forget cached settings, so the next invocation
    builds everything again from the environment. For tests; Lambda never calls it."""
    global _container
    container, _container = _container, None
    if container is not None:
        container.close()
    from mintaka.settings import reset_settings

    from .server_settings import reset_server_settings

    reset_settings()
    reset_server_settings()
