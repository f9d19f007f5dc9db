"""`mintaka server start`: the orchestration API on the embedded store, served by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Run the orchestration API.", no_args_is_help=True)


@app.command("start")
def start(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 4200,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    api_auth: Annotated[
        bool | None,
        typer.Option(
            "--api-auth/--no-api-auth",
            help="Require API keys. Default: MINTAKA_API_AUTH, else on unless HOST is a loopback address.",
        ),
    ] = None,
    scheduler_interval: Annotated[
        float,
        typer.Option(help="Seconds between ticks of the deployment scheduler (0 = no scheduler).", min=0),
    ] = 2.0,
) -> None:
    """Serve the API on the embedded store ($MINTAKA_HOME/mintaka.db): runs made without a
    server are listed too."""
    import uvicorn

    from mintaka.settings import get_settings
    from mintaka_server.api import create_app
    from mintaka_server.api.auth import auth_required

    from ._output import console

    settings = get_settings()
    if api_auth is None:
        api_auth = auth_required(default=not _is_loopback(host))
    api = create_app(require_api_key=api_auth, scheduler_interval=scheduler_interval or None)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/api"
    out = console()
    out.print(f"Mintaka API: [bold]{url}[/bold]  (docs: {url}/docs)", soft_wrap=True)
    out.print(f"Store: {settings.database_path}", soft_wrap=True)
    out.print(f"Scheduler: {f'every {scheduler_interval:g}s' if scheduler_interval else 'off'}", soft_wrap=True)
    out.print(f"Point the SDK and CLI at it with: export MINTAKA_API_URL={url}", soft_wrap=True)
    if api_auth:
        out.print("API keys: required (Authorization: Bearer …; also export MINTAKA_API_KEY=…)", soft_wrap=True)
        if not api.state.service.list_api_keys():
            out.print(
                "No API key exists yet: create one on this store, no server needed, with:"
                f" MINTAKA_HOME={settings.home_path} mintaka api-key create NAME --store sqlite",
                soft_wrap=True,
            )
    else:
        out.print("API keys: not required (--api-auth to require them)", soft_wrap=True)
    uvicorn.run(api, host=host, port=port, log_level=log_level.lower())


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
