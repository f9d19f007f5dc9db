"""The app factory: routes under `/api`, OpenAPI at `/api/openapi.json`, docs at `/api/docs`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from mintaka_server.services import OrchestrationService
from mintaka_server.services.deployments import DeploymentService

from .auth import RequireApiKey, auth_required, bearer_scheme, require_scope
from .body_limit import BodyLimit
from .browser_guard import BrowserGuard, allowed_hosts, cors_origins
from .docs import mount_docs
from .errors import install_error_handlers
from .json_body import document_json_bodies
from .routes import PUBLIC_ROUTERS, ROUTERS
from .unicode_guard import UnicodeGuard

API_PREFIX = "/api"


def create_app(
    service: OrchestrationService | None = None,
    require_api_key: bool | None = None,
    deployments: DeploymentService | None = None,
    scheduler_interval: float | None = None,
    max_body_bytes: int | None = None,
    hosts: Collection[str] | None = None,
    origins: Collection[str] | None = None,
) -> FastAPI:
    """An API app over `service`; by default over the embedded SQLite store in `MINTAKA_HOME`.

    With `require_api_key`, every route but `GET /api/health` needs `Authorization: Bearer <key>`
    (401 otherwise). None = `MINTAKA_API_AUTH`, off when unset; entry points with another
    default pass `auth_required(default=...)` (Lambda: `auth_required(default=True)`).

    `deployments` defaults to a `DeploymentService` over `service` (the cloud passes one with its
    schedule sync and run dispatcher). With `scheduler_interval` (seconds), the app runs the
    embedded scheduler while it serves: due runs of deployment schedules are created and late
    runs marked, every interval (`mintaka server start`; not in the cloud, not by default).

    A store the factory opened itself is closed when the app shuts down; a service passed in
    belongs to the caller.

    Browsers (`browser_guard`): only `hosts` may be named in `Host` (None = loopback names plus
    `MINTAKA_SERVER_ALLOWED_HOSTS`; `mintaka server start` adds its bind address, Lambda allows any
    unless the setting names its domains), and only `origins` get CORS answers or may change
    things cross-site (None = `MINTAKA_SERVER_CORS_ORIGINS`, none by default).
    """
    if require_api_key is None:
        require_api_key = auth_required(default=False)
    owned = service is None
    if service is None:  # the composition root, on the embedded defaults
        from mintaka_server.composition import build, embedded_settings

        services = build(embedded_settings())
        service, deployments = services.orchestration, deployments or services.deployments
    if deployments is None:
        deployments = DeploymentService(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if scheduler_interval:
            from mintaka_server.scheduling.embedded import EmbeddedScheduler

            scheduler = EmbeddedScheduler(deployments, interval=scheduler_interval)
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.stop()
        if owned:
            service.store.close()

    app = FastAPI(
        title="Mintaka orchestration API",
        version="0.1.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # mount_docs: Swagger UI from the package's own assets, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.deployments = deployments
    app.state.require_api_key = require_api_key
    docs_paths = mount_docs(app, f"{API_PREFIX}/docs")
    for router in PUBLIC_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    # The bearer scheme documents the key in OpenAPI; the middleware checks it, `require_scope` its scope.
    documented_auth = [Depends(bearer_scheme), Depends(require_scope)] if require_api_key else []
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, dependencies=documented_auth)
    if require_api_key:
        public = {f"{API_PREFIX}/health", app.openapi_url, *docs_paths}
        app.add_middleware(RequireApiKey, verify=service.api_keys.verify, public_paths=public)
    app.add_middleware(  # outside the key check: a forged or rebinding request is refused first
        BrowserGuard,
        hosts=allowed_hosts() if hosts is None else hosts,
        origins=cors_origins() if origins is None else origins,
    )
    from mintaka_server.ui import mount_ui

    mount_ui(app)
    if max_body_bytes is None:
        from mintaka_server.server_settings import get_server_settings

        max_body_bytes = get_server_settings().server_max_body_bytes
    app.add_middleware(UnicodeGuard)  # JSON strings must be valid Unicode (inside the limit: bodies are bounded)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)  # 413 past `MINTAKA_SERVER_MAX_BODY_BYTES`
    install_error_handlers(app)  # last: its catch-all middleware wraps the key check too
    document_json_bodies(app)
    return app
