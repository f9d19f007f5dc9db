"""`mintaka config set | get | ls | unset`: the profile in `$MINTAKA_HOME/config.json`.

Any `MINTAKA_*` setting can live there (`api_url`, `api_key`, `logging_level`, ...); a
`MINTAKA_*` environment variable always wins over the profile.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

app = typer.Typer(help="Keep settings (API URL, API key, ...) in a profile under MINTAKA_HOME.", no_args_is_help=True)

KeyArgument = Annotated[str, typer.Argument(metavar="KEY", help="A setting, e.g. api_url or MINTAKA_API_KEY.")]


def _env_name(name: str) -> str:
    return f"MINTAKA_{name.upper()}"


@app.command("set")
def set_(key: KeyArgument, value: Annotated[str, typer.Argument(help="Its value.")]) -> None:
    """Save a setting in the profile."""
    from mintaka.profile import profile_path, read_profile, setting_name, write_profile
    from mintaka.settings import Settings, reset_settings

    from ._output import console

    name = setting_name(key)
    Settings(**{name: value})  # validates the value as the setting would (ValidationError otherwise)
    values = read_profile()
    values[name] = value
    path = write_profile(values, profile_path())
    reset_settings()
    out = console()
    out.print(f"Set {name} in {path}.", soft_wrap=True)
    if os.environ.get(_env_name(name)) is not None:
        out.print(f"Note: {_env_name(name)} is set in the environment and wins over the profile.", soft_wrap=True)


@app.command("get")
def get(key: KeyArgument) -> None:
    """Print a setting's value in effect (environment, else profile, else default)."""
    from mintaka.profile import setting_name
    from mintaka.settings import get_settings

    value = getattr(get_settings(), setting_name(key))
    typer.echo("" if value is None else str(value))


@app.command("ls")
def ls(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Print the API key in full.")] = False,
) -> None:
    """List the profile's settings (the API key masked unless --show-secrets)."""
    from mintaka.profile import masked, profile_path, read_profile

    from ._output import console, print_json, table

    values = read_profile()
    shown = {name: value if show_secrets else masked(name, value) for name, value in values.items()}
    if json_output:
        print_json(shown)
        return
    t = table(f"Profile {profile_path()}", "Setting", "Value", "In effect")
    for name, value in shown.items():
        overridden = os.environ.get(_env_name(name)) is not None
        t.add_row(name, value, f"no: {_env_name(name)} wins" if overridden else "yes")
    console().print(t)


@app.command("unset")
def unset(key: KeyArgument) -> None:
    """Remove a setting from the profile."""
    from mintaka.profile import profile_path, read_profile, setting_name, write_profile
    from mintaka.settings import reset_settings

    from ._output import console

    name = setting_name(key)
    values = read_profile()
    if values.pop(name, None) is None:
        console().print(f"{name} was not set in {profile_path()}.", soft_wrap=True)
        return
    write_profile(values, profile_path())
    reset_settings()
    console().print(f"Removed {name} from {profile_path()}.", soft_wrap=True)
