"""The root `mintaka` app, its sub-commands, and the one place CLI errors are reported."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from . import (
    api_keys,
    api_settings,
    concurrency_limits,
    config,
    deploy,
    deployments,
    flow_runs,
    flows,
    retry_policies,
    server,
    work_queues,
    worker,
)

app = typer.Typer(
    name="mintaka",
    help="Mintaka: code-as-workflows orchestration.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
)
app.add_typer(server.app, name="server")
app.add_typer(flow_runs.app, name="flow-run")
app.add_typer(flows.app, name="flow")
app.add_typer(concurrency_limits.app, name="concurrency-limit")
app.add_typer(retry_policies.app, name="retry-policy")
app.add_typer(api_keys.app, name="api-key")
app.add_typer(config.app, name="config")
app.add_typer(api_settings.app, name="settings")
app.command("deploy")(deploy.deploy)
app.add_typer(deployments.app, name="deployment")
app.add_typer(work_queues.app, name="work-queue")
app.add_typer(worker.app, name="worker")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mintaka {version('mintaka')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Mintaka: code-as-workflows orchestration."""


# Commands that run flows ride out API outages for the whole window (MINTAKA_API_OUTAGE_TOLERANCE);
# the others answer a person at a terminal, and give up after a few quick retries.
_RIDE_OUT = (("worker", "start"), ("flow-run", "execute"))
INTERACTIVE_RETRIES = 3


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `mintaka` console script."""
    from mintaka.client.retrying import at_most

    args = list(argv) if argv is not None else sys.argv[1:]
    rides_out = any(tuple(args[i : i + 2]) in _RIDE_OUT for i in range(len(args)))
    try:
        with at_most(None if rides_out else INTERACTIVE_RETRIES):
            app(args=args, prog_name="mintaka")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the CLI edge: one line, never a traceback
        from ._output import error_message, print_error

        print_error(error_message(exc))
        sys.exit(1)
