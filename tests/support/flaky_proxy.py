"""A tiny real HTTP proxy for fault tests: forwards to an upstream API, and on demand answers
502 to everything (a gateway whose backend is gone), or forwards a request and then drops the
connection without answering (the answer is lost after the server acted)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"})


class FlakyProxy:
    """`with FlakyProxy(upstream).serving() as url:`; then set `failing = True` for 502s, or
    `drop_after_forwarding(path_suffix, times)` to lose answers."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.failing = False
        self.requests: list[tuple[str, str, bytes]] = []  # (method, path, body) of every request received
        self.dropped: list[tuple[str, str, bytes]] = []  # (method, path, body) forwarded, answer lost
        self._drops: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=60)

    def drop_after_forwarding(self, path_suffix: str, times: int = 1) -> None:
        """The next `times` POSTs to a path ending in `path_suffix` reach the API, but their
        answers never reach the client."""
        with self._lock:
            self._drops[path_suffix] = times

    def _should_drop(self, method: str, path: str) -> bool:
        with self._lock:
            for suffix, left in self._drops.items():
                if method == "POST" and path.split("?")[0].endswith(suffix) and left > 0:
                    self._drops[suffix] = left - 1
                    return True
        return False

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serves on a free loopback port; yields the proxy's base URL."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="flaky-proxy", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            self._client.close()


def _handler(proxy: FlakyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            method, path = self.command, self.path
            with proxy._lock:
                proxy.requests.append((method, path, body))
            if proxy.failing:
                self._answer(502, b'{"detail": "Bad Gateway"}', {"Content-Type": "application/json"})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            try:
                upstream = proxy._client.request(method, proxy.upstream + path, content=body, headers=headers)
            except httpx.TransportError:
                self._answer(502, b'{"detail": "upstream unreachable"}', {"Content-Type": "application/json"})
                return
            if proxy._should_drop(method, path):
                with proxy._lock:
                    proxy.dropped.append((method, path, body))
                self.close_connection = True  # the server acted; its answer is lost
                return
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            self._answer(upstream.status_code, upstream.content, kept)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    return Handler
