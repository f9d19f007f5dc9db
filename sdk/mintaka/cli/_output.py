"""Output helpers: rich tables for people, JSON for machines, one-line errors on stderr."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mintaka.states import State

STATE_STYLES = {
    "SCHEDULED": "yellow",
    "PENDING": "grey70",
    "RUNNING": "blue",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLING": "grey50",
    "CANCELLED": "grey50",
    "CRASHED": "bold red",
    "PAUSED": "magenta",
}


WIDE_OUTPUT = 160  # when piped, tables get room instead of the 80 columns of a dumb terminal


def console() -> Console:
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, WIDE_OUTPUT)
    return out


def print_json(value: Any) -> None:
    """Machine-readable output: plain JSON on stdout (models dumped in JSON mode)."""
    sys.stdout.write(json.dumps(_jsonable(value), indent=2) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]Error:[/red] {escape(message)}")


def error_message(exc: BaseException) -> str:
    """One line describing `exc` (pydantic errors name their fields)."""
    from pydantic import ValidationError

    from mintaka.exceptions import MintakaError

    if isinstance(exc, ValidationError):
        message = describe_validation_error(exc)
    elif isinstance(exc, MintakaError):
        message = str(exc) or type(exc).__name__
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
    return " ".join(message.split())


def describe_validation_error(exc: Any, names: dict[str, str] | None = None) -> str:
    """`field: problem; other: problem`, with fields renamed (e.g. to CLI options) by `names`."""
    names = names or {}
    parts = []
    for error in exc.errors():
        path = [str(p) for p in error.get("loc", ())]
        loc = ".".join(path) or "value"
        if loc not in names and path and path[0] in names:  # an item of a repeated option
            loc = " ".join([names[path[0]], *(f"#{int(p) + 1}" if p.isdigit() else p for p in path[1:])])
        parts.append(f"{names.get(loc, loc)}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def parse_id(value: str, what: str) -> uuid.UUID:
    from mintaka.exceptions import InvalidRequest

    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidRequest(f"{value!r} is not a valid {what} (expected a UUID)") from None


def when(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "-"
    if end is None:
        return "…"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def state_label(state: State | None) -> str:
    """Rich markup: the state's name, with its type when the name is a custom one."""
    from rich.markup import escape

    if state is None:
        return "-"
    style = STATE_STYLES.get(state.type.value, "")
    label = escape(state.name)
    if state.name.upper() != state.type.value:
        label += f" ({state.type.value})"
    return f"[{style}]{label}[/{style}]" if style else label


WRAPPING_COLUMNS = frozenset({"Name", "Flow", "Message", "Logger", "Tag"})


def table(title: str | None, *columns: str) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold", no_wrap=column not in WRAPPING_COLUMNS)
    return t
