"""The API's docs page, `/api/docs`: Swagger UI from assets shipped inside the package
(`docs_static/`, swagger-ui-dist 5.35.0 from npm, with its LICENSE and NOTICE), so the page works
offline and on a server that cannot reach a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_STATIC = Path(__file__).parent / "docs_static"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
FAVICON = "favicon-32x32.png"


def mount_docs(app: FastAPI, docs_url: str) -> frozenset[str]:
    """Serve Swagger UI for `app.openapi_url` at `docs_url` and its assets under `docs_url/static/`.

    Returns the paths a browser fetches for the page (the page and each asset): they describe the
    API and hold no data, so a server that requires keys leaves them public."""
    assets = f"{docs_url}/static"
    app.mount(assets, StaticFiles(directory=DOCS_STATIC), name="api-docs-static")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a path prefix (an API Gateway stage, a proxy) the browser needs the prefixed URLs.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{assets}/{FAVICON}",
        )

    return frozenset({docs_url, *(f"{assets}/{name}" for name in (SWAGGER_JS, SWAGGER_CSS, FAVICON))})
