"""The HTTP transport: the client interface over httpx to a Mintaka API (`MINTAKA_API_URL`).

One `httpx.Client` per transport (connections are reused; safe to share between threads).
Errors are translated here and only here: 401/403 → `Unauthorized`, 404 → `ObjectNotFound`,
409 → `Conflict`, other 4xx → `InvalidRequest` (with the server's `detail`), unreachable →
`ApiUnavailable`.

Retries with backoff: a request that never reached the server (connect error) is always
retried; timeouts, 429 and 5xx answers only for calls that are safe to repeat (reads, upserts,
creates the server deduplicates, and state proposals carrying an idempotency key). A flow run
is always created under an idempotency key (a fresh one unless the caller chose it), so a
retried create never makes two runs.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from mintaka.exceptions import ApiUnavailable, Conflict, InvalidRequest, MintakaError, ObjectNotFound, Unauthorized
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
    Log,
    LogCreate,
    OrchestrationResult,
    PolicyScope,
    ResultStorageSetting,
    RetryPolicy,
    RetryPolicySet,
    SetStateRequest,
    TaskRun,
    TaskRunCreate,
)
from mintaka.states import State

from .base import MintakaClient
from .http_deployments import HttpDeploymentMixin

T = TypeVar("T")

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
UNAVAILABLE_STATUS = frozenset({502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0

_FLOWS = TypeAdapter(list[Flow])
_STATES = TypeAdapter(list[State])
_LOGS = TypeAdapter(list[Log])
_LIMITS = TypeAdapter(list[ConcurrencyLimit])
_LOG_BATCH = TypeAdapter(list[LogCreate])
_API_KEYS = TypeAdapter(list[ApiKey])
_RESULT_STORAGE = TypeAdapter(ResultStorageSetting | None)
_RETRY_POLICIES = TypeAdapter(list[RetryPolicy])


class HttpTransport(HttpDeploymentMixin, MintakaClient):
    """Talks to a Mintaka API at `api_url` (e.g. `http://127.0.0.1:4200/api`)."""

    def __init__(
        self,
        api_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff_seconds: float = 0.2,
    ):
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        if httpx.URL(self.api_url).scheme not in ("http", "https"):
            raise InvalidRequest(f"The API URL must start with http:// or https:// (got {api_url!r})")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        headers = {"Accept": "application/json", "User-Agent": "mintaka-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.api_url + "/", headers=headers, timeout=timeout)
        self._summary_route = True  # False once the API turned out to predate GET flow_runs/{id}/summary

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
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, content=content, params=params, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached the server: repeating it is always safe.
                if attempt < self.retries:
                    attempt = self._sleep(attempt)
                    continue
                raise ApiUnavailable(f"Cannot reach the Mintaka API at URL: {self.api_url} ({exc})") from exc
            except httpx.TransportError as exc:
                if idempotent and attempt < self.retries:
                    attempt = self._sleep(attempt)
                    continue
                raise ApiUnavailable(
                    f"Lost the connection to the Mintaka API at URL: {self.api_url} ({type(exc).__name__}: {exc})"
                ) from exc
            if response.status_code in RETRY_STATUS and idempotent and attempt < self.retries:
                attempt = self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            return _raise_for_status(response, self.api_url)

    def _sleep(self, attempt: int, retry_after: str | None = None) -> int:
        delay = self.backoff_seconds * (2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max(float(retry_after), delay), MAX_RETRY_AFTER_SECONDS)
        time.sleep(delay)
        return attempt + 1

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self._request("GET", path, params=params, idempotent=True)

    def _post(self, path: str, body: BaseModel | bytes, *, idempotent: bool) -> httpx.Response:
        return self._request("POST", path, body=body, idempotent=idempotent)

    def close(self) -> None:
        self._http.close()

    # -- flows
    def create_flow(self, body: FlowCreate) -> Flow:
        # Get-or-create by name: repeating it is harmless.
        return Flow.model_validate_json(self._post("flows", body, idempotent=True).content)

    def list_flows(self) -> list[Flow]:
        return _FLOWS.validate_json(self._get("flows").content)

    # -- flow runs
    def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        if body.idempotency_key is None:  # every attempt of this call carries the same key
            body = body.model_copy(update={"idempotency_key": uuid.uuid4().hex})
        response = self._post("flow_runs", body, idempotent=True)
        return FlowRun.model_validate_json(response.content)

    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun:
        # The run alone: its history and task runs (which grow with the run) are not downloaded.
        if self._summary_route:
            try:
                return FlowRun.model_validate_json(self._get(f"flow_runs/{run_id}/summary").content)
            except _NoSuchRoute:  # an API older than this client: its detail read serves
                self._summary_route = False
        return FlowRun.model_validate_json(self._get(f"flow_runs/{run_id}").content)

    def read_flow_run_detail(self, run_id: uuid.UUID) -> FlowRunDetail:
        return FlowRunDetail.model_validate_json(self._get(f"flow_runs/{run_id}").content)

    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage:
        params = flt.model_dump(mode="json", exclude_none=True)
        return FlowRunPage.model_validate_json(self._get("flow_runs", params).content)

    def set_flow_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        response = self._post(f"flow_runs/{run_id}/set_state", body, idempotent=_has_key(body))
        return OrchestrationResult.model_validate_json(response.content)

    def read_flow_run_states(self, run_id: uuid.UUID) -> list[State]:
        return _STATES.validate_json(self._get(f"flow_runs/{run_id}/states").content)

    # -- task runs
    def create_task_run(self, body: TaskRunCreate) -> TaskRun:
        # Within a flow run the server deduplicates on (flow run, task key, dynamic key).
        response = self._post("task_runs", body, idempotent=body.flow_run_id is not None)
        return TaskRun.model_validate_json(response.content)

    def read_task_run(self, run_id: uuid.UUID) -> TaskRun:
        return TaskRun.model_validate_json(self._get(f"task_runs/{run_id}").content)

    def read_task_run_states(self, run_id: uuid.UUID) -> list[State]:
        return _STATES.validate_json(self._get(f"task_runs/{run_id}/states").content)

    def set_task_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult:
        response = self._post(f"task_runs/{run_id}/set_state", body, idempotent=_has_key(body))
        return OrchestrationResult.model_validate_json(response.content)

    # -- logs
    def create_logs(self, logs: Sequence[LogCreate]) -> None:
        if logs:
            self._post("logs", _LOG_BATCH.dump_json(list(logs)), idempotent=False)

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
        return _LOGS.validate_json(self._get(f"flow_runs/{flow_run_id}/logs", params).content)

    # -- concurrency limits
    def set_concurrency_limit(self, body: ConcurrencyLimitCreate) -> ConcurrencyLimit:
        response = self._post("concurrency_limits", body, idempotent=True)  # an upsert
        return ConcurrencyLimit.model_validate_json(response.content)

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        return ConcurrencyLimit.model_validate_json(self._get(f"concurrency_limits/{_segment(tag)}").content)

    def list_concurrency_limits(self) -> list[ConcurrencyLimit]:
        return _LIMITS.validate_json(self._get("concurrency_limits").content)

    def delete_concurrency_limit(self, tag: str) -> None:
        self._request("DELETE", f"concurrency_limits/{_segment(tag)}", idempotent=False)

    # -- API keys
    def create_api_key(self, body: ApiKeyCreate) -> ApiKeyCreated:
        return ApiKeyCreated.model_validate_json(self._post("api_keys", body, idempotent=False).content)

    def list_api_keys(self) -> list[ApiKey]:
        return _API_KEYS.validate_json(self._get("api_keys").content)

    def revoke_api_key(self, key_id: str) -> None:
        self._request("DELETE", f"api_keys/{_segment(key_id)}", idempotent=True)  # revoking twice is harmless

    # -- retry policies
    def set_retry_policy(self, scope: PolicyScope, name: str, body: RetryPolicySet) -> RetryPolicy:
        response = self._request("PUT", f"retry_policies/{scope}/{_segment(name)}", body=body, idempotent=True)
        return RetryPolicy.model_validate_json(response.content)

    def read_retry_policy(self, scope: PolicyScope, name: str) -> RetryPolicy:
        return RetryPolicy.model_validate_json(self._get(f"retry_policies/{scope}/{_segment(name)}").content)

    def list_retry_policies(self) -> list[RetryPolicy]:
        return _RETRY_POLICIES.validate_json(self._get("retry_policies").content)

    def delete_retry_policy(self, scope: PolicyScope, name: str) -> None:
        self._request("DELETE", f"retry_policies/{scope}/{_segment(name)}", idempotent=False)

    # -- server settings
    def read_result_storage(self) -> ResultStorageSetting | None:
        return _RESULT_STORAGE.validate_json(self._get("settings/result-storage").content)

    def set_result_storage(self, body: ResultStorageSetting) -> ResultStorageSetting:
        response = self._request("PUT", "settings/result-storage", body=body, idempotent=True)
        return ResultStorageSetting.model_validate_json(response.content)

    def clear_result_storage(self) -> None:
        self._request("DELETE", "settings/result-storage", idempotent=True)


class _NoSuchRoute(ObjectNotFound):
    """A 404 from the router itself: the API has no such route (wrong URL, or an older API)."""


def _has_key(body: SetStateRequest) -> bool:
    return body.state.state_details.idempotency_key is not None


def _segment(value: str) -> str:
    """A path segment: `/`, `?`, `#` and friends percent-encoded."""
    from urllib.parse import quote

    return quote(value, safe="")


def _raise_for_status(response: httpx.Response, api_url: str) -> httpx.Response:
    status = response.status_code
    if status < 400:
        return response
    detail = _detail(response)
    if status in (401, 403):
        raise Unauthorized(
            f"The API refused the key ({status}: {detail}): set MINTAKA_API_KEY or `mintaka config set api_key …`"
        )
    if status == 404:
        if detail == "Not Found":  # no such route, rather than no such object
            raise _NoSuchRoute(f"No API route at {response.request.url} (is MINTAKA_API_URL right? It ends in /api)")
        raise ObjectNotFound(detail)
    if status == 409:
        raise Conflict(detail)
    if status < 500:
        raise InvalidRequest(detail)
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
