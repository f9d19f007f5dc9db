"""Task runners on other processes or machines: Dask (`pip install "mintaka[dask]"`) and Ray
(`pip install "mintaka[ray]"`).

    @flow(task_runner=DaskTaskRunner())              # a local cluster for the flow run
    @flow(task_runner=DaskTaskRunner("tcp://scheduler:8786"))
    @flow(task_runner=RayTaskRunner())               # a local Ray, or RayTaskRunner("ray://head:10001")

`.submit()` and `.map()` work as with threads. Each flow run gets its own runner (`duplicate()`),
which starts its cluster (or connects to `address`) once, on the first submit, under a lock, and
closes it at the end of the flow run. A task run whose upstream futures are all done is shipped
at once (`mintaka.engine.remote`); one that waits for futures is shipped by a callback when the
last of them finishes, so no thread blocks per task run. A worker runs the same task engine
against the flow's orchestration API (the embedded store's file, or `MINTAKA_API_URL`) and sends
back the final state. Parameters and return values must pickle (cloudpickle); the task's
function must be importable on the workers, or defined in the script being run (pickled by
value).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import functools
import logging
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mintaka.engine.remote import RemoteTaskCall, run_remote
from mintaka.exceptions import MintakaError, MintakaTimeoutError
from mintaka.states import State, StateType
from mintaka.task_runners import TaskRunner

if TYPE_CHECKING:
    from mintaka.engine.remote import RemoteTaskCall
    from mintaka.engine.task_engine import TaskRunEngine
    from mintaka.states import State

logger = logging.getLogger("mintaka.distributed")

_CLOSE_TIMEOUT = 10.0  # seconds to close a client or a local cluster before giving up on it


class RemoteTaskRunner(TaskRunner):
    """Base of runners that execute task runs elsewhere. Subclasses implement `_connect` (start
    or attach to the cluster; called once, under the lock), `_ship` (send one call, complete
    the given future with its final state), `_cancel_pending` and `_disconnect`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the connection and the set of pending calls
        self._connected = False
        self._closed = False
        self._dispatcher: cf.ThreadPoolExecutor | None = None  # ships runs whose upstream just finished

    # -- settings: what pickles with a flow, and what `duplicate()` copies (never live state)
    def _settings(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __getstate__(self) -> dict[str, Any]:
        return self._settings()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def duplicate(self) -> RemoteTaskRunner:
        return type(self)(**self._settings())

    # -- the TaskRunner interface
    def start(self) -> None:
        self._closed = False

    def submit(self, fn) -> cf.Future:
        raise MintakaError(f"The {self.name} task runner runs task runs, not arbitrary callables")

    def submit_task(self, engine: TaskRunEngine) -> cf.Future:
        if self._closed:
            raise RuntimeError(f"The {self.name} task runner was shut down")
        outer: cf.Future = cf.Future()
        if _completed_before(engine):  # a flow retry: the engine returns the earlier state, no run
            _settle(outer, engine.run)
            return outer
        upstream = _pending_upstream(engine)
        if upstream is None:  # something to wait for that cannot call us back: wait in a thread
            context = contextvars.copy_context()
            threading.Thread(
                target=context.run, args=(self._dispatch, engine, outer), name=f"mintaka-{self.name}-wait", daemon=True
            ).start()
        elif not upstream:
            self._dispatch(engine, outer)
        else:
            self._when_done(upstream, contextvars.copy_context(), engine, outer)
        return outer

    def _when_done(self, upstream: list[cf.Future], context: contextvars.Context, engine, outer) -> None:
        """Dispatch on the dispatcher threads once every upstream future is done."""
        remaining = len(upstream)
        count_lock = threading.Lock()

        def on_done(_: cf.Future) -> None:
            nonlocal remaining
            with count_lock:
                remaining -= 1
                if remaining:
                    return
            try:
                self._dispatcher_pool().submit(context.run, self._dispatch, engine, outer)
            except RuntimeError:  # shut down meanwhile
                outer.cancel()

        for future in upstream:
            future.add_done_callback(on_done)

    def _dispatcher_pool(self) -> cf.ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("shut down")
            if self._dispatcher is None:
                self._dispatcher = cf.ThreadPoolExecutor(2, thread_name_prefix=f"mintaka-{self.name}-dispatch")
            return self._dispatcher

    def _dispatch(self, engine: TaskRunEngine, outer: cf.Future) -> None:
        """Settle the run's inputs and ship it; an upstream failure is recorded here, as a thread
        would (no body runs)."""

        shipped: cf.Future = cf.Future()  # completed by the cluster's side with the final state
        try:
            if self._closed:
                outer.cancel()
                return
            if engine.resolve_upstream() is not None:
                _settle(outer, engine.run)
                return
            call = RemoteTaskCall.of(engine)
            self._ensure_connected()
            self._ship(call, shipped)
        except BaseException as exc:
            if self._closed or _interrupts(exc):  # the flow run ended, or is being interrupted
                outer.cancel()
                if _interrupts(exc):
                    raise
            elif not outer.done():
                outer.set_result(self._not_run(engine, exc, shipped=False))
            return
        shipped.add_done_callback(functools.partial(self._complete, engine, outer))

    def _complete(self, engine: TaskRunEngine, outer: cf.Future, shipped: cf.Future) -> None:
        if outer.done():  # cancelled by an interrupted flow run
            return
        if shipped.cancelled():
            outer.cancel()
        elif shipped.exception() is not None:
            outer.set_result(self._not_run(engine, shipped.exception(), shipped=True))
        else:
            state = shipped.result()
            _remember(engine, state)
            outer.set_result(state)

    def _not_run(self, engine: TaskRunEngine, exc: BaseException, shipped: bool) -> State:
        """The final state of a run the cluster could not run or answer for (a worker died, a
        result or a parameter did not pickle, the cluster did not start), recorded if the API
        takes it: futures hold final states, as with threads."""
        from mintaka.engine.propose import propose
        from mintaka.schemas import SetStateStatus

        where = f"on the {self.name} cluster" if shipped else f"to the {self.name} cluster"
        message = f"Task run could not be {'completed' if shipped else 'sent'} {where}: {type(exc).__name__}: {exc}"
        state = State(type=StateType.CRASHED if shipped else StateType.FAILED, message=message)
        try:
            if shipped:
                # Keyed (as every proposal): sent again after a lost answer, it is recorded once.
                answer = propose(engine.client, "task_run", engine.task_run_id, state)
                if answer.status is SetStateStatus.ACCEPT and answer.state is not None:
                    state = answer.state
                else:  # e.g. it reported COMPLETED, then its value could not come back: ours says so
                    logger.warning("Task run %s: %s (the API kept %s)", engine.task_run_id, message, answer.state)
            else:
                state = engine.create_run(initial=state).state
        except Exception:  # the API refused (e.g. the run was never created): the future still tells
            logger.warning("Could not record the state of task run %s: %s", engine.task_run_id, message, exc_info=True)
        return state.with_result(exc)

    def _ensure_connected(self) -> None:
        if self._connected:
            return
        with self._lock:
            if self._closed:
                raise MintakaError(f"The {self.name} task runner was shut down")
            if not self._connected:
                self._connect()
                self._connected = True

    def shutdown(self, wait: bool = True) -> None:
        """Close what the runner started. With `wait=False` (an interrupted flow run), pending
        runs are cancelled and nothing waits for running ones."""
        with self._lock:
            self._closed = True
            dispatcher, self._dispatcher = self._dispatcher, None
            connected, self._connected = self._connected, False
        if dispatcher is not None:
            dispatcher.shutdown(wait=wait, cancel_futures=not wait)
        if connected:
            if not wait:
                self._cancel_pending()
            self._disconnect(wait)

    # -- per cluster
    def _connect(self) -> None:
        raise NotImplementedError

    def _ship(self, call: RemoteTaskCall, shipped: cf.Future) -> None:
        """Send the call; complete `shipped` with its final state (or the cluster's error)."""
        raise NotImplementedError

    def _cancel_pending(self) -> None:
        raise NotImplementedError

    def _disconnect(self, wait: bool) -> None:
        raise NotImplementedError


class DaskTaskRunner(RemoteTaskRunner):
    """Task runs on a Dask cluster: the one at `address`, else a local cluster of worker
    processes made for the flow run (`cluster_kwargs` go to `distributed.LocalCluster`,
    `client_kwargs` to `distributed.Client`)."""

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
        self._completed = None  # a distributed.as_completed the collector thread drains
        self._pending: dict[str, tuple[Any, cf.Future]] = {}  # Dask key -> (Dask future, ours)
        self._wakeup = threading.Event()
        self._collector: threading.Thread | None = None

    @property
    def client(self):
        """The `distributed.Client` of this flow run (None before the first submit)."""
        return self._client

    def _connect(self) -> None:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError as exc:
            raise MintakaError('DaskTaskRunner needs Dask: pip install "mintaka[dask]"') from exc
        client_options = {"set_as_default": False, **self.client_kwargs}
        if self.address:
            client = Client(self.address, **client_options)
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
            try:
                client = Client(self._cluster, **client_options)
            except BaseException:
                self._cluster.close(timeout=_CLOSE_TIMEOUT)
                self._cluster = None
                raise
        self._client = client
        self._completed = as_completed(loop=client.loop)
        self._wakeup.clear()
        self._collector = threading.Thread(
            target=self._collect, args=(self._completed,), name="mintaka-dask-collector", daemon=True
        )
        self._collector.start()

    def _ship(self, call: RemoteTaskCall, shipped: cf.Future) -> None:
        key = f"{call.task.name}-{call.task_run_id}"
        future = self._client.submit(run_remote, call, pure=False, key=key)
        with self._lock:
            self._pending[future.key] = (future, shipped)
        self._completed.add(future)
        self._wakeup.set()

    def _collect(self, completed) -> None:
        """One thread per flow run: completes our futures as Dask's finish, gathering the results
        of those finished together in one round trip."""
        while not self._closed or not completed.is_empty():
            self._wakeup.wait()
            self._wakeup.clear()
            for batch in completed.batches():
                try:
                    self._settle_batch(batch)
                except Exception as exc:  # never leave a future waiting: the collector is theirs
                    with self._lock:
                        ours = [self._pending.pop(future.key, (None, None))[1] for future in batch]
                    for shipped in ours:
                        if shipped is not None and not shipped.done():
                            shipped.set_exception(exc)

    def _settle_batch(self, batch: list) -> None:
        with self._lock:  # popped once settled: a failure midway leaves the rest to the caller
            ours = [(future, self._pending.get(future.key, (None, None))[1]) for future in batch]
        finished = [future for future, shipped in ours if shipped is not None and future.status == "finished"]
        try:
            values = dict(zip([f.key for f in finished], self._client.gather(finished), strict=True))
        except Exception:  # one result was lost (a worker died): fetch each on its own
            values = {}
        for future, shipped in ours:
            with self._lock:
                self._pending.pop(future.key, None)
            if shipped is None or shipped.done():
                continue
            if future.key in values:
                shipped.set_result(values[future.key])
                continue
            try:
                shipped.set_result(future.result())
            except cf.CancelledError:
                shipped.cancel()
            except BaseException as exc:
                shipped.set_exception(exc)

    def _cancel_pending(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for _, shipped in pending:
            shipped.cancel()
        if pending:
            try:
                self._client.cancel([future for future, _ in pending], force=True)
            except Exception:  # the cluster is being closed anyway
                logger.debug("Could not cancel Dask futures", exc_info=True)
        self._completed.clear()

    def _disconnect(self, wait: bool) -> None:
        self._wakeup.set()
        if self._collector is not None:
            self._collector.join(timeout=None if wait else _CLOSE_TIMEOUT)
            self._collector = None
        client, cluster = self._client, self._cluster
        self._client = self._cluster = self._completed = None
        try:
            client.close(timeout=_CLOSE_TIMEOUT)
        finally:
            if cluster is not None:
                cluster.close(timeout=_CLOSE_TIMEOUT)


class RayTaskRunner(RemoteTaskRunner):
    """Task runs on Ray: the cluster at `address` (e.g. `ray://head:10001`), else a local Ray
    started for the flow run and stopped after it (`init_kwargs` go to `ray.init`). A Ray the
    process already runs is used as it is, and left running."""

    name = "ray"

    def __init__(self, address: str | None = None, init_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self._remote_fn = None
        self._pending: dict[Any, cf.Future] = {}  # Ray ObjectRef -> ours

    def _connect(self) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MintakaError('RayTaskRunner needs Ray: pip install "mintaka[ray]"') from exc

        _ray_session.acquire(ray, self.address, self.init_kwargs)
        self._remote_fn = ray.remote(run_remote)

    def _ship(self, call: RemoteTaskCall, shipped: cf.Future) -> None:
        ref = self._remote_fn.remote(call)
        with self._lock:
            self._pending[ref] = shipped
        ref.future().add_done_callback(lambda done: self._finished(ref, done))

    def _finished(self, ref, done: cf.Future) -> None:
        with self._lock:
            shipped = self._pending.pop(ref, None)
        if shipped is None or shipped.done():
            return
        from ray.exceptions import TaskCancelledError

        if done.cancelled() or isinstance(done.exception(), TaskCancelledError):
            shipped.cancel()
        elif done.exception() is not None:
            shipped.set_exception(done.exception())
        else:
            shipped.set_result(done.result())

    def _cancel_pending(self) -> None:
        import ray

        with self._lock:
            pending, self._pending = list(self._pending.items()), {}
        for ref, shipped in pending:
            shipped.cancel()
            try:
                ray.cancel(ref)
            except Exception:
                logger.debug("Could not cancel a Ray task", exc_info=True)

    def _disconnect(self, wait: bool) -> None:
        import ray

        self._remote_fn = None
        _ray_session.release(ray)


class _RaySession:
    """Ray is initialised once per process: the first runner that needs it starts it (unless it
    runs already), and the last runner using a Ray that a runner started stops it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._owned = False  # a runner started the running Ray

    def acquire(self, ray, address: str | None, init_kwargs: dict[str, Any]) -> None:
        with self._lock:
            if not ray.is_initialized():
                options = {"include_dashboard": False, "log_to_driver": False, **init_kwargs}
                ray.init(address=address, **options)
                self._owned = True
            elif address:
                logger.debug("Ray is already initialised in this process: using it rather than %s", address)
            self._users += 1

    def release(self, ray) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self._owned:
                self._owned = False
                ray.shutdown()


_ray_session = _RaySession()


def _settle(outer: cf.Future, fn: Callable[[], Any]) -> None:
    try:
        outer.set_result(fn())
    except BaseException as exc:
        outer.set_exception(exc)
        if _interrupts(exc):
            raise


def _interrupts(exc: BaseException) -> bool:
    """Whether `exc` interrupts the thread it lands in (a cancellation, a flow's timeout, ^C):
    submits run in the flow's thread, so it must reach the flow, not become a run's state."""
    return not isinstance(exc, Exception) or isinstance(exc, MintakaTimeoutError)


def _completed_before(engine: TaskRunEngine) -> bool:
    """Whether this call completed in an earlier attempt of the flow run (a flow retry)."""
    ctx, key = engine.flow_ctx, getattr(engine, "call_key", None)
    return ctx is not None and key is not None and key in getattr(ctx, "completed", {})


def _remember(engine: TaskRunEngine, state: State) -> None:
    """What a thread's engine does itself: a completed call is not run again by a flow retry
    (the worker's engine cannot: its context is the worker's)."""
    ctx, key = engine.flow_ctx, getattr(engine, "call_key", None)
    remember = getattr(ctx, "remember", None)
    if remember is not None and key is not None:
        remember(key, state)


def _pending_upstream(engine: TaskRunEngine) -> list[cf.Future] | None:
    """The futures the run waits for (as the engine finds them: in its parameters, at any depth,
    and `wait_for`) that are not done yet; None if one cannot call back when done."""
    from mintaka.engine.parameters import upstream_futures

    pending = []
    for future in upstream_futures([engine.parameters, engine.wait_for]):
        inner = getattr(future, "_inner", None)
        if not isinstance(inner, cf.Future):
            return None
        if not inner.done():
            pending.append(inner)
    return pending


__all__ = ["DaskTaskRunner", "RayTaskRunner", "RemoteTaskRunner"]
