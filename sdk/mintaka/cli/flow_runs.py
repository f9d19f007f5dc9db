"""`mintaka flow-run ls | inspect | logs | cancel | resume | execute`: browse flow runs, their
states, task runs and logs; cancel or resume one; execute a deployment's run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mintaka.client import MintakaClient
    from mintaka.schemas import FlowRun, FlowRunDetail, Log

app = typer.Typer(help="Browse flow runs.", no_args_is_help=True)

PAGE_SIZE = 500  # the API's largest page
LOG_PAGE_SIZE = 1000
_OPTION_NAMES = {"flow_name": "--flow", "state_type": "--state", "limit": "--limit"}
_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
_LEVEL_NAMES = {name: level for level, name in _LEVELS.items()} | {"WARN": 30, "FATAL": 50}
_LEVEL_STYLES = {10: "grey50", 30: "yellow", 40: "red", 50: "bold red"}
MAX_LEVEL = 100  # the API's largest level (LogCreate.level)


@app.command("ls")
def ls(
    flow: Annotated[str | None, typer.Option("--flow", help="Only runs of this flow.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Only runs in this state type, e.g. COMPLETED, FAILED.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many runs, newest first.")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List flow runs, newest first."""
    from mintaka.client import get_client

    from ._output import console, duration, print_json, state_label, table, when

    runs = _list_runs(get_client(), flow, state, limit)
    if json_output:
        print_json(runs)
        return
    t = table("Flow runs", "ID", "Flow", "Name", "State", "Started", "Duration")
    for run in runs:
        t.add_row(
            str(run.id),
            run.flow_name,
            run.name,
            state_label(run.state),
            when(run.start_time or run.created),
            duration(run.start_time, run.end_time),
        )
    console().print(t)


