"""`mintaka worker start --queue NAME`: run a work queue's flow runs on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from mintaka_core.vocabulary import DEFAULT_QUEUE

app = typer.Typer(help="Run work queues' flow runs on this machine.", no_args_is_help=True)


@app.command("start")
def start(
    queue: Annotated[str, typer.Option("--queue", "-q", help="The work queue to poll.")] = DEFAULT_QUEUE,
    limit: Annotated[int, typer.Option("--limit", help="At most this many runs at once.", min=1)] = 4,
    poll_interval: Annotated[float, typer.Option("--poll-interval", help="Seconds between polls.", min=0.1)] = 2.0,
    heartbeat_interval: Annotated[
        float, typer.Option("--heartbeat-interval", help="Seconds between heartbeats of running runs.", min=0.5)
    ] = 5.0,
    run_once: Annotated[bool, typer.Option("--run-once", help="Poll once, run what came, then exit.")] = False,
) -> None:
    """Poll the queue and run each released flow run in a subprocess (`mintaka flow-run
    execute ID`), heartbeating while it runs. Stop with Ctrl-C (running runs are terminated)."""
    from mintaka.client import get_client
    from mintaka.settings import get_settings
    from mintaka.worker import Worker

    from ._output import console

    out = console()

    def say(message: str) -> None:
        out.print(message, soft_wrap=True, markup=False)
        out.file.flush()  # a worker's log is read as it happens, often from a file

    worker = Worker(
        get_client(), queue, limit=limit, poll_interval=poll_interval, heartbeat_interval=heartbeat_interval, say=say
    )
    worker.install_signal_handlers()
    where = get_settings().api_url or f"the embedded store {get_settings().database_path}"
    say(f"Worker polling work queue {queue!r} every {poll_interval:g}s (at most {limit} at once) on {where}")
    worker.run(run_once=run_once)
    failed = [run_id for run_id, code in worker.finished.items() if code != 0]
    say(f"Worker stopped: {len(worker.finished)} run(s) executed, {len(failed)} did not complete.")
