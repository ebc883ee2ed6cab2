"""``POST /api/auth/token``: OAuth2 password form in, bearer token out; ``/logout``, ``/me``.

Logins are throttled per account and per client address (``layers.services.login``)
and at most ``login_hash_concurrency`` Argon2 verifications run at once in a worker
(64 MiB each: 60 parallel bogus logins once took 2.5 GB); a login that cannot get a
hashing slot within a few seconds is answered 503 with Retry-After.
"""

from __future__ import annotations

from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from gisapp.api.deps import SessionDep, allow
from gisapp.api.transaction import BearerToken
from layers.services import login as logins
from layers.services import personal_tokens
from layers.services.audit import record
from layers.services.errors import ServiceBusyError
from layers.services.permissions import Access
from layers.services.users import revoke_token

router = APIRouter(prefix="/api/auth", tags=["auth"])
HASH_WAIT_S = 5.0
BUSY = "登录请求过多，服务器正在排队校验密码，请稍后重试"


class TokenOut(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_at: str
    role: str


def _policy(settings) -> logins.LoginPolicy:
    return logins.LoginPolicy(settings.login_max_failures_per_account,
                              settings.login_max_failures_per_address, settings.login_window_s)


def _hash_limiter(state, concurrency: int) -> anyio.CapacityLimiter:
    if getattr(state, "hash_limiter", None) is None:
        state.hash_limiter = anyio.CapacityLimiter(concurrency)
    return state.hash_limiter


def _in_transaction(sessions, work):
    with sessions.begin() as session:
        return work(session)


@router.post("/token", response_model=TokenOut)
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """以用户名和密码换取访问令牌（失败过多时按账号和来源地址限流，返回 429 与 Retry-After）。"""
    state = request.app.state
    settings = state.settings
    sessions = state.sessions
    address = request.client.host if request.client else "unknown"
    attempt = await anyio.to_thread.run_sync(
        _in_transaction, sessions,
        lambda s: logins.prepare(s, form.username, address, _policy(settings)))
    limiter = _hash_limiter(state, settings.login_hash_concurrency)
    if limiter.statistics().tasks_waiting >= 4 * limiter.total_tokens:
        raise ServiceBusyError(BUSY, 2)
    ok = None
    with anyio.move_on_after(HASH_WAIT_S):
        ok = await anyio.to_thread.run_sync(logins.verify, attempt, form.password, limiter=limiter)
    if ok is None:
        raise ServiceBusyError(BUSY, 2)
    if not ok:
        error = await anyio.to_thread.run_sync(_in_transaction, sessions,
                                               lambda s: logins.fail(s, attempt))
        raise error
    value, expires = await anyio.to_thread.run_sync(
        _in_transaction, sessions, lambda s: logins.succeed(s, attempt, settings.token_ttl_minutes))
    return TokenOut(access_token=value, expires_at=expires.isoformat(), role=attempt.user.role)


@router.get("/me")
def me(access: Annotated[Access, allow("account.read")]) -> dict:
    """当前用户。"""
    user = access.actor
    return {"username": user.username, "role": user.role, "organisation": user.organisation,
            "district": user.district}


@router.post("/logout", status_code=204)
def logout(session: SessionDep, access: Annotated[Access, allow("account.read")],
           token: BearerToken) -> Response:
    """注销：当前令牌立即失效（该令牌打开的实时推送连接随之关闭）。"""
    revoke_token(session, token or "")
    record(session, access.actor, "auth.logout", "app_user", access.actor.id, {})
    return Response(status_code=204)


TokenAccess = Annotated[Access, allow("account.token")]


class PersonalTokenIn(BaseModel):
    """A personal access token to create: its name, and optionally how many days it lasts."""

    name: str
    expires_days: int | None = None


@router.post("/personal-tokens", status_code=201)
def create_personal_token(session: SessionDep, access: TokenAccess, body: PersonalTokenIn) -> dict:
    """新建个人访问令牌（供 QGIS、GDAL 等桌面 GIS 使用）；令牌只在此时显示一次。"""
    return personal_tokens.create_personal_token(session, access.actor, body.name, body.expires_days)


@router.get("/personal-tokens")
def list_personal_tokens(session: SessionDep, access: TokenAccess) -> dict:
    """本人的个人访问令牌（不含令牌本身）。"""
    return {"tokens": personal_tokens.list_personal_tokens(session, access.actor)}


@router.delete("/personal-tokens/{token_id}")
def revoke_personal_token(
    session: SessionDep, access: TokenAccess, token_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> dict:
    """吊销本人的一个个人访问令牌（立即失效）。"""
    return personal_tokens.revoke_personal_token(session, access.actor, token_id)
