"""`mintaka deployment ls | inspect | run | pause-schedule | resume-schedule | delete`."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mintaka_core.vocabulary import GIT_COMMIT_LABEL

from .deploy import describe_schedule, describe_storage

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import FlowRun

app = typer.Typer(help="Manage deployments (FLOW/DEPLOYMENT, e.g. etl/prod).", no_args_is_help=True)

FullName = Annotated[str, typer.Argument(metavar="FLOW/DEPLOYMENT", help="e.g. etl/prod")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WATCH_POLL_SECONDS = 0.5


def split_name(value: str) -> tuple[str, str]:
    from mintaka.exceptions import InvalidRequest

    flow_name, _, name = value.strip().partition("/")
    if not flow_name or not name:
        raise InvalidRequest(f"{value!r}: expected FLOW/DEPLOYMENT, e.g. etl/prod")
    return flow_name, name


@app.command("ls")
def ls(json_output: JsonOption = False) -> None:
    """List deployments."""
    from mintaka.client import get_client

    from ._output import console, print_json, table, when

    deployments = get_client().list_deployments()
    if json_output:
        print_json(deployments)
        return
    t = table("Deployments", "Name", "Schedule", "Work queue", "Storage", "Updated")
    for d in deployments:
        t.add_row(d.full_name, describe_schedule(d), d.work_queue_name, describe_storage(d), when(d.updated))
    console().print(t)


@app.command("inspect")
def inspect(full_name: FullName, json_output: JsonOption = False) -> None:
    """Show a deployment and its latest runs."""

    from rich.markup import escape

    from mintaka.client import get_client
    from mintaka.schemas import FlowRunFilter

    from ._output import console, print_json, state_label, table, when

    client = get_client()
    deployment = client.read_deployment(*split_name(full_name))
    runs = client.list_flow_runs(FlowRunFilter(deployment_name=deployment.full_name, limit=10)).items
    if json_output:
        print_json({**deployment.model_dump(mode="json"), "runs": runs})
        return
    out = console()
    out.print(f"[bold]Deployment {escape(deployment.full_name)}[/bold]  {deployment.id}", soft_wrap=True)
    fields = {
        "Entrypoint": deployment.entrypoint,
        "Storage": describe_storage(deployment),
        "Schedule": describe_schedule(deployment),
        "Work queue": deployment.work_queue_name,
        "Infrastructure": deployment.infrastructure,
        "Parameters": json.dumps(deployment.parameters) if deployment.parameters else "-",
        "Tags": ", ".join(deployment.tags) or "-",
        "Description": deployment.description or "-",
        "Updated": when(deployment.updated),
    }
    for label, value in fields.items():
        out.print(f"  [bold]{label}:[/bold] {escape(value)}", soft_wrap=True)
    t = table("Latest runs", "ID", "Name", "State", "Expected start", "Commit")
    for run in runs:
        commit = run.labels.get(GIT_COMMIT_LABEL, "")[:12] or "-"
        t.add_row(str(run.id), run.name, state_label(run.state), when(run.expected_start_time), commit)
    out.print(t)


@app.command("run")
def run(
    full_name: FullName,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE override; repeat.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="An extra tag for the run; repeat.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="The same key returns the same run.")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the run to its end; exit 1 unless it completes.")] = (
        False
    ),
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="With --watch: give up after this many seconds.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a run of the deployment now (a worker on its work queue executes it)."""
    from mintaka.client import get_client
    from mintaka.deployment_schemas import DeploymentRunCreate
    from mintaka.deployments import parse_param_options

    from ._output import console, print_json

    client = get_client()
    body = DeploymentRunCreate(
        parameters=parse_param_options(param or []), tags=tag or [], idempotency_key=idempotency_key
    )
    flow_run = client.create_deployment_run(*split_name(full_name), body)
    if json_output and not watch:
        print_json(flow_run)
        return
    console().print(
        f"Created flow run {flow_run.name} ({flow_run.id}) of {full_name} on work queue {flow_run.work_queue_name}",
        soft_wrap=True,
        markup=False,
    )
    if watch:
        final = watch_run(client, flow_run, timeout)
        raise typer.Exit(0 if final.state and final.state.is_completed() else 1)


def watch_run(client: MintakaClient, flow_run: FlowRun, timeout: float | None = None) -> FlowRun:
    """Print each state the run passes through until it finishes (or `timeout` passes)."""
    from mintaka.exceptions import MintakaError

    from ._output import console, state_label, when

    out = console()
    deadline = time.monotonic() + timeout if timeout else None
    seen = None
    while True:
        state = flow_run.state
        key = (state.type, state.name, state.timestamp) if state else None
        if key != seen:
            seen = key
            message = f": {state.message}" if state and state.message else ""
            out.print(f"{when(state.timestamp if state else None)}  {state_label(state)}{message}", soft_wrap=True)
        if state is not None and state.is_final():
            return flow_run
        if deadline is not None and time.monotonic() > deadline:
            raise MintakaError(f"Flow run {flow_run.id} did not finish within {timeout:g}s (it is {state.name})")
        time.sleep(WATCH_POLL_SECONDS)
        flow_run = client.read_flow_run(flow_run.id)


@app.command("pause-schedule")
def pause_schedule(full_name: FullName) -> None:
    """Stop scheduling new runs (runs already scheduled stay)."""
    from mintaka.client import get_client

    from ._output import console

    get_client().set_deployment_schedule_paused(*split_name(full_name), paused=True)
    console().print(f"Paused the schedule of {full_name}.", soft_wrap=True, markup=False)


@app.command("resume-schedule")
def resume_schedule(full_name: FullName) -> None:
    """Schedule runs again."""
    from mintaka.client import get_client

    from ._output import console

    get_client().set_deployment_schedule_paused(*split_name(full_name), paused=False)
    console().print(f"Resumed the schedule of {full_name}.", soft_wrap=True, markup=False)


@app.command("delete")
def delete(full_name: FullName) -> None:
    """Delete the deployment and its schedule (its runs are kept)."""
    from mintaka.client import get_client

    from ._output import console

    get_client().delete_deployment(*split_name(full_name))
    console().print(f"Deleted deployment {full_name}.", soft_wrap=True, markup=False)
