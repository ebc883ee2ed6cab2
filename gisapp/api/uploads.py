"""Per-role upload limits, decided from the bearer token before the body is read.

A builder's import is capped lower than the gas office's (``builder_max_upload_bytes``);
an upload without a valid token is refused before a byte of it is received, so a
stranger's 200 MB body costs neither memory nor disk (issue 12, item 10).
"""

from __future__ import annotations

import re

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import Scope

from gisapp.api.limits import Refusal, UploadLimit
from gisapp.web.session import SESSION_COOKIE
from layers.services.errors import AuthenticationError
from layers.services.users import user_for_token

UNAUTHENTICATED = "上传文件前请先登录（缺少或无效的访问令牌）"


def bearer_token(scope: Scope) -> str:
    """Return the bearer token of the Authorization header, else the browser's session cookie.

    The cookie's CSRF token is checked later, by the route's own dependency.
    """
    cookie = ""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == SESSION_COOKIE:
                    cookie = val
    return cookie


def _role_of(sessions, token: str) -> str | None:
    with sessions() as session:
        try:
            return user_for_token(session, token).role
        except AuthenticationError:
            return None


def upload_limit(app: FastAPI) -> UploadLimit:
    """Return the middleware's callback: the caller's upload limit in bytes, or a refusal."""

    async def limit_for(scope: Scope) -> int:
        token = bearer_token(scope)
        role = await anyio.to_thread.run_sync(_role_of, app.state.sessions, token) if token else None
        if role is None:
            raise Refusal(401, UNAUTHENTICATED, {"WWW-Authenticate": "Bearer"})
        settings = app.state.settings
        if role == "builder":
            return min(settings.builder_max_upload_bytes, settings.max_upload_bytes)
        return settings.max_upload_bytes

    return limit_for


# Between two vertices of a GeoJSON ring or line: "],[" (any spacing). A file with more of
# these than the writer may import has more vertices than that: it is refused while it is
# being saved, before the parser builds it in memory (a 100 MB file took 1.5 GB to parse).
_VERTEX_GAP = re.compile(rb"\]\s*,\s*\[")
_OVERLAP = 64


class VertexCounter:
    """A lower bound of the vertices in a GeoJSON text, fed chunk by chunk."""

    def __init__(self) -> None:
        """Start at zero."""
        self.count = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        """Count the separators in ``chunk`` (one split across chunks counted once)."""
        window = self._tail + chunk
        found = _VERTEX_GAP.findall(window)
        # Separators wholly inside the carried tail were counted with the previous chunk.
        self.count += len(found) - len(_VERTEX_GAP.findall(self._tail))
        self._tail = window[-_OVERLAP:]
        return self.count


def vertex_limit_message(count: int, limit: int, role: str) -> str:
    """The refusal of an upload with too many vertices, in Chinese."""
    zh = "建设单位" if role == "builder" else "当前角色"
    return (f"字段 file：文件至少有 {count:,} 个顶点，超过{zh}单次导入 {limit:,} 个顶点的上限，"
            "请分批导入或简化几何")
