"""`mintaka retry-policy set | ls | delete`: retries set on the server, per flow, deployment or
tag, applied to the next failure of every run in scope without redeploying code."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

app = typer.Typer(help="Set retries on the server, per flow, deployment or tag.", no_args_is_help=True)

Scope = Literal["flow", "deployment", "tag"]
_SCOPE = typer.Argument(help="flow (its runs), deployment (FLOW/NAME: its runs) or tag (any run tagged).")


@app.command("set")
def set_policy(
    scope: Annotated[Scope, _SCOPE],
    name: Annotated[str, typer.Argument(help="The flow's name, FLOW/DEPLOYMENT, or the tag.")],
    retries: Annotated[int, typer.Option("--retries", "-r", help="Retries after the first failure.")],
    delay: Annotated[
        list[float] | None, typer.Option("--delay", "-d", help="Seconds before a retry; repeat: one per attempt.")
    ] = None,
    jitter: Annotated[float | None, typer.Option("--jitter", help="Add up to this fraction of the delay.")] = None,
) -> None:
    """Create or replace the policy. A deployment's wins over its flow's, a flow's over a tag's."""
    from pydantic import ValidationError

    from mintaka.client import get_client
    from mintaka.exceptions import InvalidRequest
    from mintaka.schemas import RetryPolicySet

    from ._output import console, describe_validation_error

    try:
        body = RetryPolicySet(retries=retries, retry_delay_seconds=delay or [], retry_jitter_factor=jitter)
    except ValidationError as exc:
        names = {"retries": "--retries", "retry_delay_seconds": "--delay", "retry_jitter_factor": "--jitter"}
        raise InvalidRequest(describe_validation_error(exc, names)) from None
    policy = get_client().set_retry_policy(scope, name, body)
    delays = ", ".join(f"{d:g}s" for d in policy.retry_delay_seconds) or "none"
    console().print(
        f"Runs of {scope} {policy.name!r} now retry {policy.retries} time(s) (delays: {delays}).", soft_wrap=True
    )


@app.command("ls")
def ls(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the policies set on the server."""
    from mintaka.client import get_client

    from ._output import console, print_json, table, when

    policies = get_client().list_retry_policies()
    if json_output:
        print_json(policies)
        return
    t = table("Retry policies", "Scope", "Name", "Retries", "Delays", "Jitter", "Updated")
    for p in policies:
        delays = ", ".join(f"{d:g}s" for d in p.retry_delay_seconds) or "-"
        jitter = f"{p.retry_jitter_factor:g}" if p.retry_jitter_factor is not None else "-"
        t.add_row(p.scope, p.name, str(p.retries), delays, jitter, when(p.updated))
    console().print(t)


@app.command("delete")
def delete(scope: Annotated[Scope, _SCOPE], name: Annotated[str, typer.Argument(help="As given to `set`.")]) -> None:
    """Remove the policy: runs in scope follow their code's retries again."""
    from mintaka.client import get_client

    from ._output import console

    get_client().delete_retry_policy(scope, name)
    console().print(f"Deleted the retry policy for {scope} {name!r}.", soft_wrap=True)