@app.command("inspect")
def inspect(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The flow run's id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a flow run: its states, task runs and logs."""
    from mintaka.client import get_client

    from ._output import parse_id, print_json

    client = get_client()
    rid = parse_id(run_id, "flow run id")
    detail = client.read_flow_run_detail(rid)
    logs = _all_logs(client, rid)
    if json_output:
        print_json({**detail.model_dump(mode="json"), "logs": logs})
        return
    _show(detail, logs)


@app.command("logs")
def logs(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The flow run's id.")],
    head: Annotated[int | None, typer.Option("--head", metavar="N", help="Only the first N lines.")] = None,
    tail: Annotated[int | None, typer.Option("--tail", metavar="N", help="Only the last N lines.")] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level", metavar="LEVEL", help="Only lines at this level or above: DEBUG, INFO, WARNING, ERROR, CRITICAL."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a flow run's logs (its task runs' included), oldest first. --tail reads only the
    last lines, newest first from the API, so a long log is not paged through."""
    from mintaka.client import get_client
    from mintaka.exceptions import InvalidRequest

    from ._output import parse_id, print_json

    if head is not None and tail is not None:
        raise InvalidRequest("--head and --tail: give one of them, not both")
    for option, count in (("--head", head), ("--tail", tail)):
        if count is not None and count < 1:
            raise InvalidRequest(f"{option}: must be at least 1 (got {count})")
    min_level = parse_level(level) if level is not None else 0
    rid = parse_id(run_id, "flow run id")
    lines = _read_logs(get_client(), rid, min_level=min_level, newest_first=tail is not None, count=head or tail)
    if tail is not None:
        lines.reverse()  # read newest first, printed in time order
    if json_output:
        print_json(lines)
        return
    _print_lines(lines)


def parse_level(value: str) -> int:
    """A level name (any case; WARN and FATAL too) or a number from 0 to 100."""
    from mintaka.exceptions import InvalidRequest

    text = value.strip().upper()
    if text in _LEVEL_NAMES:
        return _LEVEL_NAMES[text]
    if text.isdigit() and int(text) <= MAX_LEVEL:
        return int(text)
    names = ", ".join(_LEVELS.values())
    raise InvalidRequest(f"--level: {value!r} is not a level (one of {names}, or a number from 0 to {MAX_LEVEL})")


@app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The flow run's id.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Why; shown on the run.")] = "Cancelled by a user",
    json_output: Annotated[bool, typer.Option("--json", help="Print the orchestrator's answer as JSON.")] = False,
) -> None:
    """Cancel a flow run. One that has not started ends CANCELLED at once; a running one is
    CANCELLING until its executor stops it (within a heartbeat), then CANCELLED."""
    from mintaka.client import get_client
    from mintaka.engine.propose import propose
    from mintaka.schemas import SetStateStatus
    from mintaka.states import State, StateType

    from ._output import console, parse_id, print_error, print_json, state_label

    rid = parse_id(run_id, "flow run id")
    answer = propose(get_client(), "flow_run", rid, State(type=StateType.CANCELLING, message=message))
    if json_output:
        print_json(answer)
    accepted = answer.status is SetStateStatus.ACCEPT
    if not accepted:
        print_error(f"Flow run {rid} was not cancelled: {answer.details.reason}")
        raise typer.Exit(1)
    if not json_output:
        console().print(f"Flow run {rid} is {state_label(answer.state)}", soft_wrap=True)


@app.command("resume")
def resume(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="A paused flow run's id.")],
    run_input: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="JSON",
            help="The input its pause waits for (wait_for_input), as a JSON object: '{\"approved\": true}'.",
        ),
    ] = None,
) -> None:
    """Resume a flow run paused by `pause_flow_run()` (before its pause times out), or suspended."""
    from mintaka.client import get_client
    from mintaka.pausing import resume_flow_run

    from ._output import console, parse_id

    rid = parse_id(run_id, "flow run id")
    resume_flow_run(rid, _json_object(run_input, "--input"), client=get_client())
    console().print(f"Flow run {rid} resumed", soft_wrap=True)


def _json_object(text: str | None, option: str) -> dict | None:
    from mintaka.exceptions import InvalidRequest

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{option} must be a JSON object: the input's fields and their values")
    return value


@app.command("execute")
def execute(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="A run created by a deployment.")],
    inline: Annotated[
        bool,
        typer.Option(
            "--inline",
            hidden=True,
            help="Run the flow in this process; the caller heartbeats for it (a worker, a supervising process).",
        ),
    ] = False,
) -> None:
    """Run a deployment's flow run here: claim it, fetch its code, run the flow, report.
    The flow runs in a child process; this one heartbeats for it, so code holding the GIL
    cannot make a live run look lost. Exit code 0 if it completed (or another executor has it), else 1."""
    from mintaka.engine.child_execution import child_command, run_here

    from ._output import parse_id

    rid = parse_id(run_id, "flow run id")
    if not inline:
        from mintaka.engine.deployed import supervise_flow_run

        raise typer.Exit(supervise_flow_run(rid, child_command(rid)))
    raise typer.Exit(run_here(rid))


def _list_runs(client: MintakaClient, flow: str | None, state: str | None, limit: int) -> list[FlowRun]:
    from pydantic import ValidationError

    from mintaka.exceptions import InvalidRequest
    from mintaka.schemas import FlowRunFilter

    from ._output import describe_validation_error

    if limit < 1:
        raise InvalidRequest(f"--limit: must be at least 1 (got {limit})")
    runs: list[FlowRun] = []
    cursor = None
    while len(runs) < limit:
        try:
            flt = FlowRunFilter(
                flow_name=flow,
                state_type=state.strip().upper() if state else None,
                limit=min(limit - len(runs), PAGE_SIZE),
                cursor=cursor,
            )
        except ValidationError as exc:
            raise InvalidRequest(describe_validation_error(exc, _OPTION_NAMES)) from None
        page = client.list_flow_runs(flt)
        runs.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return runs


def _all_logs(client: MintakaClient, run_id) -> list[Log]:
    return _read_logs(client, run_id)


def _read_logs(
    client: MintakaClient, run_id, *, min_level: int = 0, newest_first: bool = False, count: int | None = None
) -> list[Log]:
    """Up to `count` lines (all without it), a page at a time."""
    logs: list[Log] = []
    while count is None or len(logs) < count:
        size = LOG_PAGE_SIZE if count is None else min(LOG_PAGE_SIZE, count - len(logs))
        page = client.read_logs(run_id, limit=size, offset=len(logs), min_level=min_level, newest_first=newest_first)
        logs.extend(page)
        if len(page) < size:
            break
    return logs


def _print_lines(lines: list[Log]) -> None:
    """One line per record (a multi-line message, e.g. a traceback, as it was written):
    time, level, logger, message. Colours only on a terminal."""
    from rich.text import Text

    from ._output import console

    out = console()
    for log in lines:
        stamp = log.timestamp.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        level = _LEVELS.get(log.level, f"LEVEL {log.level}")
        text = Text(f"{stamp} ")
        text.append(f"{level:<8}", style=_LEVEL_STYLES.get(log.level, ""))
        text.append(f" {log.name}: {log.message}")
        out.print(text, soft_wrap=True, markup=False)


def _show(run: FlowRunDetail, logs: list[Log]) -> None:
    from rich.markup import escape

    from ._output import console, duration, state_label, table, when

    out = console()
    out.print(f"[bold]Flow run {escape(run.name)}[/bold]  {run.id}", soft_wrap=True)
    fields = {
        "Flow": escape(run.flow_name) + (f" (version {escape(run.flow_version)})" if run.flow_version else ""),
        "State": state_label(run.state) + (f": {escape(run.state.message)}" if run.state and run.state.message else ""),
        "Created": when(run.created),
        "Started": when(run.start_time),
        "Ended": when(run.end_time),
        "Duration": duration(run.start_time, run.end_time),
        "Run count": str(run.run_count),
        "Tags": escape(", ".join(run.tags)) or "-",
        "Parameters": escape(json.dumps(run.parameters, default=str)) if run.parameters else "-",
    }
    if run.parent_task_run_id:
        fields["Parent task run"] = str(run.parent_task_run_id)
    for label, value in fields.items():
        out.print(f"  [bold]{label}:[/bold] {value}", soft_wrap=True)

    states = table("States", "Time", "State", "Message")
    for state in run.states:
        states.add_row(when(state.timestamp), state_label(state), escape(state.message or ""))
    out.print(states)

    tasks = table("Task runs", "Name", "State", "Started", "Duration", "ID")
    for task in run.task_runs:
        tasks.add_row(
            escape(task.name),
            state_label(task.state),
            when(task.start_time),
            duration(task.start_time, task.end_time),
            str(task.id),
        )
    out.print(tasks)

    log_table = table("Logs", "Time", "Level", "Logger", "Message")
    for log in logs:
        log_table.add_row(
            when(log.timestamp), _LEVELS.get(log.level, str(log.level)), escape(log.name), escape(log.message)
        )
    out.print(log_table)
