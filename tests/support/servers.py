"""Real servers for tests: uvicorn serving an ASGI app in a thread on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_TIMEOUT = 30.0

# Starlette's TestClient sends `Host: testserver` and bodiless writes without a content type; the
# API's browser guard refuses both (a name it does not answer to, a write a web page could forge).
# Tests of the API talk to it as the SDK does: `TestClient(app, **LOCAL)`.
LOCAL = {"base_url": "http://localhost", "headers": {"Content-Type": "application/json"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_thread(app, **config) -> Iterator[str]:
    """Serves an ASGI app with uvicorn on a free loopback port; yields its base URL.

    uvicorn gets the socket already bound: no other process (an xdist worker) can take the port
    between choosing it and listening on it."""
    import uvicorn

    sock = socket.socket()
    # uvicorn sets no TCP_NODELAY on a socket handed to it: without it every response waits
    # ~40 ms for the client's delayed ACK (accepted connections inherit the option).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
