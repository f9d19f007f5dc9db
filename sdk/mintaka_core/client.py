"""The client protocol the SDK engine talks to. Two transports implement it:
`EmbeddedTransport` (the service layer in-process, on the SQLite file; `mintaka_server.embedded`)
and `HttpTransport` (httpx to a Mintaka API; `mintaka.client.http`). Same methods, same models,
same answers."""

from __future__ import annotations

import importlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from mintaka_core.batch_schemas import TaskRunReports, TaskRunReportsResult
from mintaka_core.deployment_client import DeploymentClient
from mintaka_core.filters import FlowFilter
from mintaka_core.filters import FlowRunFilter as PrefectFlowRunFilter
from mintaka_core.schemas import (
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
    TaskRun,
    TaskRunCreate,
)
from mintaka_core.sorting import FlowRunSort
from mintaka_core.states import State

# `async with client:` gives the SDK's awaitable view of a client (`mintaka.client.asynchronous`,
# which registers it when it loads): this protocol is shared with the server and imports no SDK.
_ASYNC_VIEW: Callable[[MintakaClient], Any] | None = None


def register_async_view(make: Callable[[MintakaClient], Any]) -> None:
    """How `async with client` wraps a client in awaitable methods."""
    global _ASYNC_VIEW
    _ASYNC_VIEW = make


def _narrowing(flow_filter: Any, run_filter: Any) -> dict[str, Any]:
    """The one server-side condition worth asking for (the API filters by one value each)."""
    names = flow_filter.name.any_ if flow_filter.name is not None else None
    if names and len(names) == 1:
        return {"flow_name": names[0]}
    types = run_filter.state.type.any_ if run_filter.state is not None and run_filter.state.type else None
    if types and len(types) == 1:
        return {"state_type": types[0]}
    tags = run_filter.tags.all_ if run_filter.tags is not None else None
    if tags:
        return {"tag": tags[0]}
    return {}


