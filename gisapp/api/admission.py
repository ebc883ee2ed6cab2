"""Admission control: a worker serves a bounded number of requests at once (issue 12, item 3).

Why: FastAPI runs each sync dependency and the endpoint in the thread pool, one trip
after the other, and a request keeps its pooled connection between trips. With more
requests in flight than pooled connections, requests holding a connection waited for a
thread while every thread waited for a connection: the whole worker stalled until the
pool's 30 s timeout and answered 500. Admitting at most ``max_active`` requests, with
the pool sized above that (``pool_size_for``), means every admitted request can always
get its connection: no deadlock whatever the concurrency.

Beyond ``max_active`` a request waits in arrival order, at most ``wait_s`` seconds and
in a queue of at most ``max_queued``; otherwise it is answered at once with 503 and
``Retry-After`` (a Chinese message), which costs nothing of the pool.

A request that would only wait out ``wait_s`` to be refused is refused at once: the
middleware keeps a moving average of how long an admitted request holds its slot, and
a newcomer whose place in the queue would take longer than ``wait_s`` to reach (its
place × the average ÷ ``max_active``) gets its 503 without waiting. Under a crowd of
1,000 clients the tail of the queue used to get its refusal only after the full wait.
All of this runs on the event loop before the body is read: no thread, no connection.

A small body (declared ``Content-Length`` up to ``PRE_READ_BYTES``, which every JSON
request of the API is) is read *before* the request asks for a slot, so a client that
sends its body slowly holds only its socket; the connection's minimum body rate
(``gisapp.http_protocol``) ends it. A larger body (an upload) is read once admitted,
within the same minimum rate, so it holds its slot for a bounded time.

Streaming responses (the SSE alert stream) hold their slot only until the response
starts: the stream's later polls have their own limiter and caps (routes.events).
"""

from __future__ import annotations

import json
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUSY = "服务器繁忙（同时处理的请求已达上限），请 {retry} 秒后重试"
# Connections the pool keeps beyond the admitted requests: the alert streams' polls,
# the outbox dispatcher, the permit expiry job and one spare.
SSE_POLL_CONNECTIONS = 3
SPARE_CONNECTIONS = 3
STREAM_RETRY_AFTER_S = 10  # as gisapp.api.streams
PRE_READ_BYTES = 64 * 1024


def pool_size_for(max_active: int) -> int:
    """Return the pool's total size (size + overflow) that no admitted load can exhaust."""
    return max_active + SSE_POLL_CONNECTIONS + SPARE_CONNECTIONS


class Admission:
    """ASGI middleware: at most ``max_active`` requests at once, a bounded wait, else 503."""

    def __init__(self, app: ASGIApp, *, max_active: int, max_queued: int, wait_s: float,
                 streaming_paths: tuple[str, ...] = (), retry_after_s: int = 1,
                 max_streams: int | None = None, streams_full_message: str = "") -> None:
        """Wrap ``app``.

        ``max_streams``: the live streams (``streaming_paths``) the worker holds at most,
        counted from the moment a stream request arrives (opening or open). One more is
        refused here with ``streams_full_message``, before its token is checked in a
        thread: 1,000 streams opened at once got their 503s only after queueing for the
        database one by one. The stream's own caps (per user, in total) still apply.
        """
        self.app = app
        self.max_streams = max_streams
        self.streams_full_message = streams_full_message
        self.streams = 0  # stream requests in the app now (opening or open)
        self.max_active = max_active
        self.max_queued = max_queued
        self.wait_s = wait_s
        self.streaming_paths = streaming_paths
        self.retry_after_s = retry_after_s
        self._slots: anyio.Semaphore | None = None  # made in the event loop
        self.waiting = 0
        self.refused = 0
        self.refused_at_once = 0  # of which: without waiting (the queue full, or too slow to reach)
        self.hold_s: float | None = None  # moving average of how long a request holds its slot

    @property
    def active(self) -> int:
        """Requests being served now."""
        return 0 if self._slots is None else self.max_active - self._slots.value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit, queue or refuse the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_active, fast_acquire=True)
        streaming = scope.get("path", "") in self.streaming_paths
        if streaming and self.max_streams is not None:
            if self.streams >= self.max_streams:
                await self._refuse(send, self.streams_full_message or None, STREAM_RETRY_AFTER_S)
                return
            self.streams += 1
            try:
                await self._admit(scope, receive, send, streaming=True)
            finally:
                self.streams -= 1
            return
        await self._admit(scope, receive, send, streaming=streaming)

    async def _admit(self, scope: Scope, receive: Receive, send: Send, *, streaming: bool) -> None:
        """Admit, queue or refuse a request (its body pre-read when small)."""
        slots = self._slots
        assert slots is not None
        declared = _declared_length(scope)
        if declared is not None and 0 < declared <= PRE_READ_BYTES:
            received = await _read_body(receive)
            if received[-1]["type"] == "http.disconnect":
                return  # gone (or cut off for sending too slowly) before its body arrived
            receive = _replay(received, receive)
        if slots.value == 0 or self.waiting:
            if self.waiting >= self.max_queued or self._expected_wait_s(self.waiting + 1) > self.wait_s:
                self.refused_at_once += 1
                await self._refuse(send)
                return
            self.waiting += 1
            try:
                with anyio.move_on_after(self.wait_s) as waited:
                    await slots.acquire()
            finally:
                self.waiting -= 1
            if waited.cancelled_caught:
                await self._refuse(send)
                return
        else:
            await slots.acquire()
        held = True
        admitted_at = time.monotonic()

        def release() -> None:
            nonlocal held
            if held:
                held = False
                slots.release()
                self._observe(time.monotonic() - admitted_at)


        async def send_and_release(message: Message) -> None:
            if streaming and message["type"] == "http.response.start":
                release()  # a live stream keeps the socket, not a slot
            await send(message)

        try:
            await self.app(scope, receive, send_and_release if streaming else send)
        finally:
            release()

    def _observe(self, held_s: float) -> None:
        """Fold one request's time in its slot into the moving average."""
        self.hold_s = held_s if self.hold_s is None else 0.9 * self.hold_s + 0.1 * held_s

    def _expected_wait_s(self, place: int) -> float:
        """How long the ``place``-th in the queue would wait for a slot (0 until measured)."""
        return 0.0 if self.hold_s is None else place * self.hold_s / self.max_active

    async def _refuse(self, send: Send, message: str | None = None, retry_after_s: int | None = None) -> None:
        self.refused += 1
        retry = self.retry_after_s if retry_after_s is None else retry_after_s
        body = json.dumps({"detail": message or BUSY.format(retry=retry), "problems": []},
                          ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode())]})
        await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive) -> list[Message]:
    """Receive a whole (small) body: every message up to the last part or a disconnect."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then the connection's own."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
