"""`/api/docs` works offline: Swagger UI's page names only assets the server itself serves
(vendored in the package), and those assets are served, with or without API keys required."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest
from support.servers import LOCAL, serve_in_thread

from mintaka_server.api import create_app
from mintaka_server.services import OrchestrationService
from mintaka_server.storage.sqlite import SQLiteStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.fixture(params=[False, True], ids=["open", "keys-required"])
def served(request, tmp_path) -> Iterator[str]:
    """A real server (uvicorn, SQLite file); with `keys-required`, every data route needs a key."""
    store = SQLiteStore(tmp_path / "mintaka.db")
    with serve_in_thread(create_app(OrchestrationService(store), require_api_key=request.param)) as base:
        yield base
    store.close()


def page_references(html: str) -> list[str]:
    """Every URL the page makes the browser fetch: src/href attributes and Swagger's `url:`."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(r"""url:\s*'([^']+)'""", html)


def test_the_docs_page_references_only_assets_the_server_serves(served):
    page = httpx.get(f"{served}/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = page_references(page.text)
    assert {r.rsplit("/", 1)[-1] for r in references} >= {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"}
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), f"not served locally: {reference}"
        asset = httpx.get(urljoin(served, reference))
        assert asset.status_code == 200, reference
        suffix = reference[reference.rfind(".") :]
        if suffix in CONTENT_TYPES:
            assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], reference
    bundle = httpx.get(f"{served}/api/docs/static/swagger-ui-bundle.js")
    assert len(bundle.content) > 1_000_000 and b"SwaggerUIBundle" in bundle.content


def test_keys_still_guard_the_data_and_unlisted_files(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    with serve_in_thread(create_app(OrchestrationService(store), require_api_key=True)) as base:
        assert httpx.get(f"{base}/api/docs/static/swagger-ui.css").status_code == 200
        assert httpx.get(f"{base}/api/docs/static/NOTICE").status_code == 401  # only the page's own assets are public
        assert httpx.get(f"{base}/api/flow_runs").status_code == 401
    store.close()


def test_behind_a_path_prefix_the_page_names_prefixed_urls(tmp_path):
    store = SQLiteStore(tmp_path / "mintaka.db")
    with TestClient(create_app(OrchestrationService(store)), root_path="/stage", **LOCAL) as api:
        references = page_references(api.get("/api/docs").text)
    store.close()
    assert references and all(r.startswith("/stage/api/") for r in references), references
