"""Log lines while the API is away: kept in memory up to a bound, then in the spool on disk,
and delivered once the API answers again, each exactly once. Real HTTP through a real proxy."""

from __future__ import annotations

import logging

import pytest
from support.flaky_proxy import FlakyProxy

from mintaka.client.http import HttpTransport
from mintaka.logging import APILogShipper
from mintaka.schemas import FlowRunCreate
from mintaka.settings import reset_settings


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    monkeypatch.setenv("MINTAKA_LOG_SPOOL_DIR", str(spool))
    reset_settings()
    yield spool
    reset_settings()


@pytest.fixture
def shipping_logger():
    """A logger whose records go to a shipper that ships only when told (`flush`)."""
    shipper = APILogShipper(interval=3600, max_records=10)
    logger = logging.getLogger("mintaka.test_log_spool")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(shipper)
    yield logger, shipper
    logger.removeHandler(shipper)


def spooled_files(spool):
    return [p for p in spool.rglob("*") if p.is_file()]


def test_lines_past_the_memory_bound_spill_to_disk_and_arrive_once(live_server, spool_dir, shipping_logger):
    logger, shipper = shipping_logger
    proxy = FlakyProxy(live_server.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(f"{base}/api", retries=0)
        run = client.create_flow_run(FlowRunCreate(flow_name="spill"))
        proxy.failing = True
        for i in range(25):
            logger.info("line %02d", i, extra={"flow_run_id": run.id, "client": client})
            if i % 5 == 4:
                shipper.flush()  # the API is away: nothing is lost, nothing is sent twice
        assert spooled_files(spool_dir), "past 10 lines in memory, the oldest wait on disk"
        assert len(shipper._buffer) <= 10
        proxy.failing = False
        shipper.flush()
        shipper.flush()
        messages = [log.message for log in client.read_logs(run.id)]
        client.close()
    assert messages == [f"line {i:02d}" for i in range(25)]
    assert spooled_files(spool_dir) == []


def test_lines_a_process_could_not_deliver_wait_for_the_next_one(live_server, spool_dir, shipping_logger):
    logger, shipper = shipping_logger
    proxy = FlakyProxy(live_server.url.removesuffix("/api"))
    with proxy.serving() as base:
        client = HttpTransport(f"{base}/api", retries=0)
        run = client.create_flow_run(FlowRunCreate(flow_name="spill"))
        proxy.failing = True
        for i in range(3):
            logger.info("last words %d", i, extra={"flow_run_id": run.id, "client": client})
        shipper.flush(final=True)  # the process exits: the lines go to the spool
        assert len(spooled_files(spool_dir)) == 1 and shipper._buffer == []
        proxy.failing = False
        # The next process using that API: a new shipper, whose first shipment brings them along.
        following = APILogShipper(interval=3600)
        logger.removeHandler(shipper)
        logger.addHandler(following)
        logger.info("next process", extra={"flow_run_id": run.id, "client": client})
        following.flush()
        logger.removeHandler(following)
        messages = sorted(log.message for log in client.read_logs(run.id))
        client.close()
    assert messages == ["last words 0", "last words 1", "last words 2", "next process"]
    assert spooled_files(spool_dir) == []
