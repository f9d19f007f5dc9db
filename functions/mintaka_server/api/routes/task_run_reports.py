"""Task-run reports in batches: plain task runs' starts and ends, reported write-behind."""

from fastapi import APIRouter, Response

from mintaka_core.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka_server.services.batch_reports import TaskRunReporting

from ..deps import Service
from ..json_body import json_body, json_body_openapi
from ..operation_routes import operation

router = APIRouter(prefix="/task_runs", tags=["task runs"])


@operation(
    router, "report_task_runs", response_model=TaskRunReportsResult, openapi_extra=json_body_openapi(TaskRunReports)
)
def report_task_runs(service: Service, body: TaskRunReports = json_body(TaskRunReports)) -> Response:
    """Apply task-run reports of one flow run in order, through the same rules as the single
    calls; one answer per report. A bad batch is refused whole (4xx) and writes nothing."""
    # A thousand answers: rendered by pydantic at once, not checked again and re-encoded by FastAPI.
    answer = TaskRunReporting(service).apply(body)
    return Response(answer.model_dump_json(), media_type="application/json")
