"""``POST /api/auth/token``: OAuth2 password form in, bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from gisapp.api.deps import SessionDep, allow
from layers.services import personal_tokens
from layers.services.permissions import Access
from layers.services.users import authenticate, issue_token

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenOut(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_at: str
    role: str


@router.post("/token", response_model=TokenOut)
def token(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    """以用户名和密码换取访问令牌。"""
    user = authenticate(session, form.username, form.password)
    value, expires = issue_token(session, user, request.app.state.settings.token_ttl_minutes)
    return TokenOut(access_token=value, expires_at=expires.isoformat(), role=user.role)


@router.get("/me")
def me(access: Annotated[Access, allow("account.read")]) -> dict:
    """当前用户。"""
    user = access.actor
    return {"username": user.username, "role": user.role, "organisation": user.organisation}


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
