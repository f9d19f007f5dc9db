"""`mintaka concurrency-limit create | ls | delete`: tag concurrency limits."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Manage tag concurrency limits.", no_args_is_help=True)


@app.command("create")
def create(
    tag: Annotated[str, typer.Argument(help="Tasks carrying this tag share the limit.")],
    limit: Annotated[int, typer.Argument(help="At most this many such task runs RUNNING at once.")],
) -> None:
    """Create the tag's limit, or change it."""
    from mintaka.client import get_client
    from mintaka.schemas import ConcurrencyLimitCreate

    from ._output import console

    created = get_client().set_concurrency_limit(ConcurrencyLimitCreate(tag=tag, limit=limit))
    console().print(f"Concurrency limit for tag {created.tag!r} set to {created.limit}.", soft_wrap=True)


@app.command("ls")
def ls(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List limits with the slots in use."""
    from mintaka.client import get_client

    from ._output import console, print_json, table, when

    limits = get_client().list_concurrency_limits()
    if json_output:
        print_json(limits)
        return
    t = table("Concurrency limits", "Tag", "Limit", "Active", "Created")
    for limit in limits:
        t.add_row(limit.tag, str(limit.limit), str(limit.active_slots), when(limit.created))
    console().print(t)


@app.command("delete")
def delete(tag: Annotated[str, typer.Argument(help="The tag whose limit to remove.")]) -> None:
    """Remove the tag's limit (its task runs are no longer held back)."""
    from mintaka.client import get_client

    from ._output import console

    get_client().delete_concurrency_limit(tag)
    console().print(f"Deleted the concurrency limit for tag {tag!r}.", soft_wrap=True)