class MintakaClient(DeploymentClient, ABC):
    """Everything the SDK, the CLI and the tests ask of the orchestration API."""

    @abstractmethod
    def create_flow(self, body: FlowCreate) -> Flow: ...

    @abstractmethod
    def list_flows(self) -> list[Flow]: ...

    @abstractmethod
    def create_flow_run(self, body: FlowRunCreate) -> FlowRun: ...

    @abstractmethod
    def read_flow_run(self, run_id: uuid.UUID) -> FlowRun: ...

    @abstractmethod
    def read_flow_run_detail(self, run_id: uuid.UUID) -> FlowRunDetail: ...

    @abstractmethod
    def list_flow_runs(self, flt: FlowRunFilter) -> FlowRunPage: ...

    @abstractmethod
    def set_flow_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult: ...

    @abstractmethod
    def resume_flow_run(self, run_id: uuid.UUID, body: FlowRunResume) -> OrchestrationResult: ...

    @abstractmethod
    def read_flow_run_states(self, run_id: uuid.UUID) -> list[State]: ...

    @abstractmethod
    def create_task_run(self, body: TaskRunCreate) -> TaskRun: ...

    @abstractmethod
    def read_task_run(self, run_id: uuid.UUID) -> TaskRun: ...

    @abstractmethod
    def read_task_run_states(self, run_id: uuid.UUID) -> list[State]: ...

    @abstractmethod
    def set_task_run_state(self, run_id: uuid.UUID, body: SetStateRequest) -> OrchestrationResult: ...

    @abstractmethod
    def heartbeat_task_run(self, run_id: uuid.UUID, interval: float | None = None) -> TaskRun:
        """For a task run called outside any flow (one in a flow is kept by its flow run's beats):
        its executor is alive and beats every `interval` seconds; its lease is renewed. The answer
        is the task run (a reaped one is CRASHED, for the executor to revive)."""

    @abstractmethod
    def report_task_runs(self, body: TaskRunReports) -> TaskRunReportsResult:
        """Task-run starts and ends of one flow run, applied in order (`mintaka.batch_schemas`)."""

    @abstractmethod
    def create_logs(self, logs: Sequence[LogCreate]) -> None: ...

    @abstractmethod
    def read_logs(
        self,
        flow_run_id: uuid.UUID,
        limit: int = 1000,
        offset: int = 0,
        *,
        min_level: int = 0,
        newest_first: bool = False,
    ) -> list[Log]:
        """Lines at `min_level` or above, in time order (`newest_first`: the reverse, so the last
        lines come without paging through the rest); `offset`/`limit` count matching lines."""

    @abstractmethod
    def set_concurrency_limit(self, body: ConcurrencyLimitCreate) -> ConcurrencyLimit: ...

    @abstractmethod
    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit: ...

    @abstractmethod
    def list_concurrency_limits(self) -> list[ConcurrencyLimit]: ...

    @abstractmethod
    def delete_concurrency_limit(self, tag: str) -> None: ...

    # -- API keys (the embedded API needs none, but can create them for a server on its store)
    @abstractmethod
    def create_api_key(self, body: ApiKeyCreate) -> ApiKeyCreated: ...

    @abstractmethod
    def list_api_keys(self) -> list[ApiKey]: ...

    @abstractmethod
    def revoke_api_key(self, key_id: str) -> None: ...

    # -- retry policies set on the server
    @abstractmethod
    def set_retry_policy(self, scope: PolicyScope, name: str, body: RetryPolicySet) -> RetryPolicy: ...

    @abstractmethod
    def read_retry_policy(self, scope: PolicyScope, name: str) -> RetryPolicy: ...

    @abstractmethod
    def list_retry_policies(self) -> list[RetryPolicy]: ...

    @abstractmethod
    def delete_retry_policy(self, scope: PolicyScope, name: str) -> None: ...

    # -- server settings
    @abstractmethod
    def read_result_storage(self) -> ResultStorageSetting | None:
        """The operator's default result storage; None = the client's own filesystem."""

    @abstractmethod
    def set_result_storage(self, body: ResultStorageSetting) -> ResultStorageSetting: ...

    @abstractmethod
    def clear_result_storage(self) -> None: ...

    # -- Prefect 2's flow run query
    def read_flow_runs(
        self,
        *,
        flow_filter: Any = None,
        flow_run_filter: Any = None,
        sort: Any = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FlowRun]:
        """Flow runs matching Prefect 2 style filters (`mintaka.client.schemas.filters`), sorted
        by a `FlowRunSort` (default: newest first). The API narrows by one flow name, state
        type or tag when the filter names exactly one; the rest is matched here."""
        flow_filter = flow_filter or FlowFilter()
        run_filter = flow_run_filter or PrefectFlowRunFilter()
        query = FlowRunFilter(limit=500, **_narrowing(flow_filter, run_filter))
        runs: list[FlowRun] = []
        while True:
            page = self.list_flow_runs(query)
            runs.extend(r for r in page.items if flow_filter.matches(r) and run_filter.matches(r))
            if not page.next_cursor:
                break
            query = query.model_copy(update={"cursor": page.next_cursor})
        if sort is not None:
            key, descending = FlowRunSort(sort).key()
            runs.sort(key=key, reverse=descending)
        runs = runs[offset:]
        return runs[:limit] if limit is not None else runs

    # -- Prefect 2's names for concurrency limits
    def create_concurrency_limit(self, tag: str, concurrency_limit: int) -> uuid.UUID:
        """Set the limit on `tag` (Prefect 2's name); returns the limit's id."""
        return self.set_concurrency_limit(ConcurrencyLimitCreate(tag=tag, limit=concurrency_limit)).id

    def read_concurrency_limit_by_tag(self, tag: str) -> ConcurrencyLimit:
        return self.read_concurrency_limit(tag)

    def delete_concurrency_limit_by_tag(self, tag: str) -> None:
        self.delete_concurrency_limit(tag)

    def read_concurrency_limits(self, limit: int | None = None, offset: int = 0) -> list[ConcurrencyLimit]:
        limits = self.list_concurrency_limits()[offset:]
        return limits[:limit] if limit is not None else limits

    def close(self) -> None:
        """Release connections."""

    def publish_writes(self) -> None:
        """Make what this client wrote so far visible to other processes now (the embedded
        store commits task runs that ended in groups, up to 0.1 s later); a worker process calls
        it before it hands a task run's state back."""

    # `with get_client() as client:` (sync) and `async with get_client() as client:` (awaitable
    # methods), as Prefect 2 code writes it. The process-wide client stays open afterwards.
    def __enter__(self) -> MintakaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self):
        if _ASYNC_VIEW is None:
            importlib.import_module("mintaka.client.asynchronous")  # the SDK's; registers itself
        assert _ASYNC_VIEW is not None
        return _ASYNC_VIEW(self)

    async def __aexit__(self, *exc: object) -> None:
        return None
