"""`mintaka api-key create | ls | revoke`: who may call the API.

Through the API by default (MINTAKA_API_URL + MINTAKA_API_KEY; with no URL, the embedded store,
which needs no key). `--store` works on a store directly instead, with no API in between: that
is how the first key of a server that requires keys is made (`--scope admin`, to make the others).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka_server.services import OrchestrationService

app = typer.Typer(help="Manage API keys (who may call the API).", no_args_is_help=True)


class StoreKind(StrEnum):
    sqlite = "sqlite"
    dynamodb = "dynamodb"


StoreOption = Annotated[
    StoreKind | None,
    typer.Option(
        "--store",
        help="Work on this store directly, not through the API: sqlite ($MINTAKA_HOME/mintaka.db) or dynamodb"
        " (MINTAKA_TABLE_PREFIX, AWS_* credentials). For the first key of a server that requires keys.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class ScopeChoice(StrEnum):
    """`mintaka.schemas.ApiKeyScope`'s values, without importing the schemas when the CLI starts."""

    read = "read"
    write = "write"
    admin = "admin"


@contextmanager
def _keys(store: StoreKind | None) -> Iterator[MintakaClient | OrchestrationService]:
    """What answers create/list/revoke: the API client, or the service on the named store."""
    if store is None:
        from mintaka.client import get_client

        yield get_client()
        return
    from mintaka_server.services import OrchestrationService

    direct = _open_store(store)
    try:
        yield OrchestrationService(direct)
    finally:
        direct.close()


def _open_store(kind: StoreKind):
    try:
        from mintaka_server.config import build_store
        from mintaka_server.server_settings import ServerSettings
    except ImportError:  # an installation without the store wiring: SQLite only
        if kind is not StoreKind.sqlite:
            from mintaka.exceptions import InvalidRequest

            raise InvalidRequest(f"--store {kind} is not available in this installation") from None
        from mintaka.settings import get_settings
        from mintaka_server.storage.sqlite import SQLiteStore

        return SQLiteStore(get_settings().database_path)
    return build_store(ServerSettings(store=kind.value))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. `ci` or `alice-laptop`.")],
    scope: Annotated[
        ScopeChoice,
        typer.Option(
            help="read: GET only. write: run flows and report them (SDK, workers). admin: also keys, settings,"
            " deployments, work queues, limits, policies and forced states.",
        ),
    ] = ScopeChoice.write,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a key and print it (only this once: the server keeps only its hash)."""
    from mintaka.schemas import ApiKeyCreate, ApiKeyScope

    from ._output import console, print_json

    with _keys(store) as keys:
        created = keys.create_api_key(ApiKeyCreate(name=name, scope=ApiKeyScope(scope.value)))
    if json_output:
        print_json(created)
        return
    console().print(
        f"Created API key {created.name!r} (id {created.id}, scope {created.scope.value})."
        " Copy it now; it is not shown again:",
        soft_wrap=True,
    )
    typer.echo(created.key)


@app.command("ls")
def ls(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List keys (ids and names; never secrets), revoked ones included."""
    from ._output import console, print_json, table, when

    with _keys(store) as keys:
        listed = keys.list_api_keys()
    if json_output:
        print_json(listed)
        return
    t = table("API keys", "ID", "Name", "Scope", "Created", "Revoked")
    for key in listed:
        t.add_row(key.id, key.name, key.scope.value, when(key.created), when(key.revoked) if key.revoked else "-")
    console().print(t)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (or the whole key).")],
    store: StoreOption = None,
) -> None:
    """Revoke a key: requests carrying it are refused (401) from now on."""
    from ._output import console

    if key_id.startswith("mk_"):  # the whole key was pasted: mk_<id>_<secret>
        key_id = key_id.split("_")[1]
    with _keys(store) as keys:
        keys.revoke_api_key(key_id)
    console().print(f"Revoked API key {key_id}.", soft_wrap=True)
