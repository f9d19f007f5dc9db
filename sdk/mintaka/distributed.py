"""Task runners on other processes or machines: Dask (`pip install "mintaka[dask]"`) and Ray
(`pip install "mintaka[ray]"`).

    @flow(task_runner=DaskTaskRunner())              # a local cluster for the flow run
    @flow(task_runner=DaskTaskRunner("tcp://scheduler:8786"))
    @flow(task_runner=RayTaskRunner())               # a local Ray, or RayTaskRunner("ray://head:10001")

`.submit()` and `.map()` work as with threads. Each task run is driven by a light local thread:
it waits for the futures passed in, then ships the call (`mintaka.engine.remote`) to a worker,
which runs the same task engine against the flow's orchestration API (the embedded store's
file, or `MINTAKA_API_URL`) and sends back the final state. Parameters and return values must
pickle (cloudpickle); the task's function must be importable on the workers, or defined in the
script being run (pickled by value).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import warnings
from typing import TYPE_CHECKING, Any

from mintaka.exceptions import MintakaError
from mintaka.task_runners import TaskRunner

if TYPE_CHECKING:
    from mintaka.engine.remote import RemoteTaskCall
    from mintaka.engine.task_engine import TaskRunEngine
    from mintaka.states import State

_DRIVERS = 256  # local threads waiting on remote task runs (they only wait)


class RemoteTaskRunner(TaskRunner):
    """Base of runners that execute task runs elsewhere: subclasses implement `_run_remote`."""

    def __init__(self) -> None:
        self._drivers: cf.ThreadPoolExecutor | None = None

    def submit(self, fn) -> cf.Future:
        raise MintakaError(f"The {self.name} task runner runs task runs, not arbitrary callables")

    def submit_task(self, engine: TaskRunEngine) -> cf.Future:
        if self._drivers is None:
            self._drivers = cf.ThreadPoolExecutor(_DRIVERS, thread_name_prefix=f"mintaka-{self.name}")
        context = contextvars.copy_context()
        return self._drivers.submit(context.run, self._drive, engine)

    def _drive(self, engine: TaskRunEngine) -> State:
        from mintaka.engine.remote import RemoteTaskCall

        if engine.resolve_upstream() is not None:
            return engine.run()  # records the upstream failure here, as a thread would; no body runs
        return self._run_remote(RemoteTaskCall.of(engine))

    def _run_remote(self, call: RemoteTaskCall) -> State:
        raise NotImplementedError

    def shutdown(self, wait: bool = True) -> None:
        if self._drivers is not None:
            self._drivers.shutdown(wait=wait, cancel_futures=not wait)
            self._drivers = None


class DaskTaskRunner(RemoteTaskRunner):
    """Task runs on a Dask cluster: the one at `address`, else a local cluster of worker
    processes made for the flow run (`cluster_kwargs` go to `distributed.LocalCluster`)."""

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.address = address
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._cluster = None
        self._client = None

    def _run_remote(self, call: RemoteTaskCall) -> State:
        from mintaka.engine.remote import run_remote

        key = f"{call.task.name}-{call.task_run_id}"
        return self._dask().submit(run_remote, call, pure=False, key=key).result()

    def _dask(self):
        if self._client is None:
            try:
                from distributed import Client, LocalCluster
            except ImportError as exc:
                raise MintakaError('DaskTaskRunner needs Dask: pip install "mintaka[dask]"') from exc
            if self.address:
                self._client = Client(self.address, **self.client_kwargs)
            else:
                options = {
                    "processes": True,
                    "dashboard_address": None,
                    "worker_dashboard_address": None,
                    **self.cluster_kwargs,
                }
                with warnings.catch_warnings():  # each process's HTTP server finds 8787 taken and picks another
                    warnings.filterwarnings("ignore", message="Port 8787 is already in use")
                    self._cluster = LocalCluster(**options)
                self._client = Client(self._cluster, **self.client_kwargs)
        return self._client

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def duplicate(self) -> DaskTaskRunner:
        return DaskTaskRunner(self.address, self.cluster_kwargs, self.client_kwargs)


class RayTaskRunner(RemoteTaskRunner):
    """Task runs on Ray: the cluster at `address` (e.g. `ray://head:10001`), else a local Ray
    started for the flow run and stopped after it (`init_kwargs` go to `ray.init`)."""

    name = "ray"

    def __init__(self, address: str | None = None, init_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self._started_ray = False
        self._remote_fn = None

    def _run_remote(self, call: RemoteTaskCall) -> State:
        import ray

        return ray.get(self._ray_function().remote(call))

    def _ray_function(self):
        if self._remote_fn is None:
            try:
                import ray
            except ImportError as exc:
                raise MintakaError('RayTaskRunner needs Ray: pip install "mintaka[ray]"') from exc
            from mintaka.engine.remote import run_remote

            if not ray.is_initialized():
                options = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
                ray.init(address=self.address, **options)
                self._started_ray = True
            self._remote_fn = ray.remote(run_remote)
        return self._remote_fn

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
        self._remote_fn = None

    def duplicate(self) -> RayTaskRunner:
        return RayTaskRunner(self.address, self.init_kwargs)


__all__ = ["DaskTaskRunner", "RayTaskRunner", "RemoteTaskRunner"]
