"""Real servers for tests: uvicorn serving an ASGI app in a thread on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
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


def _prompt_server_class():
    import uvicorn

    class PromptServer(uvicorn.Server):
        """uvicorn's server, but told to stop it wakes at once, not at its next 0.1 s tick
        (a test's teardown waits for it: ~0.05 s saved per server)."""

        async def main_loop(self) -> None:
            self._loop = asyncio.get_running_loop()
            self._woken = asyncio.Event()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        def stop(self) -> None:
            self.should_exit = True
            loop = getattr(self, "_loop", None)
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._woken.set)

    return PromptServer


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
    server = _prompt_server_class()(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
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
        server.stop()
        thread.join(timeout=10)
        sock.close()
