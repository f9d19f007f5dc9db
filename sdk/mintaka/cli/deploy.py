"""`mintaka deploy path/to/file.py:flow --name prod ...` (or `--all` from mintaka.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mintaka_core.vocabulary import DEFAULT_QUEUE

if TYPE_CHECKING:
    from mintaka.deployment_schemas import Deployment

_SPEC_OPTIONS = {
    "entrypoint": "ENTRYPOINT",
    "name": "--name",
    "work_queue": "--queue",
    "infrastructure": "--infra",
    "interval": "--interval",
    "anchor_date": "--anchor",
    "timezone": "--timezone",
    "requirements": "--requirements",
}


def deploy(
    entrypoint: Annotated[
        str | None, typer.Argument(metavar="ENTRYPOINT", help="path/to/file.py:flow_function")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="The deployment's name (e.g. prod).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (JSON or text); repeat.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag for its runs; repeat.")] = None,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Work queue its runs go to.")] = DEFAULT_QUEUE,
    infra: Annotated[str, typer.Option("--infra", help="Where its runs execute: process, lambda or fargate.")] = (
        "process"
    ),
    cron: Annotated[str | None, typer.Option("--cron", help='Cron schedule, e.g. "0 9 * * *".')] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Run every this many seconds.")] = None,
    anchor: Annotated[str | None, typer.Option("--anchor", help="Interval anchor (ISO date-time).")] = None,
    rrule: Annotated[str | None, typer.Option("--rrule", help="iCalendar RRULE schedule.")] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the schedule.")] = "UTC",
    paused: Annotated[bool, typer.Option("--paused", help="Create with its schedule paused.")] = False,
    storage: Annotated[
        str,
        typer.Option("--storage", help="local, s3://BUCKET/PREFIX, or git+URL@BRANCH (e.g. git+file:///repo@main)."),
    ] = "local",
    description: Annotated[str | None, typer.Option("--description", help="Default: the flow's docstring.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="A version label for its runs.")] = None,
    persist_results: Annotated[
        bool,
        typer.Option(
            "--persist-results/--no-persist-results",
            help="Keep task results, so a run executing again (requeued, resumed) skips what completed.",
        ),
    ] = True,
    requirements: Annotated[
        Path | None,
        typer.Option(
            "--requirements",
            help="Lambda deployments: its requirements file (default: requirements.txt at the project root), "
            "built for the Lambda runtime and uploaded next to the code (reused while unchanged).",
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Deploy every deployment in mintaka.yaml.")] = False,
    file: Annotated[Path, typer.Option("--file", help="The project file --all reads.")] = Path("mintaka.yaml"),
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create or update a deployment of a flow: where its code lives, its parameters, tags,
    work queue, infrastructure and schedule. Parameters are checked against the flow's signature."""
    from pydantic import ValidationError

    from mintaka.client import get_client
    from mintaka.deployments import DeploySpec, apply, parse_param_options, read_project_file
    from mintaka.exceptions import InvalidRequest

    from ._output import describe_validation_error, print_json

    if all_:
        if entrypoint or name:
            raise InvalidRequest("--all deploys what mintaka.yaml lists: give no ENTRYPOINT or --name with it")
        specs = read_project_file(file)
    else:
        if not entrypoint:
            raise InvalidRequest("Missing ENTRYPOINT (path/to/file.py:flow_function), or --all for mintaka.yaml")
        if not name:
            raise InvalidRequest("Missing --name: a deployment needs a name (e.g. --name prod)")
        try:
            specs = [
                DeploySpec(
                    entrypoint=entrypoint,
                    name=name,
                    parameters=parse_param_options(param or []),
                    tags=tag or [],
                    work_queue=queue,
                    infrastructure=infra,
                    cron=cron,
                    interval=interval,
                    anchor_date=anchor,
                    rrule=rrule,
                    timezone=timezone,
                    paused=paused,
                    storage=storage,
                    description=description,
                    version=version,
                    persist_results=persist_results,
                    requirements=str(requirements) if requirements is not None else None,
                )
            ]
        except ValidationError as exc:
            raise InvalidRequest(describe_validation_error(exc, _SPEC_OPTIONS)) from None
    client = get_client()
    deployed = [apply(spec, client=client, on_upload=_upload_with_progress) for spec in specs]
    if json_output:
        print_json(deployed)
        return
    for deployment in deployed:
        _show_deployed(deployment)


def _upload_with_progress(url: str, archive: bytes) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from mintaka.code_storage import upload_archive

    columns = (TextColumn("Uploading {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(url, total=len(archive))
        upload_archive(archive, url, on_progress=lambda sent: progress.advance(task, sent))


def describe_schedule(deployment: Deployment) -> str:
    if not deployment.schedules:
        return "none"
    parts = []
    for schedule in deployment.schedules:
        if schedule.type == "cron":
            text = f"cron {schedule.cron!r}"
        elif schedule.type == "interval":
            text = f"every {schedule.interval_seconds:g}s"
        else:
            text = f"rrule {schedule.rrule!r}"
        parts.append(f"{text} ({schedule.timezone})")
    return ", ".join(parts) + (" [paused]" if deployment.schedule_paused else "")


def describe_storage(deployment: Deployment) -> str:
    storage = deployment.storage
    return f"{storage.type} {storage.url}" + (f" @ {storage.branch}" if storage.branch else "")


def _show_deployed(deployment: Deployment) -> None:
    from ._output import console

    out = console()
    full = deployment.full_name
    out.print(f"Deployment [bold]{full}[/bold] saved (id {deployment.id}).", soft_wrap=True)
    for label, value in (
        ("Entrypoint", deployment.entrypoint),
        ("Storage", describe_storage(deployment)),
        ("Schedule", describe_schedule(deployment)),
        ("Work queue", f"{deployment.work_queue_name} (infrastructure: {deployment.infrastructure})"),
        *((("Dependencies", deployment.dependencies),) if deployment.dependencies else ()),
    ):
        out.print(f"  {label}: {value}", soft_wrap=True, markup=False)
    out.print(f"Run it: mintaka deployment run {full} --watch", soft_wrap=True, markup=False)
    out.print(
        f"Execute its runs: mintaka worker start --queue {deployment.work_queue_name}", soft_wrap=True, markup=False
    )
