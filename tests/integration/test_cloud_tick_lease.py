"""The cloud's minute tick takes the embedded schedulers' leader lease: two ticks racing on one
DynamoDB table (overlapping Lambda invocations, each its own store and client) never do the tick's
work at the same time, and a tick and a `mintaka server start` scheduler on one table take turns.

On two engines: `dynamodb` (moto's server, requests serialized by tests/conftest.py) and
`dynamodb-local` (AWS's engine, real isolation), which alone runs the repeated rounds."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest

from mintaka.deployment_schemas import DeploymentCreate
from mintaka.states import utcnow
from mintaka_server.scheduling.embedded import EmbeddedScheduler
from mintaka_server.scheduling.leader import LeaderLease
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.services.schedule_triggers import CLOUD_TICK_TERM, minute_tick
from mintaka_server.storage.dynamodb import DynamoDBStore

pytestmark = pytest.mark.slow

ENGINES = [
    pytest.param(("dynamodb_endpoint", 2), id="dynamodb"),
    pytest.param(("dynamodb_local_endpoint", 8), id="dynamodb-local", marks=pytest.mark.dynamodb_local),
]
DEPLOYMENTS = 3


class TimedLease(LeaderLease):
    """The real lease, noting when its holder led: (held at, released at)."""

    def __init__(self, store, windows: list, lock: threading.Lock):
        super().__init__(store, CLOUD_TICK_TERM)
        self.windows, self.lock, self.since = windows, lock, None

    def hold(self) -> bool:
        held = super().hold()
        if held:
            self.since = time.monotonic()
        return held

    def release(self) -> None:
        ended = time.monotonic()  # before the lease is handed back: another may take it at once
        with self.lock:
            self.windows.append((self.since, ended))
        super().release()


@pytest.fixture(params=ENGINES)
def table(request):
    """A fresh table and a way to open another store (another Lambda container) on it."""
    fixture, rounds = request.param
    endpoint = request.getfixturevalue(fixture)
    name = f"mintaka-tick-{uuid.uuid4().hex[:12]}"
    stores: list[DynamoDBStore] = []

    def connect() -> DeploymentService:
        store = DynamoDBStore(name, endpoint_url=endpoint)
        stores.append(store)
        return DeploymentService(OrchestrationService(store))

    connect().store.create_table()
    connect.rounds = rounds
    yield connect
    stores[0].delete_table()
    for store in stores:
        store.close()


def deploy(deployments: DeploymentService) -> None:
    for i in range(DEPLOYMENTS):
        deployments.upsert_deployment(
            DeploymentCreate(
                flow_name="etl",
                name=f"d{i}",
                entrypoint="flows/etl.py:etl",
                storage={"type": "local", "url": "/srv/project"},
                schedules=[{"type": "cron", "cron": "* * * * *"}],
            )
        )


def test_two_racing_ticks_never_do_the_work_at_once(table):
    racers = [table(), table()]
    deploy(racers[0])
    windows: list[tuple[float, float]] = []
    lock = threading.Lock()
    worked = skipped = 0
    for round_ in range(table.rounds):
        tick_time = utcnow().replace(second=0, microsecond=0) + dt.timedelta(minutes=round_)
        barrier = threading.Barrier(len(racers))
        results: list = []

        def tick(deployments: DeploymentService, tick_time=tick_time, barrier=barrier, results=results) -> None:
            at_tick = DeploymentService(deployments.orchestration, clock=lambda: tick_time)
            lease = TimedLease(deployments.store, windows, lock)
            barrier.wait()
            results.append(minute_tick(at_tick, deployments, lease=lease))

        threads = [threading.Thread(target=tick, args=(racer,)) for racer in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == len(racers)
        worked += sum(fired.skipped is None for fired in results)
        skipped += sum(fired.skipped is not None for fired in results)
    assert worked >= table.rounds  # every round's work was done
    assert skipped >= 1  # and a racer found the other leading
    windows.sort()
    overlaps = [(a, b) for a, b in zip(windows, windows[1:], strict=False) if b[0] < a[1]]
    assert overlaps == []
    runs = racers[0].store.list_due_flow_runs(utcnow() + dt.timedelta(hours=1), limit=1000)
    assert len({(r.deployment_name, r.expected_start_time) for r in runs}) == len(runs)


def test_a_tick_and_an_embedded_scheduler_on_one_table_take_turns(table):
    cloud, server = table(), table()
    deploy(cloud)
    embedded = EmbeddedScheduler(server, interval=2.0)
    at_tick = DeploymentService(cloud.orchestration, clock=lambda: utcnow().replace(second=0, microsecond=0))
    assert embedded.tick() is True  # the server leads
    assert minute_tick(at_tick, cloud).skipped is not None  # the tick leaves the work to it
    embedded.stop()  # hands the lease back
    assert minute_tick(at_tick, cloud).skipped is None  # the tick does the work, then hands it back
    assert embedded.tick() is True
    embedded.stop()
    # A tick killed while holding the lease (never handing it back) keeps the server out for its term.
    assert LeaderLease(cloud.store, CLOUD_TICK_TERM, clock=cloud.clock).hold() is True
    assert embedded.tick() is False
