"""`mintaka flow ls`."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Browse flows.", no_args_is_help=True)


@app.command("ls")
def ls(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List flows by name."""
    from mintaka.client import get_client

    from ._output import console, print_json, table, when

    flows = get_client().list_flows()
    if json_output:
        print_json(flows)
        return
    t = table("Flows", "ID", "Name", "Created")
    for flow in flows:
        t.add_row(str(flow.id), flow.name, when(flow.created))
    console().print(t)
