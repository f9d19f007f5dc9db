"""The HTTP transport: the client interface over httpx to a Mintaka API (`MINTAKA_API_URL`).

One `httpx.Client` per transport (connections are reused; safe to share between threads).
Errors are translated here and only here: 401/403 → `Unauthorized`, 404 → `ObjectNotFound`,
409 → `Conflict`, other 4xx → `InvalidRequest` (with the server's `detail`), unreachable →
`ApiUnavailable`.

Outages are ridden out (`retrying`): a request that never reached the server (connect error)
is always retried; timeouts, dropped connections, 429 and 502/503/504 answers only for calls
that are safe to repeat (reads, upserts, creates the server deduplicates, state proposals and
log records carrying an idempotency key). Retries go on with backoff and jitter while the API
has been away for less than the outage tolerance (`MINTAKA_API_OUTAGE_TOLERANCE`), then
`ApiOutageExceeded`; `retries=N` caps the attempts instead (for callers that want an answer
now). A flow run is always created under an idempotency key (a fresh one unless the caller
chose it), so a retried create never makes two runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from mintaka.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka.exceptions import (
    ApiOutageExceeded,
    ApiUnavailable,
    InvalidRequest,
    MintakaError,
    ObjectNotFound,
    Unauthorized,
    error_for_status,
)
from mintaka.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ConcurrencyLimit,
    ConcurrencyLimitCreate,
    Flow,
    FlowCreate,
    FlowRun,
    FlowRunCreate,
    FlowRunDetail,
    FlowRunFilter,
    FlowRunPage,
    FlowRunResume,
    Log,
    LogCreate,
    OrchestrationResult,
    PolicyScope,
    ResultStorageSetting,
    RetryPolicy,
    RetryPolicySet,
    SetStateRequest,
    SetStateStatus,
    TaskRun,
    TaskRunCreate,
)
from mintaka.states import State, StateType

from .base import MintakaClient
from .http_deployments import HttpDeploymentMixin
from .operations import OPS
from .retrying import OUTAGE_STATUS, Backoff, Outage, parse_retry_after, retry_cap

T = TypeVar("T")

UNAVAILABLE_STATUS = frozenset({502, 503, 504})
DEFAULT_OUTAGE_TOLERANCE = 300.0
SERVER_ERROR_RETRIES = 3  # a 500 is a fault, not an outage: retried a few times only

_FLOWS = TypeAdapter(list[Flow])
_STATES = TypeAdapter(list[State])
_LOGS = TypeAdapter(list[Log])
_LIMITS = TypeAdapter(list[ConcurrencyLimit])
_LOG_BATCH = TypeAdapter(list[LogCreate])
# Log lines go in requests of at most this size: under the smallest body limit a server may set
# (MINTAKA_SERVER_MAX_BODY_BYTES >= 1 MiB), and one line (at most 100,000 characters) always fits.
MAX_LOG_REQUEST_BYTES = 1024 * 1024
_API_KEYS = TypeAdapter(list[ApiKey])
_RESULT_STORAGE = TypeAdapter(ResultStorageSetting | None)
_RETRY_POLICIES = TypeAdapter(list[RetryPolicy])
# Calls that never wait for task-run reports written behind (`write_behind`): they read or write
# nothing the reports change (the flow run's summary holds no task runs). Calls on one task run
# wait only for that run's reports; a flow run's RUNNING waits for none (a revival); any other
# call sends every report first, so what it reads or decides includes them.
_INDEPENDENT_OF_REPORTS = frozenset(
    {"report_task_runs", "create_logs", "heartbeat_flow_run", "heartbeat_task_run", "read_flow_run"}
)
_ONE_TASK_RUN = frozenset({"set_task_run_state", "read_task_run", "read_task_run_states"})


class HttpTransport(HttpDeploymentMixin, MintakaClient):
    """Talks to a Mintaka API at `api_url` (e.g. `http://127.0.0.1:4200/api`)."""

    def __init__(
        self,
        api_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int | None = None,
        backoff_seconds: float = 0.5,
        outage_tolerance: float = DEFAULT_OUTAGE_TOLERANCE,
        write_behind: bool = False,
        journal_dir: Path | None = None,
    ):
        """`retries`: at most that many retries of a call (None: as long as the outage window lasts).
        `write_behind`: plain task runs' starts and ends are reported in batches (`write_behind`),
        journaled under `journal_dir` until the API took them."""
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        if httpx.URL(self.api_url).scheme not in ("http", "https"):
            raise InvalidRequest(f"The API URL must start with http:// or https:// (got {api_url!r})")
        self.retries = retries
        self.outage = Outage(self.api_url, outage_tolerance, Backoff(first=backoff_seconds))
        headers = {"Accept": "application/json", "User-Agent": "mintaka-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.api_url + "/", headers=headers, timeout=timeout)
        self._summary_route = True  # False once the API turned out to predate GET flow_runs/{id}/summary
        self.reports = None
        if write_behind:
            from .write_behind import ReportJournal, TaskRunReporter

            journal = ReportJournal(journal_dir, self.api_url) if journal_dir is not None else None
            self.reports = TaskRunReporter(self._send_reports, self._propose_task_run_state, journal)

    # -- plumbing
    def _request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | bytes | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> httpx.Response:
        content = body.model_dump_json().encode() if isinstance(body, BaseModel) else body
        # Bodiless writes too: the server refuses writes a web page could forge cross-site (browser_guard).
        headers = {"Content-Type": "application/json"} if content is not None or method != "GET" else None
        retries = self.retries if self.retries is not None else retry_cap()
        server_error_retries = SERVER_ERROR_RETRIES if retries is None else min(retries, SERVER_ERROR_RETRIES)
        attempt = 0
        while True:
            retry_after = cause = None
            try:
                response = self._http.request(method, path, content=content, params=params, headers=headers)
            except httpx.TransportError as exc:
                # A request that never reached the server (connect error) is always safe to repeat.
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                error = ApiUnavailable(
                    f"Cannot reach the Mintaka API at URL: {self.api_url} ({exc})"
                    if never_sent
                    else f"Lost the connection to the Mintaka API at URL: {self.api_url} ({type(exc).__name__}: {exc})"
                )
                cause = exc
                if not (never_sent or idempotent):
                    raise error from exc
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                status = response.status_code
                if status == 500 and idempotent and attempt < server_error_retries:
                    time.sleep(self.outage.backoff.delay(attempt))
                    attempt += 1
                    continue
                if not (idempotent and status in OUTAGE_STATUS):
                    self.outage.answered()
                    return _raise_for_status(response, self.api_url)
                reason = f"{status} {response.reason_phrase}".strip()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = None
            if retries is not None and attempt >= retries:
                if error is None:
                    return _raise_for_status(response, self.api_url)
                raise error from cause
            try:
                delay = self.outage.next_delay(attempt, reason, retry_after, quiet=retries is not None)
            except ApiOutageExceeded as exceeded:
                raise exceeded from cause
            time.sleep(delay)
            attempt += 1

    def _call(
        self,
        operation: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        **path: Any,
    ) -> httpx.Response:
        """The operation's request (`operations.OPS`: method, path, whether a retry is safe),
        `path` filling its path parameters. `idempotent` is for bodies sent pre-encoded."""
        op = OPS[operation]
        if self.reports is not None and self._waits_for_reports(operation, body, path):
            self.reports.flush()
        if idempotent is None:
            idempotent = op.is_idempotent(body)
        return self._request(op.method, op.url(**path), body=body, params=params, idempotent=idempotent)

    def _waits_for_reports(self, operation: str, body: Any, path: dict[str, Any]) -> bool:
        if operation in _INDEPENDENT_OF_REPORTS:
            return False
        if operation in _ONE_TASK_RUN:
            return self.reports.has_unsent(path["run_id"])
        if operation == "set_flow_run_state":
            return body.state.type is not StateType.RUNNING
        return True

    def _send_reports(self, body: bytes) -> TaskRunReportsResult:
        response = self._call("report_task_runs", body, idempotent=True)
        return TaskRunReportsResult.model_validate_json(response.content)

    def _propose_task_run_state(self, run_id: uuid.UUID, state: State) -> object:
        from mintaka.engine.propose import propose

        return propose(self, "task_run", run_id, state)

    def close(self) -> None:
        if self.reports is not None:
            self.reports.close(timeout=5)
        self._http.close()

    # -- flows
    def create_flow(self, body: FlowCreate) -> Flow:
        return Flow.model_validate_json(self._call("create_flow", body).content)

    def list_flows(self) -> list[Flow]:
        return _FLOWS.validate_json(self._call("list_flows").content)

    # -- flow runs
    def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        if body.idempotency_key is None:  # every attempt of this call carries the same key
            body = body.model_copy(update={"idempotency_key": uuid.uuid4().hex})
        run = FlowRun.model_validate_json(self._call("create_flow_run", body).content)
        if self.reports is not None and run.state_type is StateType.RUNNING and run.run_count == 1:
            self.reports.flow_run_running(run.id, created=True)
        return run

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun:
        # The run alone: its history and task runs (which grow with the run) are not downloaded.
        if self._summary_route:
            try:
                return FlowRun.model_validate_json(self._call("read_flow_run", run_id=run_id).content)
            except _NoSuchRoute:  # an API older than this client: its detail read serves
                self._summary_route = False
        return FlowRun.model_validate_json(self._call("read_flow_run_detail", run_id=run_id).content)

    def read_flow_run_detail(self, run_id: uuid.UUID) -> FlowRunDetail:
        return FlowRunDetail.model_validate_json(self._call("read_flow_run_detail", run_id=run_id).content)

    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        params = flt.model_dump(mode="json", exclude_none=True)
        return FlowRunPage.model_validate_json(self._call("list_flow_runs", params=params).content)

    def set_flow_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        reports = self.reports
        if reports is not None:
            reports.flow_run_left_running(run_id)  # its task runs start synchronously until told RUNNING
        response = self._call("set_flow_run_state", body, run_id=run_id)
        answer = OrchestrationResult.model_validate_json(response.content)
        if reports is not None and answer.status is SetStateStatus.ACCEPT and answer.state.type is StateType.RUNNING:
            reports.flow_run_running(run_id)
        return answer

    def resume_flow_run(self, run_id: uuid.UUID, body: FlowRunResume) -> OrchestrationResult:
        if body.idempotency_key is None:  # every attempt of this call carries the same key
            body = body.model_copy(update={"idempotency_key": uuid.uuid4().hex})
        return OrchestrationResult.model_validate_json(self._call("resume_flow_run", body, run_id=run_id).content)

    def read_flow_run_states(self, run_id: uuid.UUID) -> list[State]:
        return _STATES.validate_json(self._call("read_flow_run_states", run_id=run_id).content)

    # -- task runs
    def create_task_run(self, body: TaskRunCreate) -> TaskRun:
        if self.reports is not None:
            started = self.reports.start(body)
            if started is not None:
                return started
        return TaskRun.model_validate_json(self._call("create_task_run", body).content)

    def read_task_run(self, run_id: uuid.UUID) -> TaskRun:
        return TaskRun.model_validate_json(self._call("read_task_run", run_id=run_id).content)

    def read_task_run_states(self, run_id: uuid.UUID) -> list[State]:
        return _STATES.validate_json(self._call("read_task_run_states", run_id=run_id).content)

    def set_task_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        if self.reports is not None:
            ended = self.reports.end(run_id, body)
            if ended is not None:
                return ended
        response = self._call("set_task_run_state", body, run_id=run_id)
        return OrchestrationResult.model_validate_json(response.content)

    def report_task_runs(self, body: TaskRunReports) -> TaskRunReportsResult:
        return TaskRunReportsResult.model_validate_json(self._call("report_task_runs", body).content)

    def heartbeat_task_run(self, run_id: uuid.UUID, interval: float | None = None) -> TaskRun:
        params = {"interval": interval} if interval is not None else None
        return TaskRun.model_validate_json(self._call("heartbeat_task_run", params=params, run_id=run_id).content)

    # -- logs
    def create_logs(self, logs: Sequence[LogCreate]) -> None:
        if logs:
            keyed = OPS["create_logs"].is_idempotent(logs)
            for body in _log_requests(list(logs)):
                self._call("create_logs", body, idempotent=keyed)

    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if min_level:
            params["min_level"] = min_level
        if newest_first:
            params["newest_first"] = "true"
        return _LOGS.validate_json(self._call("read_logs", params=params, run_id=flow_run_id).content)

    # -- concurrency limits
    def set_concurrency_limit(self, body: ConcurrencyLimitCreate) -> ConcurrencyLimit:
        return ConcurrencyLimit.model_validate_json(self._call("set_concurrency_limit", body).content)

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        return ConcurrencyLimit.model_validate_json(self._call("read_concurrency_limit", tag=tag).content)

    def list_concurrency_limits(self) -> list[ConcurrencyLimit]:
        return _LIMITS.validate_json(self._call("list_concurrency_limits").content)

    def delete_concurrency_limit(self, tag: str) -> None:
        self._call("delete_concurrency_limit", tag=tag)

    # -- API keys
    def create_api_key(self, body: ApiKeyCreate) -> ApiKeyCreated:
        return ApiKeyCreated.model_validate_json(self._call("create_api_key", body).content)

    def list_api_keys(self) -> list[ApiKey]:
        return _API_KEYS.validate_json(self._call("list_api_keys").content)

    def revoke_api_key(self, key_id: str) -> None:
        self._call("revoke_api_key", key_id=key_id)

    # -- retry policies
    def set_retry_policy(self, scope: PolicyScope, name: str, body: RetryPolicySet) -> RetryPolicy:
        response = self._call("set_retry_policy", body, scope=scope, name=name)
        return RetryPolicy.model_validate_json(response.content)

    def read_retry_policy(self, scope: PolicyScope, name: str) -> RetryPolicy:
        return RetryPolicy.model_validate_json(self._call("read_retry_policy", scope=scope, name=name).content)

    def list_retry_policies(self) -> list[RetryPolicy]:
        return _RETRY_POLICIES.validate_json(self._call("list_retry_policies").content)

    def delete_retry_policy(self, scope: PolicyScope, name: str) -> None:
        self._call("delete_retry_policy", scope=scope, name=name)

    # -- server settings
    def read_result_storage(self) -> ResultStorageSetting | None:
        return _RESULT_STORAGE.validate_json(self._call("read_result_storage").content)

    def set_result_storage(self, body: ResultStorageSetting) -> ResultStorageSetting:
        return ResultStorageSetting.model_validate_json(self._call("set_result_storage", body).content)

    def clear_result_storage(self) -> None:
        self._call("clear_result_storage")


class _NoSuchRoute(ObjectNotFound):
    """A 404 from the router itself: the API has no such route (wrong URL, or an older API)."""


def _log_requests(logs: list[LogCreate]) -> list[bytes]:
    """The batch as JSON request bodies of at most MAX_LOG_REQUEST_BYTES each, in order."""
    whole = _LOG_BATCH.dump_json(logs)
    if len(whole) <= MAX_LOG_REQUEST_BYTES:
        return [whole]
    bodies: list[bytes] = []
    parts: list[bytes] = []
    size = 2  # the brackets
    for log in logs:
        part = log.model_dump_json().encode()
        if parts and size + len(part) + 1 > MAX_LOG_REQUEST_BYTES:
            bodies.append(b"[" + b",".join(parts) + b"]")
            parts, size = [], 2
        parts.append(part)
        size += len(part) + 1
    bodies.append(b"[" + b",".join(parts) + b"]")
    return bodies


def _raise_for_status(response: httpx.Response, api_url: str) -> httpx.Response:
    status = response.status_code
    if status < 400:
        return response
    detail = _detail(response)
    if status in (401, 403):
        raise Unauthorized(
            f"The API refused the key ({status}: {detail}): set MINTAKA_API_KEY or `mintaka config set api_key …`"
        )
    if status == 404 and detail == "Not Found":  # no such route, rather than no such object
        raise _NoSuchRoute(f"No API route at {response.request.url} (is MINTAKA_API_URL right? It ends in /api)")
    if status < 500:
        raise error_for_status(status)(detail)
    if status in UNAVAILABLE_STATUS:
        raise ApiUnavailable(f"The Mintaka API at URL: {api_url} is unavailable ({status}: {detail})")
    raise MintakaError(f"The Mintaka API at URL: {api_url} failed ({status}: {detail})")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return detail
    if detail:
        return str(detail)
    return response.text.strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"
