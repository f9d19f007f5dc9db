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

`trigger`, `worker` and `events` are the cloud path's entry points (issue 4), each turning its
event into calls on the services `mintaka_server.composition` builds once per container (the API
serves from the same ones):
- `trigger`: EventBridge Scheduler's payload → one run per schedule tick (idempotent on
  deployment + scheduled time) sent to its SQS work queue; `{"rrule_tick": true}` (every
  minute) → the due runs of rrule schedules, late runs marked, lost runs reaped.
- `worker`: an SQS batch of flow run ids → each run claimed and executed here or launched on
  Fargate (`RunWorker`); failures are reported per message (`batchItemFailures`), so a paused
  or full queue's messages come back later and the rest of the batch is done. A batch from a
  work queue's dead-letter queue ends the runs that never started CRASHED, with the reason.
  No task starts in the invocation's last MINTAKA_WORKER_DEADLINE_MARGIN seconds: the run goes
  back to SCHEDULED "Continuing", its message back to the queue, and the next invocation
  continues it by replay (`mintaka.engine.deadline`), so a flow may run past 15 minutes.
- `events`: an EventBridge event, or an SQS batch of messages → `DeploymentService.create_event`
  (one run per matching deployment, idempotent per event id).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric

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

    return Tracer(service=SERVICE, auto_patch=False)


class _Container:
    """What a Lambda container builds once, in its first invocation: the API adapter (Mangum
    around the FastAPI app over the configured store) and the traced call into it."""

    def __init__(self) -> None:
        from mangum import Mangum

        from mintaka_server.api import create_app
        from mintaka_server.api.auth import auth_required
        from mintaka_server.api.browser_guard import allowed_hosts
        from mintaka_server.composition import get_services

        tracer = _build_tracer()
        tracer.patch(["botocore"])  # X-Ray subsegments for DynamoDB/S3 calls
        # The container's one set of services (see mintaka_server.composition): deployments sync
        # their schedules to EventBridge Scheduler and send runs to SQS when the settings say so.
        services = get_services()
        # API keys are required on Lambda unless MINTAKA_API_AUTH=false (e.g. IAM auth at the gateway).
        # Any Host: API Gateway routes only requests for its own domains here; MINTAKA_SERVER_ALLOWED_HOSTS
        # (e.g. the custom domain) narrows that.
        self.app = create_app(
            services.orchestration,
            require_api_key=auth_required(default=True),
            deployments=services.deployments,
            hosts=allowed_hosts(default=("*",)),
        )
        if _on_lambda():
            _route_server_logs_to_powertools()
        # lifespan "off": Mangum would otherwise run startup *and shutdown* around every
        # invocation. The store lives as long as the container; Lambda freezes it in between.
        self.adapter = Mangum(self.app, lifespan="off")

        def serve_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.adapter(event, context)

        self.serve_api = tracer.capture_lambda_handler(serve_api, capture_response=False)
        self.cold_start_pending = True
        if _on_lambda():  # a container serves the API and nothing else; a test process keeps its GC
            from mintaka_server.gc_tuning import tune_for_serving

            tune_for_serving()


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

    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logging.getLogger("mintaka_server")  # make sure it is registered
    copy_config_to_registered_loggers(source_logger=logger, include={"mintaka_server"})


def _publish_cold_start(container: _Container, context: Any) -> None:
    if not container.cold_start_pending:
        return
    container.cold_start_pending = False

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


@logger.inject_lambda_context
def trigger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler → the run of this tick (or the rrule tick's runs), sent to SQS."""
    from mintaka_server._lambda_events import parse_trigger_event
    from mintaka_server.composition import get_services
    from mintaka_server.services.schedule_triggers import fire_schedule, minute_tick

    cloud = get_services()
    request = parse_trigger_event(event)
    if request.rrule_tick:
        fired = minute_tick(cloud.deployments_at(request.scheduled_time), cloud.deployments)
        if fired.late or fired.reaped:
            logger.warning(
                "%d run(s) marked Late, %d reaped (executor lost: crashed, or requeued)", fired.late, fired.reaped
            )
    else:
        fired = fire_schedule(
            cloud.deployments, request.deployment, request.schedule_index, request.scheduled_time, request.attempt
        )
    if fired.skipped:
        logger.info("Schedule tick skipped: %s", fired.skipped)
    answer = {"flow_run_ids": [str(run.id) for run in fired.runs], "skipped": fired.skipped}
    logger.info("Schedule tick at %s", request.scheduled_time.isoformat(), extra=answer)
    return answer


@logger.inject_lambda_context
def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS batch of flow runs → each claimed and run (or launched); partial failures reported."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from mintaka.engine.deadline import execution_deadline
    from mintaka_server.composition import CloudMisconfigured
    from mintaka_server.execution.through_api import worker_services
    from mintaka_server.queues.sqs import is_dead_letter_queue
    from mintaka_server.services.run_worker import RetryLater

    # With MINTAKA_API_URL (the template's worker), through the API: flow code runs with a role
    # that holds no right on the table.
    cloud = worker_services()
    from_record = getattr(cloud.queues, "message_from_record", None)
    if from_record is None:
        raise CloudMisconfigured("The worker function reads SQS work queues: set MINTAKA_WORK_QUEUES=sqs")

    def handle(record: Any) -> None:
        message = from_record(record.raw_event)
        if is_dead_letter_queue(record.raw_event["eventSourceARN"]):
            outcome = cloud.worker.dead_lettered(message)
            log = logger.error if outcome.action == "crashed" else logger.warning
            log("Flow run %s dead-lettered: %s", message.flow_run_id, outcome.detail)
            return
        try:
            outcome = cloud.worker.process(message)
        except RetryLater as exc:
            logger.info("Flow run %s comes back in %.0f s: %s", message.flow_run_id, exc.delay, exc)
            raise
        except Exception:
            logger.exception("Flow run %s could not be processed", message.flow_run_id)
            raise
        logger.info("Flow run %s %s: %s", outcome.flow_run_id, outcome.action, outcome.detail)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with execution_deadline(_time_to_work(context)):
        return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def _time_to_work(context: Any) -> float | None:
    """Seconds this invocation may start tasks for: its remaining time minus the margin
    (MINTAKA_WORKER_DEADLINE_MARGIN) kept for the task running then and the bookkeeping after;
    at most half the remaining time, so a short function timeout still makes progress."""
    from mintaka_server.server_settings import get_server_settings

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    seconds = remaining() / 1000
    return seconds - min(get_server_settings().worker_deadline_margin, seconds / 2)


@logger.inject_lambda_context
def events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge rule events and SQS messages → event-triggered runs (idempotent per event id)."""
    from mintaka_server._lambda_events import event_from_eventbridge, event_from_sqs_record
    from mintaka_server.composition import get_services

    deployments = get_services().deployments
    if "Records" not in event:
        result = deployments.create_event(event_from_eventbridge(event))
        return {"flow_run_ids": [str(run_id) for run_id in result.flow_run_ids]}

    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record: Any) -> None:
        result = deployments.create_event(event_from_sqs_record(record.raw_event))
        logger.info("Event %s: %d flow run(s)", record.message_id, len(result.flow_run_ids))

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def reset() -> None:
    """Drop the container's app, cloud services and store and forget cached settings, so the
    next invocation builds everything again from the environment. For tests; Lambda never calls it."""
    global _container
    _container = None  # its services are the container's: reset_services closes their store
    from mintaka.settings import reset_settings

    from .composition import reset_services
    from .server_settings import reset_server_settings

    reset_services()
    reset_settings()
    reset_server_settings()
