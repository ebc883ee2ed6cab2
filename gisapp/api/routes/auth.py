"""``POST /api/auth/token``: OAuth2 password form in, bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from gisapp.api.deps import SessionDep, allow
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
