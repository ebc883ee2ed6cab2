"""``POST /api/auth/password``: every user changes their own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gisapp import initial_user
from gisapp.api.deps import SessionDep, allow, oauth2_scheme
from gisapp.api.hashing import hashing_slot
from layers.services import login as logins
from layers.services.permissions import Access
from layers.services.users import WrongCurrentPasswordError

router = APIRouter(prefix="/api/auth", tags=["auth"])


def login_policy(settings) -> logins.LoginPolicy:
    """The login throttle's limits from the settings (shared with the login itself)."""
    return logins.LoginPolicy(settings.login_max_failures_per_account,
                              settings.login_max_failures_per_address, settings.login_window_s)


class PasswordChange(BaseModel):
    """The current password and the new one (10–256 characters)."""

    model_config = ConfigDict(extra="forbid")

    current_password: SecretStr = Field(max_length=1024)
    new_password: SecretStr = Field(max_length=1024, description="10–256 个字符")


@router.post("/password")
def change_password(
    request: Request, session: SessionDep, access: Annotated[Access, allow("account.password")],
    body: PasswordChange, token: Annotated[str | None, Depends(oauth2_scheme)],
) -> dict:
    """修改自己的密码：须提供当前密码；本会话保持登录，其他会话的令牌全部失效。

    当前密码错误按登录失败计数（账号与来源地址），超过上限后返回 429 与 Retry-After。
    """
    user = access.actor
    settings = request.app.state.settings
    try:
        with hashing_slot(request.app.state.hash_threads):  # Argon2 twice: bounded per worker
            revoked = logins.change_own_password(
                session, user, body.current_password.get_secret_value(),
                body.new_password.get_secret_value(), keep_token=token,
                address=request.client.host if request.client else "unknown",
                policy=login_policy(settings))
    except WrongCurrentPasswordError:
        session.commit()  # the failed guess counts for throttling although the change is refused
        raise
    session.commit()  # the file goes only once the new password is stored
    removed = initial_user.forget(request.app.state.settings.data_dir, user.username)
    return {"detail": "密码已修改，其他会话已退出登录", "tokens_revoked": revoked,
            "initial_password_file_removed": removed}
