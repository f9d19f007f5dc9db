"""Wiring from settings to adapters: the one place that picks the store.

Adapters are imported here lazily, so choosing SQLite never loads pynamodb/botocore and a
Lambda container pays for DynamoDB only when it is configured for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mintaka_core.exceptions import MintakaError

from .server_settings import ServerSettings, get_server_settings

if TYPE_CHECKING:
    from mintaka_server.storage import Store

DYNAMODB_MODULE = "mintaka_server.storage.dynamodb"


class StoreUnavailable(MintakaError):
    """The configured store adapter cannot be loaded (missing extra, or not shipped yet)."""


def build_store(settings: ServerSettings | None = None) -> Store:
    """The store the settings name: `MINTAKA_STORE=sqlite` (default) or `dynamodb`.

    SQLite lives at the settings' `database_path` (`$MINTAKA_HOME/mintaka.db` unless
    `MINTAKA_DATABASE` says otherwise). DynamoDB uses the table `{MINTAKA_TABLE_PREFIX}mintaka`,
    `AWS_ENDPOINT_URL` when set, and the region from `AWS_REGION`/`AWS_DEFAULT_REGION`.
    """
    settings = settings or get_server_settings()
    if settings.store == "sqlite":
        from mintaka_server.storage.sqlite import SQLiteStore

        return SQLiteStore(settings.database_path)
    if settings.store == "dynamodb":
        store_class = _dynamodb_store_class()
        return store_class(
            table_name=settings.table_name,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
        )
    raise StoreUnavailable(f"Unknown store {settings.store!r}; choose 'sqlite' or 'dynamodb'")  # pragma: no cover


def _dynamodb_store_class() -> type[Store]:
    try:
        from mintaka_server.storage.dynamodb import DynamoDBStore
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing == DYNAMODB_MODULE or DYNAMODB_MODULE.startswith(f"{missing}."):
            hint = "this installation has no DynamoDB adapter (mintaka_server.storage.dynamodb)"
        else:
            hint = f"its dependency {missing or exc!s} is not installed; install the extra: pip install 'mintaka[aws]'"
        raise StoreUnavailable(f"MINTAKA_STORE=dynamodb cannot be used: {hint}") from exc
    return DynamoDBStore
