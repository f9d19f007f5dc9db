"""The client interface the SDK engine talks to. Two transports implement it:
`EmbeddedTransport` (the service layer in-process, on the SQLite file) and `HttpTransport`
(httpx to a Mintaka API). Same methods, same models, same answers."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence

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

from .deployments import DeploymentClient


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

    def close(self) -> None:
        """Release connections."""

    # `with get_client() as client:` (sync) and `async with get_client() as client:` (awaitable
    # methods), as Prefect 2 code writes it. The process-wide client stays open afterwards.
    def __enter__(self) -> MintakaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self):
        from .asynchronous import AsyncMintakaClient

        return AsyncMintakaClient(self)

    async def __aexit__(self, *exc: object) -> None:
        return None
