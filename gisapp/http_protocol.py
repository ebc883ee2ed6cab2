"""uvicorn's HTTP protocols with a deadline and a size limit on request headers.

uvicorn times out idle keep-alive connections but not a request whose headers never
finish: a client sending one header byte every few seconds (slowloris), or opening a
connection and sending nothing, holds its socket and memory for ever, and a few hundred
such clients exhaust the server. Here every request's headers (request line included)
must arrive within ``header_timeout_s`` of the connection opening or of the request's
first byte, and within ``max_header_bytes``; otherwise the server answers 408 or 431,
with the reason in Chinese, and closes the connection. Both of uvicorn's
implementations get the same rule (h11, and httptools which uvicorn prefers when
installed). Request bodies are bounded by the body-size middleware instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


def _answer(status: str, message: str) -> bytes:
    body = message.encode("utf-8")
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n").encode("ascii") + body


class HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol: headers within a time and a size, or the connection ends."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES

    def connection_made(self, transport: Any) -> None:
        """Start the clock: the first request's headers are due."""
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._awaiting_headers = True
        self._seen_cycle = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._timed_out)  # type: ignore[attr-defined]

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._disarm()
        transport = self.transport  # type: ignore[attr-defined]
        if not transport.is_closing():
            transport.write(answer)
            transport.close()

    def _timed_out(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            self._refuse(_answer("408 Request Timeout",
                                 f"请求头未在 {self.header_timeout_s:g} 秒内发送完毕，连接已关闭"))

    def _check_headers_done(self) -> None:
        """A new request cycle means its headers were read: stop the clock."""
        cycle = self.cycle  # type: ignore[attr-defined]
        if cycle is not None and cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._awaiting_headers = False
            self._header_bytes = 0
            self._disarm()

    def data_received(self, data: bytes) -> None:
        """Count header bytes while headers are due; refuse too many, else parse as usual."""
        if self._awaiting_headers:
            self._arm()  # a keep-alive connection's next request: its clock starts now
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end + 4
            if self._header_bytes > self.max_header_bytes:
                self._refuse(_answer("431 Request Header Fields Too Large",
                                     f"请求头超过 {self.max_header_bytes} 字节上限，连接已关闭"))
                return
        super().data_received(data)  # type: ignore[misc]
        self._check_headers_done()

    def on_response_complete(self) -> None:
        """The next request on this connection has its headers due (counted from its first byte)."""
        self._awaiting_headers = True
        self._header_bytes = 0
        super().on_response_complete()  # type: ignore[misc]
        self._check_headers_done()  # a pipelined request may already be complete

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline and size limit."""


class GuardedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline and size limit."""


def configure(header_timeout_s: float, max_header_bytes: int) -> None:
    """Set the limits of both protocols (once per process, before serving)."""
    HeaderDeadline.header_timeout_s = float(header_timeout_s)
    HeaderDeadline.max_header_bytes = int(max_header_bytes)


def protocol_name() -> str:
    """Return the import string of the guarded protocol uvicorn would otherwise pick."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "gisapp.http_protocol:GuardedH11Protocol"
    return "gisapp.http_protocol:GuardedHttpToolsProtocol"
