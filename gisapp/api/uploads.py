"""Per-role upload limits, decided from the bearer token before the body is read.

A builder's import is capped lower than the gas office's (``builder_max_upload_bytes``);
an upload without a valid token is refused before a byte of it is received, so a
stranger's 200 MB body costs neither memory nor disk (issue 12, item 10).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import Scope

from gisapp.api.limits import Refusal, UploadLimit
from layers.services.errors import AuthenticationError
from layers.services.users import user_for_token

UNAUTHENTICATED = "上传文件前请先登录（缺少或无效的访问令牌）"


def bearer_token(scope: Scope) -> str:
    """Return the bearer token of the request's Authorization header, or ''."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


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
