"""Users, roles, password hashing (Argon2id) and opaque bearer tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import execute_prepared
from layers.services.errors import AuthenticationError, ConflictStateError, InvalidRequestError

ROLES = ("gas_office", "builder", "inspector", "admin")
ROLE_ZH = {"gas_office": "燃气管理所", "builder": "建设单位", "inspector": "检查人员", "admin": "管理员"}
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-@\u4e00-\u9fff]{2,64}$")
_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


@dataclass(frozen=True)
class User:
    """An authenticated user."""

    id: int
    username: str
    role: str
    organisation: str | None


def create_user(session: Session, username: str, password: str, role: str,
                organisation: str | None = None) -> User:
    """Create a user; builders must name their organisation."""
    if not _USERNAME.match(username or ""):
        raise InvalidRequestError("字段 username：用户名须为 2–64 位字母、数字、汉字或 _ . - @")
    if role not in ROLES:
        raise InvalidRequestError(f"字段 role：未知角色“{role}”（可用：{'、'.join(ROLES)}）")
    if len(password or "") < 10 or len(password) > 256:
        raise InvalidRequestError("字段 password：密码长度须为 10–256 个字符")
    if role == "builder" and not (organisation or "").strip():
        raise InvalidRequestError("字段 organisation：建设单位用户必须指定所属单位")
    exists = session.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).first()
    if exists:
        raise ConflictStateError(f"用户名 {username} 已存在")
    user_id = session.execute(
        text("INSERT INTO app_user (username, password_hash, role, organisation) "
             "VALUES (:u, :h, :r, :o) RETURNING id"),
        {"u": username, "h": _HASHER.hash(password), "r": role, "o": organisation},
    ).scalar_one()
    return User(user_id, username, role, organisation)


def authenticate(session: Session, username: str, password: str) -> User:
    """Return the user for a username and password, or raise ``AuthenticationError``."""
    row = session.execute(
        text("SELECT id, username, role, organisation, password_hash, active FROM app_user "
             "WHERE username = :u"), {"u": username},
    ).one_or_none()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        row = None
    if row is None or not row.active:
        raise AuthenticationError("用户名或密码错误")
    return User(row.id, row.username, row.role, row.organisation)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, ttl_minutes: int) -> tuple[str, dt.datetime]:
    """Create a bearer token for ``user``; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=ttl_minutes)
    session.execute(
        text("INSERT INTO api_token (token_sha256, user_id, expires_at) VALUES (:t, :u, :e)"),
        {"t": _digest(token), "u": user.id, "e": expires},
    )
    return token, expires


_USER_OF_TOKEN = (
    "SELECT u.id, u.username, u.role, u.organisation FROM api_token t "
    "JOIN app_user u ON u.id = t.user_id "
    "WHERE t.token_sha256 = :t AND t.expires_at > now() AND u.active"
)


def user_for_token(session: Session, token: str) -> User:
    """Return the user of a valid, unexpired token."""
    if not token or len(token) > 512:
        raise AuthenticationError("缺少或无效的访问令牌")
    row = execute_prepared(session, _USER_OF_TOKEN, {"t": _digest(token)}).one_or_none()
    if row is None:
        raise AuthenticationError("访问令牌无效或已过期，请重新登录")
    return User(row.id, row.username, row.role, row.organisation)
