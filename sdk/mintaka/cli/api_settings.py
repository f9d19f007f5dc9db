"""`mintaka settings`: what the operator sets on the server for every client."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Server-side settings for every client (e.g. where results go).", no_args_is_help=True)


@app.command("show")
def show(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the server's settings."""
    from mintaka.client import get_client

    from ._output import console, print_json

    storage = get_client().read_result_storage()
    if json_output:
        print_json({"result_storage": storage.url if storage else None})
        return
    where = storage.url if storage else "unset: each client's $MINTAKA_HOME/results"
    console().print(f"Result storage: {where}", soft_wrap=True)


@app.command("set-result-storage")
def set_result_storage(
    url: Annotated[str, typer.Argument(help="s3://bucket/prefix (or file:///shared/path).")],
) -> None:
    """Persist results there by default. Clients write with their own credentials; the API
    stores only references."""
    from mintaka.client import get_client
    from mintaka.schemas import ResultStorageSetting

    from ._output import console

    saved = get_client().set_result_storage(ResultStorageSetting(url=url))
    console().print(f"Results persist to {saved.url} by default.", soft_wrap=True)


@app.command("unset-result-storage")
def unset_result_storage() -> None:
    """Back to each client's local filesystem."""
    from mintaka.client import get_client

    from ._output import console

    get_client().clear_result_storage()
    console().print("Results persist to each client's $MINTAKA_HOME/results by default.", soft_wrap=True)
