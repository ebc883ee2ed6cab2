"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

MESSAGE = "请求体过大（{size} 字节，上限 {limit} 字节）"


class BodySizeLimit:
    """ASGI middleware: 413 when Content-Length or the streamed body exceeds the limit.

    Upload endpoints (``/import`` in the path, or ending in ``/evidence``) get the larger
    upload limit; the evidence route enforces its own 20 MB limit with a clear message.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared and the actual size."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        upload = "/import" in path or path.endswith("/evidence")
        limit = self.upload_max_bytes if upload else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = limit + 1
            if size > limit:
                await _reject(send, size, limit)
                return
        received = 0
        too_big = False

        async def limited_receive():
            nonlocal received, too_big
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_big = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _reject(send, received, limit)


class _TooLarge(Exception):
    pass


async def _reject(send: Send, size: int, limit: int) -> None:
    body = json.dumps({"detail": MESSAGE.format(size=size, limit=limit), "problems": []},
                      ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
