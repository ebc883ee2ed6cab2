"""A real uvicorn server in a background thread, for tests that need HTTP on a socket."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import uvicorn

from gisapp.localdb import free_port


@contextmanager
def live_server(app):
    """Run ``app`` on uvicorn in a background thread on a free port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=3)
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
