"""Shared fixtures: the `--store` option and the store adapters the contract suite runs against.

Adding an adapter is one entry in `STORE_FACTORIES`: a function taking the pytest request and
returning a fresh, empty `Store` (it may pull other fixtures with `request.getfixturevalue`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mintaka_server.storage import Store
from mintaka_server.storage.sqlite import SQLiteStore

STORE_CHOICES = ("sqlite", "dynamodb", "all")


def make_sqlite_store(request: pytest.FixtureRequest) -> Store:
    """A real WAL-mode SQLite file under the test's tmp_path."""
    return SQLiteStore(request.getfixturevalue("tmp_path") / "mintaka.db")


# name -> factory. Adapters not listed here are reported as skipped when asked for.
STORE_FACTORIES: dict[str, Callable[[pytest.FixtureRequest], Store]] = {
    "sqlite": make_sqlite_store,
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
        metafunc.parametrize("store_name", selected_stores(metafunc.config))


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
