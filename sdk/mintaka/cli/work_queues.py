"""`mintaka work-queue create | ls | inspect | pause | resume | set-concurrency`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mintaka.deployment_schemas import WorkQueue

app = typer.Typer(help="Manage work queues (where deployments' runs wait for workers).", no_args_is_help=True)

QueueName = Annotated[str, typer.Argument(metavar="NAME", help="The work queue's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("create")
def create(
    name: QueueName,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="At most this many of its runs RUNNING at once.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Lower is served first (1 = highest).")] = 1,
    deployment: Annotated[
        list[str] | None, typer.Option("--deployment", "-d", help="Only runs of this FLOW/DEPLOYMENT; repeat.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only runs with this tag; repeat.")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a work queue, or replace the settings of an existing one.

    With MINTAKA_WORK_QUEUES=sqs (a cloud deployment's work queues) this first creates its SQS
    queue and dead-letter queue, with your AWS credentials, as MINTAKA_QUEUE_PREFIX names them,
    and maps them to MINTAKA_WORKER_FUNCTION_ARN (the stack's outputs give both)."""
    from pydantic import ValidationError

    from mintaka.client import get_client
    from mintaka.deployment_schemas import WorkQueueCreate
    from mintaka.exceptions import InvalidRequest

    from ._output import describe_validation_error, print_json

    names = {"concurrency_limit": "--concurrency", "priority": "--priority", "name": "NAME"}
    try:
        body = WorkQueueCreate(
            name=name,
            concurrency_limit=concurrency,
            priority=priority,
            paused=paused,
            deployments=deployment or [],
            tags=tag or [],
        )
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc, names)) from None
    sqs_url = _provision(name)
    queue = get_client().create_work_queue(body)
    if json_output:
        print_json(queue)
        return
    if sqs_url is not None:
        _say(f"SQS queue {sqs_url} ready, with its dead-letter queue.")
    _say(f"Work queue {queue.name!r} saved ({describe(queue)}).")


def _provision(name: str) -> str | None:
    """The queue's infrastructure first, so no run is ever sent to a queue that is not there."""
    from mintaka_server.queues.sqs_provisioning import provision_work_queue

    return provision_work_queue(name)


@app.command("ls")
def ls(json_output: JsonOption = False) -> None:
    """List work queues by priority."""
    from mintaka.client import get_client

    from ._output import console, print_json, table

    queues = get_client().list_work_queues()
    if json_output:
        print_json(queues)
        return
    t = table("Work queues", "Name", "Priority", "Concurrency", "Paused", "Filters")
    for q in queues:
        t.add_row(q.name, str(q.priority), _limit(q), "yes" if q.paused else "no", _filters(q))
    console().print(t)


@app.command("inspect")
def inspect(name: QueueName, json_output: JsonOption = False) -> None:
    """Show a work queue, with the runs it would release to a worker now."""
    from rich.markup import escape

    from mintaka.client import get_client

    from ._output import console, print_json, state_label, table, when

    client = get_client()
    queue = client.read_work_queue(name)
    ready = client.get_work_queue_runs(name, limit=50)
    if json_output:
        print_json({**queue.model_dump(mode="json"), "ready_runs": ready})
        return
    out = console()
    out.print(f"[bold]Work queue {escape(queue.name)}[/bold]  {queue.id}", soft_wrap=True)
    out.print(f"  {describe(queue)}", soft_wrap=True, markup=False)
    t = table("Runs ready now", "ID", "Deployment", "State", "Expected start")
    for run in ready:
        t.add_row(str(run.id), run.deployment_name or "-", state_label(run.state), when(run.expected_start_time))
    out.print(t)


@app.command("pause")
def pause(name: QueueName) -> None:
    """Stop releasing runs (none is lost: they wait, SCHEDULED)."""
    _update(name, paused=True)
    _say(f"Paused work queue {name!r}.")


@app.command("resume")
def resume(name: QueueName) -> None:
    """Release runs again."""
    _update(name, paused=False)
    _say(f"Resumed work queue {name!r}.")


@app.command("set-concurrency")
def set_concurrency(
    name: QueueName,
    limit: Annotated[
        str, typer.Argument(metavar="N", help="At most N runs RUNNING at once; 'none' removes the limit.")
    ],
) -> None:
    """Change how many of the queue's runs may be RUNNING at once."""
    from mintaka.exceptions import InvalidRequest

    if limit.strip().lower() in ("none", "unlimited"):
        value = None
    else:
        try:
            value = int(limit)
        except ValueError:
            raise InvalidRequest(f"N: expected a whole number or 'none' (got {limit!r})") from None
    queue = _update(name, concurrency_limit=value)
    _say(f"Work queue {name!r}: concurrency {_limit(queue)}.")


def describe(queue: WorkQueue) -> str:
    state = "paused" if queue.paused else "active"
    return f"{state}, concurrency {_limit(queue)}, priority {queue.priority}, filters: {_filters(queue)}"


def _update(name: str, **changes) -> WorkQueue:
    from pydantic import ValidationError

    from mintaka.client import get_client
    from mintaka.deployment_schemas import WorkQueueUpdate
    from mintaka.exceptions import InvalidRequest

    from ._output import describe_validation_error

    try:
        body = WorkQueueUpdate(**changes)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc, {"concurrency_limit": "N"})) from None
    return get_client().update_work_queue(name, body)


def _limit(queue: WorkQueue) -> str:
    return "unlimited" if queue.concurrency_limit is None else str(queue.concurrency_limit)


def _filters(queue: WorkQueue) -> str:
    parts = [f"deployments {', '.join(queue.deployments)}"] if queue.deployments else []
    parts += [f"tags {', '.join(queue.tags)}"] if queue.tags else []
    return "; ".join(parts) or "none"


def _say(message: str) -> None:
    from ._output import console

    console().print(message, soft_wrap=True, markup=False)
