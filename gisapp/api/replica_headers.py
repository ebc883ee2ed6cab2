"""Say on every answer read from the lag-tolerant path where it was read and how far behind.

``deps.get_read_session`` records its choice in the request state; this middleware puts
it into the response headers (``X-Gisapp-Read-From``: replica or primary;
``X-Gisapp-Read-Lag-S``: the replica's lag), also for routes that build their own
``Response``, which FastAPI does not merge dependency headers into.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ReadSourceHeaders:
    """Pure ASGI middleware: add the read source headers when a read session was used."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the headers to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_source(message: Message) -> None:
            if message["type"] == "http.response.start":
                target = scope.get("state", {}).get("read_target")
                if target is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-gisapp-read-from", target.name.encode()))
                    if target.lag_s is not None:
                        headers.append((b"x-gisapp-read-lag-s", f"{target.lag_s:.1f}".encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_source)
