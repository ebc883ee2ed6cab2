"""How a browser holds its login: an HttpOnly, SameSite=Strict cookie with the opaque token.

The cookie carries the same opaque token as ``Authorization: Bearer`` (``api_token``
table, only its SHA-256 stored), so logging out, a password change or a deactivation
revokes a browser session exactly like an API token. No script can read it (HttpOnly),
and other sites cannot make the browser send it (SameSite=Strict).

CSRF: a request authenticated by the cookie with an unsafe method must carry
``X-CSRF-Token`` (scripts) or a ``csrf_token`` form field (plain forms) equal to
``csrf_for(token)``, a digest of the session token. The page reads it from the
``gisapp_csrf`` cookie (not HttpOnly: it is no secret beyond this origin, and
another origin can neither read it nor compute it without the session token).
Requests with a bearer token are not cookie-authenticated and need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request
from starlette.responses import Response

from layers.services.errors import AuthenticationError, PermissionDeniedError
from layers.services.personal_tokens import PREFIX as PERSONAL_TOKEN_PREFIX

SESSION_COOKIE = "gisapp_session"
CSRF_COOKIE = "gisapp_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_for(token: str) -> str:
    """Return the CSRF token that goes with a session token (a one-way digest of it)."""
    return hashlib.sha256(b"gisapp-csrf\x00" + token.encode("utf-8")).hexdigest()


def csrf_ok(token: str, presented: str | None) -> bool:
    """Return whether ``presented`` is the CSRF token of ``token`` (constant time)."""
    return bool(presented) and hmac.compare_digest(csrf_for(token), str(presented))


def basic_personal_token(request: Request) -> tuple[str, str] | None:
    """Return (username, token) of an ``Authorization: Basic`` header, if any.

    Desktop GIS without a custom-header method (QGIS 3.22 of Debian 12 has Basic, not
    "API Header") sends a personal access token as the Basic password. Only personal
    tokens, only on reads: never a login password (no guessing through this door), never
    a write (browsers replay cached Basic credentials like cookies, with no CSRF check).
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, token = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError("Basic 认证头无效（应为 用户名:个人访问令牌 的 Base64）") from None
    if not sep or not token.startswith(PERSONAL_TOKEN_PREFIX):
        raise AuthenticationError("Basic 认证的密码须为个人访问令牌（gpat_ 开头），不接受登录密码")
    if request.method not in SAFE_METHODS:
        raise AuthenticationError("个人访问令牌经 Basic 认证只能用于读取；写入请用 Authorization: Bearer")
    return username, token


def bearer_of(request: Request) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def request_token(request: Request) -> str | None:
    """Return the request's token: the bearer header, a personal token sent as Basic, else the cookie.

    A cookie-authenticated unsafe request without the matching CSRF header is refused
    (403) before any work.
    """
    bearer = bearer_of(request)
    if bearer:
        return bearer
    basic = basic_personal_token(request)
    if basic is not None:
        request.state.basic_username = basic[0]  # checked against the token's user
        return basic[1]
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    if request.method not in SAFE_METHODS and not csrf_ok(cookie, request.headers.get(CSRF_HEADER)):
        raise PermissionDeniedError("请求缺少有效的 CSRF 令牌（请刷新页面后重试）")
    return cookie


def set_session(response: Response, request: Request, token: str, max_age_s: int) -> None:
    """Put the session and its CSRF token in cookies (Secure when served over HTTPS)."""
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, path="/", httponly=True,
                        samesite="strict", secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf_for(token), max_age=max_age_s, path="/",
                        httponly=False, samesite="strict", secure=secure)


def clear_session(response: Response) -> None:
    """Remove both cookies."""
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")
