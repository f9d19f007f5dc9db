"""Task-run reports in batches: plain task runs' starts and ends, reported write-behind."""

from fastapi import APIRouter

from mintaka_core.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka_server.services.batch_reports import TaskRunReporting

from ..deps import Service
from ..operation_routes import operation

router = APIRouter(prefix="/task_runs", tags=["task runs"])


@operation(router, "report_task_runs")
def report_task_runs(body: TaskRunReports, service: Service) -> TaskRunReportsResult:
    """Apply task-run reports of one flow run in order, through the same rules as the single
    calls; one answer per report. A bad batch is refused whole (4xx) and writes nothing."""
    return TaskRunReporting(service).apply(body)
