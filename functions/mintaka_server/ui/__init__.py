"""The dashboard: static files served by the API app at `/ui` (the data comes from `/api`)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import mimetypes
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
COMPRESS_FROM = 1024  # bytes: smaller files are sent as they are
VERSIONED = (".js", ".css")  # files index.html names by content hash
IMMUTABLE = b"public, max-age=31536000, immutable"
_IMPORT_MAP = re.compile(r'(<script type="importmap">)(.*?)(</script>)', re.S)
_REFERENCE = re.compile(r'((?:href|src)=")([^":]+\.(?:js|css))(")')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^":]+\.css)">')
FIRST_DATA_ID = "mintaka-first"  # the element holding the dashboard's first data (pages/dashboard.js)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    stamp: tuple[int, int]  # the file's (mtime_ns, size) when read

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:16]


def _asset(body: bytes, name: str, stamp: tuple[int, int]) -> Asset:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "text/javascript"):
        content_type += "; charset=utf-8"
    compressible = len(body) >= COMPRESS_FROM and "charset" in content_type
    return Asset(
        body=body,
        gzipped=gzip.compress(body, mtime=0) if compressible else None,
        content_type=content_type,
        etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        stamp=stamp,
    )


def render_index(template: str, versions: dict[str, str], read: Callable[[str], str | None]) -> str:
    """index.html with its stylesheets inline (`read(path)` gives one's text: no request before
    the first paint), every script and module it names at a URL carrying the file's content hash
    (`app.js?v=…`), and an import map entry for each module, so that the imports between modules
    (`./lib/api.js`, `import()` too) reach the versioned URLs as well."""

    def inline(match: re.Match) -> str:
        text = read(match.group(1).removeprefix("./"))
        if text is None or "</style" in text.lower():
            return match.group(0)
        return f"<style>/* {match.group(1)} */\n{text}</style>"

    def versioned(path: str) -> str:
        relative = path.removeprefix("./")
        return f"./{relative}?v={versions[relative]}" if relative in versions else path

    def import_map(match: re.Match) -> str:
        imports = {name: versioned(path) for name, path in json.loads(match.group(2))["imports"].items()}
        for relative in sorted(versions):
            if relative.endswith(".js"):
                imports.setdefault(f"./{relative}", versioned(relative))
        return f"{match.group(1)}{json.dumps({'imports': imports}, indent=1)}{match.group(3)}"

    page = _STYLESHEET.sub(inline, template)
    page = _IMPORT_MAP.sub(import_map, page, count=1)
    return _REFERENCE.sub(lambda m: m.group(1) + versioned(m.group(2)) + m.group(3), page)


class Assets:
    """ASGI app serving the dashboard's files from memory: each is read (and gzipped) once and
    read again only when it changes on disk.

    index.html names every file by its content hash (`?v=`): those answers are immutable (a
    warm load asks the server for nothing but index.html and data), and an upgraded server's
    new files have new URLs, so a browser never runs an old module with a new one. Anything
    asked without its current hash (index.html itself, an old page's URL) is `no-cache` with an
    ETag: the browser asks before reusing it, and an unchanged file is a bodiless 304.
    (Starlette's StaticFiles costs a few thread hops and a file read per request.)"""

    def __init__(self, directory: Path, first_data: Callable[[], bytes | None] | None = None):
        self.directory = directory.resolve()
        self.first_data = first_data
        self._cache: dict[str, Asset] = {}
        self._index: tuple[tuple, Asset] | None = None

    def _file(self, relative: str) -> Asset | None:
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
        asset = self._cache[relative] = _asset(file.read_bytes(), file.name, stamp)
        return asset

    def _versions(self) -> dict[str, str]:
        """{path under the directory: content hash} of every script and stylesheet."""
        versions = {}
        for folder, _, names in os.walk(self.directory):
            for name in names:
                if name.endswith(VERSIONED):
                    relative = Path(folder, name).relative_to(self.directory).as_posix()
                    if (asset := self._file(relative)) is not None:
                        versions[relative] = asset.version
        return versions

    def _index_page(self) -> Asset | None:
        template = self._file("index.html")
        if template is None:
            return None
        versions = self._versions()
        key = (template.etag, tuple(sorted(versions.items())))
        if self._index is None or self._index[0] != key:

            def read(relative: str) -> str | None:
                asset = self._file(relative)
                return asset.body.decode() if asset is not None else None

            page = render_index(template.body.decode(), versions, read).encode()
            self._index = (key, _asset(page, "index.html", template.stamp))
        return self._index[1]

    def _asset(self, relative: str) -> Asset | None:
        return self._index_page() if relative == "index.html" else self._file(relative)

    async def _send_index(self, page: Asset, method: str, request: dict[bytes, bytes], send) -> None:
        """index.html in two parts: all but its end at once (the browser fetches the files it names
        meanwhile), then the dashboard's first data (`first_data()`, computed in a thread) and the
        end. Module scripts run once the page is parsed, so the dashboard has its counts at its first
        render without asking: no request queued behind the files, no round trip after them."""
        head, _, tail = page.body.rpartition(b"</body>")
        gzipped = b"gzip" in request.get(b"accept-encoding", b"")
        compressor = zlib.compressobj(wbits=31) if gzipped else None  # gzip, flushed at each part

        def encode(chunk: bytes, last: bool) -> bytes:
            if compressor is None:
                return chunk
            return compressor.compress(chunk) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

        headers = [
            (b"cache-control", b"no-cache"),
            (b"vary", b"Accept-Encoding"),
            (b"content-type", page.content_type.encode()),
        ]
        if gzipped:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": encode(head, False), "more_body": True})
        data = await self._first_data()
        if data is not None:
            # "<" only occurs inside JSON strings, where \u003c is the same text: no "</script>" in it
            data = data.replace(b"<", b"\\u003c")
            element = f'<script type="application/json" id="{FIRST_DATA_ID}">'.encode()
            tail = element + data + b"</script>\n</body>" + tail
        else:
            tail = b"</body>" + tail
        await send({"type": "http.response.body", "body": encode(tail, True)})

    async def _first_data(self) -> bytes | None:
        if self.first_data is None:
            return None
        from anyio import to_thread

        try:
            return await to_thread.run_sync(self.first_data)
        except Exception:  # the page then asks the API itself, and shows its error
            log.exception("the dashboard's first data could not be read")
            return None

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
        relative = path.strip("/") or "index.html"
        asset = self._asset(relative) if method in ("GET", "HEAD") else None
        if asset is None:
            status, body = (404, b"Not Found") if method in ("GET", "HEAD") else (405, b"Method Not Allowed")
            await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        request = {name.lower(): value for name, value in scope["headers"]}
        if relative == "index.html":
            await self._send_index(asset, method, request, send)
            return
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        current = asked == [asset.version]
        headers = [
            (b"cache-control", IMMUTABLE if current else b"no-cache"),
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
    """Serve the dashboard at `/ui/` and send `/` and `/ui` there. Where the API needs no key,
    index.html carries the unfiltered dashboard's first data (`GET /api/flow_runs/stats` for the
    last 24 hours in hours, as the page asks it); where it does, the page asks with its key."""
    from fastapi.responses import RedirectResponse

    def first_data() -> bytes | None:
        if app.state.require_api_key:
            return None
        from mintaka_server.services.dashboard import DashboardService

        service = app.state.service
        stats = DashboardService(service.store, service.clock).flow_run_stats(bucket_seconds=3600)
        return b'{"path": "/flow_runs/stats", "data": ' + stats.model_dump_json().encode() + b"}"

    app.mount("/ui", Assets(STATIC_DIR, first_data), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")
