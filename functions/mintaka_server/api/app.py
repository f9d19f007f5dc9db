"""The app factory: routes under `/api`, OpenAPI at `/api/openapi.json`, docs at `/api/docs`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mintaka_server.services import OrchestrationService

from .errors import install_error_handlers
from .routes import ROUTERS

API_PREFIX = "/api"


def create_app(service: OrchestrationService | None = None) -> FastAPI:
    """An API app over `service`; by default over the embedded SQLite store in `MINTAKA_HOME`.

    A store the factory opened itself is closed when the app shuts down; a service passed in
    belongs to the caller.
    """
    owned = service is None
    if service is None:
        from mintaka.settings import get_settings
        from mintaka_server.storage.sqlite import SQLiteStore

        service = OrchestrationService(SQLiteStore(get_settings().database_path))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            service.store.close()

    app = FastAPI(
        title="Mintaka orchestration API",
        version="0.1.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    return app
