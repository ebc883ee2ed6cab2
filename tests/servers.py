"""A real uvicorn server in a background thread, for tests that need HTTP on a socket."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn

from gisapp.localdb import free_port

# httpx's default 5 s is tight when the shared machine is loaded (a test then fails for
# the load, not for the answer); requests to a live server wait this long instead.
HTTP_TIMEOUT_S = 60.0


class LiveHttp:
    """httpx's one-off calls to a live server, with ``HTTP_TIMEOUT_S`` unless told otherwise."""

    def __init__(self, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return httpx.request(method, url, **kwargs)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def client(self, **kwargs) -> httpx.Client:
        """Return a client (connection reuse) with the same timeout."""
        kwargs.setdefault("timeout", self.timeout_s)
        return httpx.Client(**kwargs)


live_http = LiveHttp()


@contextmanager
def live_server(app, *, guarded: bool = False):
    """Run ``app`` on uvicorn in a background thread on a free port; yield its base URL.

    ``guarded``: serve with gisapp's own HTTP protocol (header deadline, minimum body
    rate: ``gisapp.http_protocol``), its limits taken from ``app.state.settings``, as
    ``gisapp serve`` does.
    """
    port = free_port()
    extra = {}
    before = None
    if guarded:
        from gisapp import http_protocol

        before = http_protocol.limits()
        http_protocol.configure_from(app.state.settings)
        extra["http"] = http_protocol.protocol_name()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=3, **extra)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        if before is not None:
            from gisapp import http_protocol

            timeout_s, header_bytes, grace_s, rate = before
            http_protocol.configure(timeout_s, header_bytes, body_grace_s=grace_s, body_min_rate=rate)
