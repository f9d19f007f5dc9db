"""Schedulers sharing one store (several `mintaka server start` on one SQLite file): one leads,
each fire time becomes one run created once, a killed leader is replaced once its lease has
expired, and events find their deployments through the trigger index. Real SQLite files, a clock
the test moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from mintaka.deployment_schemas import DeploymentCreate, EventCreate
from mintaka.schemas import FlowRunFilter
from mintaka_server.scheduling.embedded import EmbeddedScheduler
from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService
from mintaka_server.services.trigger_index import BUILT_SETTING
from mintaka_server.storage.sqlite import SQLiteStore

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)
INTERVAL = 2.0  # the schedulers' tick: their leases last 5 ticks (10 s)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class CountingStore(SQLiteStore):
    """The SQLite store, counting the runs it was asked to create (attempts, not runs made)."""

    attempts = 0

    def create_flow_run(self, run, history_before=(), *, lease_expires=None):
        self.attempts += 1
        return super().create_flow_run(run, history_before, lease_expires=lease_expires)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def servers(tmp_path, clock) -> Iterator[list[tuple[EmbeddedScheduler, CountingStore]]]:
    """Two servers' schedulers, each with its own connection to one SQLite file."""
    stores = [CountingStore(tmp_path / "mintaka.db") for _ in range(2)]
    schedulers = [EmbeddedScheduler(service(store, clock), interval=INTERVAL) for store in stores]
    yield list(zip(schedulers, stores, strict=True))
    for store in stores:
        store.close()


def service(store: SQLiteStore, clock: Clock) -> DeploymentService:
    return DeploymentService(OrchestrationService(store, clock=clock), clock=clock)


def deploy(deployments: DeploymentService, name: str, **fields) -> None:
    deployments.upsert_deployment(
        DeploymentCreate(
            flow_name="etl",
            name=name,
            entrypoint="flows/etl.py:etl",
            storage={"type": "local", "url": "/srv/project"},
            **fields,
        )
    )


def every_minute(deployments: DeploymentService, count: int) -> None:
    for i in range(count):
        deploy(deployments, f"d{i}", schedules=[{"type": "cron", "cron": "* * * * *"}])


def scheduled_runs(store: SQLiteStore) -> list:
    return store.list_flow_runs(FlowRunFilter(limit=500)).items


def test_two_schedulers_on_one_store_create_each_run_once(servers, clock):
    (first, first_store), (second, second_store) = servers
    every_minute(first.deployments, 3)
    leads = []
    for _ in range(90):  # three minutes of ticks, both servers every tick
        leads.append((first.tick(), second.tick()))
        clock.advance(INTERVAL)
    assert set(leads) == {(True, False)}  # one leads throughout; the other does nothing
    runs = scheduled_runs(first_store)
    per_fire = {(r.deployment_name, r.expected_start_time) for r in runs}
    assert len(per_fire) == len(runs)  # no fire time has two runs
    # Every minute from 12:00 on has its run for each deployment, created before it was due.
    due = [T0.replace(microsecond=0) + dt.timedelta(minutes=m) for m in range(4)]
    assert all((f"etl/d{i}", at) in per_fire for i in range(3) for at in due)
    assert all(r.created <= r.expected_start_time + dt.timedelta(seconds=1) for r in runs)
    # Each fire time was attempted once: ten ahead per deployment at first, then one a minute.
    assert first_store.attempts == len(runs) and second_store.attempts == 0


def test_a_killed_leader_is_replaced_once_its_lease_expires(servers, clock):
    (first, first_store), (second, _) = servers
    every_minute(first.deployments, 2)
    assert first.tick() is True and second.tick() is False
    made = len(scheduled_runs(first_store))
    # The leader is killed: it neither ticks nor hands its lease back.
    clock.advance(INTERVAL)
    assert second.tick() is False  # its lease (5 ticks) still runs
    clock.advance(5 * INTERVAL - INTERVAL)
    assert second.tick() is True  # expired: the other server leads now
    assert first.tick() is False  # and a revived first one follows
    clock.advance(15 * 60)  # a quarter of an hour of the new leader
    for _ in range(3):
        assert second.tick() is True
        clock.advance(INTERVAL)
    runs = scheduled_runs(first_store)
    assert len(runs) > made
    assert len({(r.deployment_name, r.expected_start_time) for r in runs}) == len(runs)


