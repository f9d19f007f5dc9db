"""The dashboard: static files served by the API app at `/ui` (the data comes from `/api`)."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
COMPRESS_FROM = 1024  # bytes: smaller files are sent as they are


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    stamp: tuple[int, int]  # the file's (mtime_ns, size) when read


class Assets:
    """ASGI app serving the dashboard's files from memory: each is read (and gzipped) once and
    read again only when it changes on disk. Every answer is `Cache-Control: no-cache` with an
    ETag: browsers ask before reusing a file, so an upgraded server never runs with an old
    module, and an unchanged file is a bodiless 304. (Starlette's StaticFiles costs a few thread
    hops and a file read per request, ~20 of which the dashboard's first load makes.)"""

    def __init__(self, directory: Path):
        self.directory = directory.resolve()
        self._cache: dict[str, Asset] = {}

    def _asset(self, path: str) -> Asset | None:
        relative = path.strip("/") or "index.html"
        file = (self.directory / relative).resolve()
        if not file.is_relative_to(self.directory):
            return None
        try:
            stat = os.stat(file)
        except OSError:
            return None
        if not file.is_file():
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(relative)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = file.read_bytes()
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "text/javascript"):
            content_type += "; charset=utf-8"
        compressible = len(body) >= COMPRESS_FROM and "charset" in content_type
        asset = Asset(
            body=body,
            gzipped=gzip.compress(body, mtime=0) if compressible else None,
            content_type=content_type,
            etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
            stamp=stamp,
        )
        self._cache[relative] = asset
        return asset

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        method, path, root = scope["method"], scope["path"], scope.get("root_path", "")
        path = path[len(root) :] if path.startswith(root) else path  # Starlette keeps the mount's prefix
        if not path:  # "/ui": the page's relative links need the trailing slash
            location = (root + "/").encode()
            await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location)]})
            await send({"type": "http.response.body", "body": b""})
            return
        asset = self._asset(path) if method in ("GET", "HEAD") else None
        if asset is None:
            status, body = (404, b"Not Found") if method in ("GET", "HEAD") else (405, b"Method Not Allowed")
            await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        request = {name.lower(): value for name, value in scope["headers"]}
        headers = [
            (b"cache-control", b"no-cache"),
            (b"etag", asset.etag.encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        if asset.etag.encode() in request.get(b"if-none-match", b"").replace(b"W/", b"").split(b", "):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = asset.body
        if asset.gzipped is not None and b"gzip" in request.get(b"accept-encoding", b""):
            body = asset.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers += [(b"content-type", asset.content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def mount_ui(app) -> None:
    """Serve the dashboard at `/ui/` and send `/` and `/ui` there."""
    from fastapi.responses import RedirectResponse

    app.mount("/ui", Assets(STATIC_DIR), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")
