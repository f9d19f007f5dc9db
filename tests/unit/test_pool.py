"""The concurrent task runner's elastic thread pool: everything submitted runs, waiting work
gets more threads, and shutdown behaves like `ThreadPoolExecutor.shutdown`."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import threading
import time

import pytest

from mintaka._pool import ElasticThreadPool, ProcessDemand, serial_threads


def test_runs_everything_and_delivers_results_and_exceptions():
    pool = ElasticThreadPool(4)
    futures = [pool.submit(lambda i=i: i * i) for i in range(200)]

    def boom():
        raise ValueError("boom")

    failing = pool.submit(boom)
    assert [f.result(timeout=10) for f in futures] == [i * i for i in range(200)]
    with pytest.raises(ValueError, match="boom"):
        failing.result(timeout=10)
    pool.shutdown()


def test_blocked_workers_get_company_up_to_max_workers():
    pool = ElasticThreadPool(8)
    started = time.monotonic()
    futures = [pool.submit(lambda: time.sleep(0.3)) for _ in range(8)]
    cf.wait(futures, timeout=10)
    assert time.monotonic() - started < 0.9  # eight 0.3 s sleeps side by side, not 2.4 s in a row
    assert pool.size == 8
    pool.shutdown()


def test_short_waits_grow_the_pool_too():
    pool = ElasticThreadPool(16)
    started = time.monotonic()
    futures = [pool.submit(lambda: time.sleep(0.005)) for _ in range(200)]
    cf.wait(futures, timeout=10)
    assert time.monotonic() - started < 0.6  # 1 s in a row
    assert pool.size > 1
    pool.shutdown()


def test_quick_cpu_bound_work_stays_on_one_thread():
    pool = ElasticThreadPool(16)
    ran_on: collections.Counter = collections.Counter()

    def quick():
        sum(range(2000))  # ~0.05 ms holding the GIL, like a task run's orchestration
        ran_on[threading.get_ident()] += 1

    cf.wait([pool.submit(quick) for _ in range(4000)], timeout=30)
    # Extra threads would only fight over the GIL: (nearly) everything ran on one of them.
    assert ran_on.most_common(1)[0][1] >= 0.75 * 4000
    pool.shutdown()


def test_stalls_inside_serial_work_do_not_grow_the_pool():
    pool = ElasticThreadPool(8)

    def in_the_store():  # e.g. a commit that paid for a WAL checkpoint: more threads cannot help
        serial_threads.add(threading.get_ident())
        try:
            time.sleep(0.05)
        finally:
            serial_threads.discard(threading.get_ident())

    cf.wait([pool.submit(in_the_store) for _ in range(4)], timeout=10)
    assert pool.size == 1
    pool.shutdown()


def test_process_demand_counts_cpu_and_closes_what_it_opened():
    demand = ProcessDemand()
    demand.track_current_thread()
    cpu, waited = demand.read()
    sum(range(200_000))
    later_cpu, later_waited = demand.read()
    assert later_cpu > cpu and later_waited >= waited >= 0
    demand.untrack_all_but(keep=set())
    assert demand.read()[1] == 0


def test_work_waiting_on_later_work_does_not_deadlock():
    pool = ElasticThreadPool(2)
    ready = threading.Event()
    first = pool.submit(lambda: ready.wait(10))
    pool.submit(ready.set)
    assert first.result(timeout=5) is True
    pool.shutdown()


def test_never_more_threads_than_max_workers():
    pool = ElasticThreadPool(3)
    cf.wait([pool.submit(lambda: time.sleep(0.05)) for _ in range(12)], timeout=10)
    assert pool.size == 3
    pool.shutdown()


def test_shutdown_runs_queued_work_or_cancels_it():
    pool = ElasticThreadPool(1)
    gate = threading.Event()
    running = pool.submit(lambda: gate.wait(10))
    queued = [pool.submit(lambda: 1) for _ in range(3)]
    gate.set()
    pool.shutdown(wait=True)
    assert running.result() is True and [f.result() for f in queued] == [1, 1, 1]
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: 1)

    pool = ElasticThreadPool(1)
    gate, started = threading.Event(), threading.Event()
    running = pool.submit(lambda: started.set() or gate.wait(10))
    queued = [pool.submit(lambda: 1) for _ in range(3)]
    assert started.wait(5)
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    gate.set()
    assert running.result(timeout=5) is True