def test_a_stopped_leader_hands_over_at_once(servers, clock):
    (first, _), (second, _) = servers
    assert first.tick() is True and second.tick() is False
    first.stop()  # never started: stopping hands the lease back
    assert second.tick() is True and first.tick() is False


def test_a_deployment_changed_through_another_server_is_seen_at_the_next_tick(servers, clock):
    (first, first_store), (second, _) = servers
    assert first.tick() is True  # leads, with nothing deployed yet
    deploy(second.deployments, "new", schedules=[{"type": "cron", "cron": "* * * * *"}])
    clock.advance(INTERVAL)
    assert first.tick() is True
    made = [r for r in scheduled_runs(first_store) if r.deployment_name == "etl/new"]
    assert len(made) == 10  # the next ten minutes
    second.deployments.set_deployment_schedule_paused("etl", "new", paused=True)
    clock.advance(5 * 60)
    assert first.tick() is True
    assert len([r for r in scheduled_runs(first_store) if r.deployment_name == "etl/new"]) == 10


def test_a_leader_back_after_another_led_repeats_nothing_and_misses_nothing(servers, clock):
    (first, first_store), (second, _) = servers
    every_minute(first.deployments, 2)
    assert first.tick() is True
    clock.advance(6 * INTERVAL)  # the first one stalls past its lease: the second leads
    for _ in range(40):
        assert second.tick() is True
        clock.advance(INTERVAL)
    second.stop()
    for _ in range(40):  # the first leads again, its view of the cursors from before
        assert first.tick() is True
        clock.advance(INTERVAL)
    runs = scheduled_runs(first_store)
    per_fire = {(r.deployment_name, r.expected_start_time) for r in runs}
    assert len(per_fire) == len(runs)
    due = [T0.replace(microsecond=0) + dt.timedelta(minutes=m) for m in range(4)]
    assert all((f"etl/d{i}", at) in per_fire for i in range(2) for at in due)


def test_events_reach_their_deployments_through_the_trigger_index(tmp_path, clock):
    store = SQLiteStore(tmp_path / "mintaka.db")
    try:
        deployments = service(store, clock)
        deploy(deployments, "s3", triggers=[{"match": {"source": ["s3", "gcs"]}}])
        deploy(deployments, "any", triggers=[{"match": {"detail": {"bucket": "landing"}}}])
        deploy(deployments, "sqs", triggers=[{"match": {"source": "sqs"}}])
        event = EventCreate(id="e1", source="s3", detail={"bucket": "landing"})
        names = [store.read_flow_run(i).deployment_name for i in deployments.create_event(event).flow_run_ids]
        assert names == ["etl/any", "etl/s3"]
        assert deployments.triggers.candidates("s3", deployments.list_deployments) == ["etl/any", "etl/s3"]
        # A redeploy moves the deployment's entries; a deletion removes them.
        deploy(deployments, "s3", triggers=[{"match": {"source": "gcs"}}])
        assert deployments.triggers.candidates("s3", deployments.list_deployments) == ["etl/any"]
        deployments.delete_deployment("etl", "any")
        assert deployments.triggers.candidates("s3", deployments.list_deployments) == []
        assert deployments.create_event(EventCreate(id="e2", source="sqs")).flow_run_ids != []

        # A store written before the index existed (deployments only): the first event builds it.
        older = SQLiteStore(tmp_path / "older.db")
        try:
            older.put_document("deployment", "etl/sqs", store.read_document("deployment", "etl/sqs"))
            upgraded = service(older, clock)
            assert len(upgraded.create_event(EventCreate(id="e3", source="sqs")).flow_run_ids) == 1
            assert older.read_setting(BUILT_SETTING) is not None
            assert older.list_documents("trigger_index:sqs") == [{"deployment": "etl/sqs"}]
        finally:
            older.close()
    finally:
        store.close()
