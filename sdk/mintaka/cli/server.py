"""`mintaka server start`: the orchestration API on the embedded store, served by uvicorn."""

from __future__ import annotations

import ipaddress
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
    store: Annotated[
        str | None,
        typer.Option(
            help="sqlite (the embedded file) or dynamodb (table {MINTAKA_TABLE_PREFIX}mintaka at "
            "AWS_ENDPOINT_URL or AWS). Default: MINTAKA_STORE, else sqlite."
        ),
    ] = None,
    create_table: Annotated[
        bool, typer.Option(help="dynamodb: create the table first if it does not exist (local development).")
    ] = False,
) -> None:
    """Serve the API on the embedded store ($MINTAKA_HOME/mintaka.db): runs made without a
    server are listed too."""
    import uvicorn

    from mintaka.settings import get_settings
    from mintaka_server.api import create_app
    from mintaka_server.api.auth import auth_required
    from mintaka_server.api.browser_guard import allowed_hosts

    from ._output import console

    settings = get_settings()
    if api_auth is None:
        api_auth = auth_required(default=not _is_loopback(host))
    services, where = _services(store, create_table)
    hosts = allowed_hosts(host)
    api = create_app(
        services.orchestration,
        require_api_key=api_auth,
        deployments=services.deployments,
        scheduler_interval=scheduler_interval or None,
        hosts=hosts,
    )
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/api"
    out = console()
    out.print(f"Mintaka API: [bold]{url}[/bold]  (docs: {url}/docs)", soft_wrap=True)
    out.print(f"Store: {where}", soft_wrap=True)
    out.print(f"Scheduler: {f'every {scheduler_interval:g}s' if scheduler_interval else 'off'}", soft_wrap=True)
    out.print(f"Point the SDK and CLI at it with: export MINTAKA_API_URL={url}", soft_wrap=True)
    out.print(f"Answers to Host: {', '.join(hosts)} (more: MINTAKA_SERVER_ALLOWED_HOSTS)", soft_wrap=True)
    if api_auth:
        out.print("API keys: required (Authorization: Bearer …; also export MINTAKA_API_KEY=…)", soft_wrap=True)
        if not api.state.service.list_api_keys():
            out.print(
                "No API key exists yet: create one on this store, no server needed, with:"
                f" MINTAKA_HOME={settings.home_path} mintaka api-key create NAME --scope admin --store sqlite",
                soft_wrap=True,
            )
    else:
        out.print("API keys: not required (--api-auth to require them)", soft_wrap=True)
    # Before anything is reaped or reclaimed: the runs' executors may have been beating for this
    # server while it was down.
    resumed = api.state.deployments.resume_leases()
    if resumed:
        out.print(f"Leases: {resumed} running flow run(s) given a fresh term while their executors reconnect")
    from mintaka_server.gc_tuning import tune_for_serving

    tune_for_serving()
    uvicorn.run(api, host=host, port=port, log_level=log_level.lower())


def _services(store: str | None, create_table: bool):
    """The services (mintaka_server.composition) on the chosen store, and a line saying where that is."""
    from mintaka.settings import get_settings
    from mintaka_server.composition import build
    from mintaka_server.server_settings import get_server_settings

    server_settings = get_server_settings()
    if store is not None:
        if store not in ("sqlite", "dynamodb"):
            raise typer.BadParameter("choose sqlite or dynamodb", param_hint="--store")
        server_settings = server_settings.model_copy(update={"store": store})
    services = build(server_settings)
    if server_settings.store == "dynamodb":
        if create_table:
            services.store.ensure_table()
        endpoint = server_settings.aws_endpoint_url or f"AWS {server_settings.aws_region}"
        return services, f"DynamoDB table {server_settings.table_name} ({endpoint})"
    return services, str(get_settings().database_path)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
