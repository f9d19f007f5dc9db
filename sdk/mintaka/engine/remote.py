"""Running one task run in another process: a Dask or Ray worker.

The flow's process ships a `RemoteTaskCall`: the task, its resolved parameters, the ids its
future already names, and how to reach the orchestration API (the embedded store's file, or
the API's URL and key). The worker runs the same task engine against the same API, so states,
retries, caching, concurrency limits and logs are orchestrated exactly as for a thread, and
sends back the final state with the value in memory (the value must pickle).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mintaka.exceptions import MintakaError

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.flows import Flow
    from mintaka.schemas import FlowRun
    from mintaka.states import State
    from mintaka.tasks import Task

    from .task_engine import TaskRunEngine


@dataclass(frozen=True)
class Connection:
    """How a worker process reaches the flow's orchestration API."""

    api_url: str | None = None
    api_key: str | None = None
    database: str | None = None

    @classmethod
    def of(cls, client: MintakaClient) -> Connection:
        from mintaka.client.http import HttpTransport
        from mintaka.client.transports import is_embedded

        if isinstance(client, HttpTransport):
            return cls(api_url=client.api_url, api_key=client.api_key)
        if is_embedded(client) and getattr(client, "database", None):
            return cls(database=str(client.database))
        raise MintakaError(
            "Task runs on other processes need an API they can reach: set MINTAKA_API_URL, or use the "
            "embedded store on a file they share"
        )

    def client(self) -> MintakaClient:
        """This process's client for the connection (one per connection, reused across calls)."""
        with _clients_lock:
            client = _clients.get(self)
            if client is None:
                client = _clients[self] = self._build()
            return client

    def _build(self) -> MintakaClient:
        if self.api_url:
            from mintaka.client.http import HttpTransport

            return HttpTransport(self.api_url, api_key=self.api_key)
        from mintaka.client.transports import embedded_transport

        return embedded_transport(self.database)


_clients: dict[Connection, MintakaClient] = {}
_clients_lock = threading.Lock()
_flow_runs: dict[tuple[Connection, uuid.UUID], FlowRun] = {}  # read once per worker process
_FLOW_RUNS_KEPT = 64


def _flow_run(call: RemoteTaskCall, client: MintakaClient) -> FlowRun:
    """The flow run of a call, read from the API once per process (not once per task run)."""
    key = (call.connection, call.flow_run_id)
    run = _flow_runs.get(key)
    if run is None:
        run = client.read_flow_run(call.flow_run_id)
        with _clients_lock:
            while len(_flow_runs) >= _FLOW_RUNS_KEPT:
                _flow_runs.pop(next(iter(_flow_runs)))
            _flow_runs[key] = run
    return run


@dataclass
class RemoteTaskCall:
    """Everything a worker process needs to run one task run (picklable with cloudpickle)."""

    flow: Flow
    task: Task
    parameters: dict[str, Any]
    task_run_id: uuid.UUID
    dynamic_key: str
    flow_run_id: uuid.UUID
    connection: Connection
    log_prints: bool
    task_inputs: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    persist_results: bool = False  # the flow run's default (a deployed run's results are kept)

    @classmethod
    def of(cls, engine: TaskRunEngine) -> RemoteTaskCall:
        """The call for an engine whose upstream futures are resolved (`engine.parameters`)."""
        from mintaka.context import current_tags

        ctx = engine.flow_ctx
        return cls(
            flow=ctx.flow,
            task=engine.task,
            parameters=engine.parameters,
            task_run_id=engine.task_run_id,
            dynamic_key=engine.dynamic_key,
            flow_run_id=ctx.flow_run.id,
            connection=Connection.of(engine.client),
            log_prints=engine.log_prints,
            task_inputs=engine.task_inputs,
            tags=tuple(sorted(current_tags())),
            persist_results=ctx.persist_results,
        )


def run_remote(call: RemoteTaskCall) -> State:
    """Run the task run in this (worker) process and return its final state."""
    from mintaka._sync import run_coroutine_sync
    from mintaka.context import FlowRunContext, flow_run_context, tags
    from mintaka.logging import flush_logs
    from mintaka.task_runners import SequentialTaskRunner

    from .task_engine import TaskRunEngine

    client = call.connection.client()  # logs, results and nested task runs follow the context's client
    ctx = FlowRunContext(
        flow=call.flow,
        flow_run=_flow_run(call, client),
        client=client,
        task_runner=SequentialTaskRunner(),
        log_prints=call.log_prints,
        persist_results=call.persist_results,
    )
    token = flow_run_context.set(ctx)
    try:
        with tags(*call.tags):
            engine = TaskRunEngine.for_remote_call(call, ctx, client)
            return run_coroutine_sync(engine.run_async()) if call.task.isasync else engine.run()
    finally:
        flush_logs()
        client.publish_writes()  # the flow's process reads what this one wrote as soon as it has the state
        flow_run_context.reset(token)
