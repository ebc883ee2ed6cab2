"""Slowloris and oversized headers against a real uvicorn with gisapp's guarded protocols."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import pytest
import uvicorn

from gisapp import http_protocol
from gisapp.localdb import free_port

TIMEOUT_S = 1.0
MAX_HEADER_BYTES = 4096
PROTOCOLS = ["gisapp.http_protocol:GuardedH11Protocol", "gisapp.http_protocol:GuardedHttpToolsProtocol"]


async def hello(scope, receive, send):
    """The smallest ASGI app: 200 'ok'."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def server(protocol: str):
    before = (http_protocol.HeaderDeadline.header_timeout_s, http_protocol.HeaderDeadline.max_header_bytes)
    http_protocol.configure(TIMEOUT_S, MAX_HEADER_BYTES)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(hello, host="127.0.0.1", port=port, http=protocol,
                                       timeout_keep_alive=5, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield port
    finally:
        uv.should_exit = True
        thread.join(10)
        http_protocol.configure(*before)


def _read_all(sock: socket.socket, limit_s: float = 5.0) -> bytes:
    sock.settimeout(limit_s)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_slow_headers_are_cut_off_and_others_still_served(protocol):
    with server(protocol) as port:
        # 50 slowloris clients: one header line every 0.3 s, never finishing.
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        for s in slow:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed_at = {}
        while len(closed_at) < len(slow) and time.monotonic() - started < 5:
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    closed_at[i] = time.monotonic() - started
            # A normal client is answered at once in the meantime.
            with socket.create_connection(("127.0.0.1", port)) as ok:
                ok.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert _read_all(ok).startswith(b"HTTP/1.1 200")
            time.sleep(0.3)
        assert len(closed_at) == len(slow), "slow clients kept their connections"
        assert max(closed_at.values()) < TIMEOUT_S + 2.5
        answer = _read_all(slow[0], 1)
        assert answer.startswith(b"HTTP/1.1 408") and "请求头未在".encode() in answer
        for s in slow:
            s.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_connection_is_closed(protocol):
    with server(protocol) as port, socket.create_connection(("127.0.0.1", port)) as s:
        started = time.monotonic()
        answer = _read_all(s, TIMEOUT_S + 3)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < TIMEOUT_S + 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_oversized_headers_are_refused(protocol):
    with server(protocol) as port:
        for chunks in ([b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"],  # one piece
                       [b"GET / HTTP/1.1\r\nHost: x\r\n"] + [b"X-Part: " + b"b" * 900 + b"\r\n"] * 6):
            with socket.create_connection(("127.0.0.1", port)) as s:
                try:
                    for chunk in chunks:
                        s.sendall(chunk)
                        time.sleep(0.02)
                except OSError:
                    pass
                answer = _read_all(s, 3)
                assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
                assert "请求头超过 4096 字节".encode() in answer


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_keep_alive_and_slow_but_timely_requests_work(protocol):
    with server(protocol) as port, socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(3):  # the deadline restarts with each request on the connection
            s.sendall(b"GET / HTTP/1.1\r\n")
            time.sleep(TIMEOUT_S * 0.4)
            s.sendall(b"Host: x\r\n\r\n")
            s.settimeout(3)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT_S * 0.8)  # idle between requests: the keep-alive timeout applies
