"""uvicorn's HTTP protocols with a deadline and a size limit on request headers.

uvicorn times out idle keep-alive connections but not a request whose headers never
finish: a client sending one header byte every few seconds (slowloris), or opening a
connection and sending nothing, holds its socket and memory for ever, and a few hundred
such clients exhaust the server. Here every request's headers (request line included)
must arrive within ``header_timeout_s`` of the connection opening or of the request's
first byte, and within ``max_header_bytes``; otherwise the server answers 408 or 431,
with the reason in Chinese, and closes the connection. Both of uvicorn's
implementations get the same rule (h11, and httptools which uvicorn prefers when
installed). Request bodies are bounded in size by the body-size middleware.

A request body must also keep coming (slowloris on bodies): after ``body_grace_s``
from the end of its headers, the body must have arrived at ``body_min_rate`` bytes a
second on average (time the server itself stopped reading, its buffer being full,
does not count), else the server answers 408 (or, when the answer had started,
just closes) and the connection ends. The application then sees the client gone, so
the request leaves its admission slot at once. A client sending a declared 10 kB body a
byte a second is cut off after ``body_grace_s`` (10 s), whatever the body's size.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_BODY_GRACE_S = 10.0
DEFAULT_BODY_MIN_RATE = 1000.0  # bytes a second, on average, once the grace is over
BODY_TICK_S = 0.5


def _answer(status: str, message: str) -> bytes:
    body = message.encode("utf-8")
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n").encode("ascii") + body


class HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol: headers within a time and a size, or the connection ends."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    body_grace_s: float = DEFAULT_BODY_GRACE_S
    body_min_rate: float = DEFAULT_BODY_MIN_RATE

    def connection_made(self, transport: Any) -> None:
        """Start the clock: the first request's headers are due."""
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._awaiting_headers = True
        self._seen_cycle: Any = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._body_clock_s = 0.0  # time the body was due and the server was reading
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
        self._stop_body_clock()
        transport = self.transport  # type: ignore[attr-defined]
        if not transport.is_closing():
            transport.write(answer)
            transport.close()

    def _timed_out(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            self._refuse(_answer("408 Request Timeout",
                                 f"请求头未在 {self.header_timeout_s:g} 秒内发送完毕，连接已关闭"))

    def _check_headers_done(self, leftover: int = 0) -> None:
        """A new request cycle means its headers were read: stop the clock, start the body's."""
        cycle = self.cycle  # type: ignore[attr-defined]
        if cycle is not None and cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._awaiting_headers = False
            self._header_bytes = 0
            self._disarm()
            if cycle.more_body and _declares_body(cycle.scope):
                self._body_bytes = leftover
                self._body_clock_s = 0.0
                self._tick_later()

    # --- the body's minimum rate ---------------------------------------------------------

    def _tick_later(self) -> None:
        self._stop_body_clock()
        self._body_timer = self.loop.call_later(BODY_TICK_S, self._body_tick)  # type: ignore[attr-defined]

    def _stop_body_clock(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_pending(self) -> bool:
        cycle = self.cycle  # type: ignore[attr-defined]
        return (cycle is not None and cycle is self._seen_cycle and cycle.more_body
                and not cycle.disconnected)

    def _body_tick(self) -> None:
        self._body_timer = None
        if not self._body_pending():
            return
        if not self.flow.read_paused:  # type: ignore[attr-defined]
            self._body_clock_s += BODY_TICK_S
        late = self._body_clock_s - self.body_grace_s
        if late > 0 and self._body_bytes < self.body_min_rate * self._body_clock_s:
            self._too_slow()
            return
        self._tick_later()

    def _too_slow(self) -> None:
        transport = self.transport  # type: ignore[attr-defined]
        if transport.is_closing():
            return
        if not self.cycle.response_started:  # type: ignore[attr-defined]
            transport.write(_answer(
                "408 Request Timeout",
                f"请求体发送过慢（{self._body_clock_s:g} 秒内仅收到 {self._body_bytes} 字节，"
                f"{self.body_grace_s:g} 秒后须平均每秒至少 {self.body_min_rate:g} 字节），连接已关闭"))
        transport.close()  # connection_lost tells the application the client is gone

    def data_received(self, data: bytes) -> None:
        """Count header bytes while headers are due; refuse too many, else parse as usual."""
        leftover = 0
        if self._awaiting_headers:
            self._arm()  # a keep-alive connection's next request: its clock starts now
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end + 4
            if self._header_bytes > self.max_header_bytes:
                self._refuse(_answer("431 Request Header Fields Too Large",
                                     f"请求头超过 {self.max_header_bytes} 字节上限，连接已关闭"))
                return
            leftover = 0 if end < 0 else len(data) - end - 4
        elif self._body_timer is not None:
            self._body_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        self._check_headers_done(leftover)
        if self._body_timer is not None and not self._body_pending():
            self._stop_body_clock()  # the whole body is in

    def on_response_complete(self) -> None:
        """The next request on this connection has its headers due (counted from its first byte)."""
        self._awaiting_headers = True
        self._header_bytes = 0
        super().on_response_complete()  # type: ignore[misc]
        self._check_headers_done()  # a pipelined request may already be complete

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clocks."""
        self._disarm()
        self._stop_body_clock()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline and size limit."""


class GuardedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline and size limit."""


def _declares_body(scope: dict) -> bool:
    """Whether a request announces a body (a non-zero Content-Length, or chunked)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


def configure(header_timeout_s: float, max_header_bytes: int, *,
              body_grace_s: float = DEFAULT_BODY_GRACE_S,
              body_min_rate: float = DEFAULT_BODY_MIN_RATE) -> None:
    """Set the limits of both protocols (once per process, before serving)."""
    HeaderDeadline.header_timeout_s = float(header_timeout_s)
    HeaderDeadline.max_header_bytes = int(max_header_bytes)
    HeaderDeadline.body_grace_s = float(body_grace_s)
    HeaderDeadline.body_min_rate = float(body_min_rate)


def limits() -> tuple[float, int, float, float]:
    """The limits in force (header timeout, header bytes, body grace, body rate)."""
    return (HeaderDeadline.header_timeout_s, HeaderDeadline.max_header_bytes,
            HeaderDeadline.body_grace_s, HeaderDeadline.body_min_rate)


def configure_from(settings: Any) -> None:
    """Set the limits from the app's settings."""
    configure(settings.header_timeout_s, settings.max_header_bytes,
              body_grace_s=settings.body_grace_s, body_min_rate=settings.body_min_rate_bytes_s)


def protocol_name() -> str:
    """Return the import string of the guarded protocol uvicorn would otherwise pick."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "gisapp.http_protocol:GuardedH11Protocol"
    return "gisapp.http_protocol:GuardedHttpToolsProtocol"
