"""Security headers on every response: a strict Content-Security-Policy and its companions.

One ASGI middleware, installed by the app factory around everything (routes, static
files, errors, 404s), so any page added later inherits the policy without doing
anything. The policy allows scripts, styles, fonts and connections from this origin
only: no inline script, no ``eval``, no inline style attribute, nothing from a CDN.
Pages therefore keep their script in static files and pass data in ``data-``
attributes or JSON blocks, and set styles through the DOM (``element.style``), which
the policy does not restrict. The one outside origin allowed is the configured base-map
tile server, for images only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def tile_origin(tile_url: str) -> str | None:
    """Return the origin of a Leaflet tile URL template for ``img-src`` (``{s}`` becomes ``*``)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "tiles-sub"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.replace("tiles-sub", "*")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def content_security_policy(tile_url: str = "") -> str:
    """Return the policy every response carries (the tile server, if any, only for images)."""
    images = ["'self'", "data:"]
    origin = tile_origin(tile_url)
    if origin:
        images.append(origin)
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": " ".join(images),
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def security_headers(tile_url: str = "") -> list[tuple[bytes, bytes]]:
    """Return the headers added to every response (raw ASGI pairs)."""
    pairs = {
        "content-security-policy": content_security_policy(tile_url),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs.items()]


class SecurityHeaders:
    """ASGI middleware: adds the headers to every HTTP response unless a route set its own.

    A response without ``Cache-Control`` gets ``no-store`` (the token answer among them).
    """

    def __init__(self, app: ASGIApp, tile_url: str = "") -> None:
        self.app = app
        self.headers = security_headers(tile_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                # Answers carry tokens and need-to-know data: no cache keeps them unless
                # the route says otherwise (the vendored static files do).
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
