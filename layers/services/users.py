"""Users, roles, password hashing (Argon2id) and opaque bearer tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layers.db import execute_prepared
from layers.services import user_requests
from layers.services.actors import Actor
from layers.services.audit import record
from layers.services.districts import check_district, district_name
from layers.services.errors import (
    AuthenticationError,
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from layers.services.permissions import (
    ROLE_ZH,
    USER_ROLES,
    account_managers,
    needs_organisation,
)
from layers.services.personal_tokens import PREFIX as PERSONAL_PREFIX
from layers.services.personal_tokens import USER_OF_PERSONAL_TOKEN
from layers.services.personal_tokens import note_use as note_personal_token_use

_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-@\u4e00-\u9fff]{2,64}$")
_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise InvalidRequestError(f"字段 role：未知角色“{role}”（可用：{'、'.join(USER_ROLES)}）")


def _check_password(password: str) -> None:
    if len(password or "") < 10 or len(password) > 256:
        raise InvalidRequestError("字段 password：密码长度须为 10–256 个字符")


def _check_organisation(role: str, organisation: str | None) -> None:
    if needs_organisation(role) and not (organisation or "").strip():
        raise InvalidRequestError(
            f"字段 organisation：{ROLE_ZH[role]}用户必须指定所属单位（其权限以本单位为范围）")


def check_email(email: str | None) -> str | None:
    """Return a plausible e-mail address stripped, None for empty; refuse anything else."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequestError(f"字段 email：“{email[:60]}”不是有效的电子邮件地址")
    return email


def _check_new_user(session: Session, username: str, password: str, role: str,
                    organisation: str | None, email: str | None) -> str | None:
    """Refuse a new user's bad fields or taken name; return its checked e-mail address."""
    if not _USERNAME.match(username or ""):
        raise InvalidRequestError("字段 username：用户名须为 2–64 位字母、数字、汉字或 _ . - @")
    _check_role(role)
    _check_password(password)
    _check_organisation(role, organisation)
    email = check_email(email)
    exists = session.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).first()
    if exists:
        raise ConflictStateError(f"用户名 {username} 已存在")
    return email


def _insert_user(session: Session, username: str, password_hash: str, role: str,
                 organisation: str | None, email: str | None = None,
                 district: str | None = None) -> Actor:
    user_id = session.execute(
        text("INSERT INTO app_user (username, password_hash, role, organisation, email, district) "
             "VALUES (:u, :h, :r, :o, :e, :d) RETURNING id"),
        {"u": username, "h": password_hash, "r": role, "o": organisation, "e": email, "d": district},
    ).scalar_one()
    return Actor(user_id, username, role, organisation, district)


def create_user(session: Session, username: str, password: str, role: str,
                organisation: str | None = None, email: str | None = None,
                district: str | None = None) -> Actor:
    """Create a user; roles scoped to an organisation must name it.

    ``district``: None is the deployment's whole jurisdiction.
    """
    email = _check_new_user(session, username, password, role, organisation, email)
    district = check_district(district)
    return _insert_user(session, username, _HASHER.hash(password), role, organisation, email, district)


def authenticate(session: Session, username: str, password: str) -> Actor:
    """Return the user for a username and password, or raise ``AuthenticationError``."""
    row = session.execute(
        text("SELECT id, username, role, organisation, district, password_hash, active FROM app_user "
             "WHERE username = :u"), {"u": username},
    ).one_or_none()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        row = None
    if row is None or not row.active:
        raise AuthenticationError("用户名或密码错误")
    return Actor(row.id, row.username, row.role, row.organisation, row.district)


def token_digest(token: str) -> str:
    """Return the stored form of a token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_digest = token_digest


def issue_token(session: Session, user: Actor, ttl_minutes: int) -> tuple[str, dt.datetime]:
    """Create a bearer token for ``user``; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=ttl_minutes)
    session.execute(
        text("INSERT INTO api_token (token_sha256, user_id, expires_at) VALUES (:t, :u, :e)"),
        {"t": _digest(token), "u": user.id, "e": expires},
    )
    return token, expires


# The same statement makes the rest of the transaction see the user's district only
# (row-level security, layers.services.districts): no extra round trip per request.
_USER_OF_TOKEN = (
    "SELECT u.id, u.username, u.role, u.organisation, u.district, "
    "gisapp_ref.see(u.district) AS seen FROM api_token t "
    "JOIN app_user u ON u.id = t.user_id "
    "WHERE t.token_sha256 = :t AND t.expires_at > now() AND u.active"
)


def user_for_token(session: Session, token: str) -> Actor:
    """Return the user of a valid, unexpired token."""
    if not token or len(token) > 512:
        raise AuthenticationError("缺少或无效的访问令牌")
    personal = token.startswith(PERSONAL_PREFIX)
    sql = USER_OF_PERSONAL_TOKEN if personal else _USER_OF_TOKEN
    row = execute_prepared(session, sql, {"t": _digest(token)}).one_or_none()
    if row is None:
        raise AuthenticationError("访问令牌无效或已过期，请重新登录")
    if personal:
        note_personal_token_use(session, row.token_id, row.last_used_at)
    return Actor(row.id, row.username, row.role, row.organisation, row.district)


def token_actor(conn, token: str) -> Actor | None:
    """The user of a still valid token, or None (long-lived streams re-check theirs)."""
    if not token or len(token) > 512:
        return None
    row = conn.execute(text(_USER_OF_TOKEN), {"t": _digest(token)}).one_or_none()
    return None if row is None else Actor(row.id, row.username, row.role, row.organisation, row.district)


def revoke_token(session: Session, token: str) -> bool:
    """Delete one bearer token (logout); return whether it existed."""
    if not token or len(token) > 512:
        return False
    deleted = session.execute(text("DELETE FROM api_token WHERE token_sha256 = :t"), {"t": _digest(token)})
    return bool(cast(CursorResult, deleted).rowcount)


# --- Administration of users (the admin role, through ``/api/users``) ---------------------

_USER_COLUMNS = "id, username, role, organisation, email, district, active, created_at"


def _shape(row) -> dict:
    """The public view of a user: never the password hash."""
    out = {k: row[k] for k in ("id", "username", "role", "organisation", "email", "district", "active",
                               "created_at")}
    out["role_zh"] = ROLE_ZH.get(row["role"], row["role"])
    return out


def list_users(session: Session, *, role: str | None = None, active: bool | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Return one page of users (ordered by id) and the total matching."""
    if role is not None:
        _check_role(role)
    where = (" WHERE (CAST(:role AS text) IS NULL OR role = :role) "
             "AND (CAST(:active AS boolean) IS NULL OR active = :active)")
    params = {"role": role, "active": active}
    total = session.execute(text("SELECT count(*) FROM app_user" + where), params).scalar_one()
    rows = session.execute(
        text(f"SELECT {_USER_COLUMNS} FROM app_user{where} ORDER BY id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).mappings().all()
    return [_shape(r) for r in rows], int(total)


def get_user(session: Session, user_id: int) -> dict:
    """Return one user, or raise ``NotFoundError``."""
    row = session.execute(text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE id = :id"),
                          {"id": user_id}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"用户 {user_id} 不存在")
    return _shape(row)


def revoke_tokens(session: Session, user_id: int) -> int:
    """Delete every bearer token of a user and revoke their personal access tokens.

    They stop working at once; return how many.
    """
    personal = session.execute(
        text("UPDATE personal_access_token SET revoked_at = now() "
             "WHERE user_id = :u AND revoked_at IS NULL"), {"u": user_id})
    deleted = session.execute(text("DELETE FROM api_token WHERE user_id = :u"), {"u": user_id})
    # A DML statement's result is a cursor result.
    return cast(CursorResult, personal).rowcount + cast(CursorResult, deleted).rowcount


def _check_within(actor: Actor, district: str | None) -> None:
    """A district-scoped account manager gives accounts of its own district only."""
    if actor.district is not None and district != actor.district:
        raise PermissionDeniedError(
            f"字段 district：本账号限于{district_name(actor.district)}，只能管理该区的用户")


def add_user(session: Session, actor: Actor, username: str, password: str, role: str,
             organisation: str | None = None, email: str | None = None, *,
             district: str | None = None, via: str = "api") -> dict:
    """Create a user on behalf of ``actor`` (same rules as ``create_user``) and audit it.

    A privileged account (``user_requests.PRIVILEGED``) created by a signed-in
    admin is only proposed: a second admin confirms it; the answer then holds
    ``pending_request`` (the request carries the e-mail address too).
    """
    district = check_district(district)
    _check_within(actor, district)
    if user_requests.needs_second_admin("create", actor, None, {"role": role}):
        email = _check_new_user(session, username, password, role, organisation, email)
        return _pending(user_requests.propose(session, actor, "create", None, {
            "username": username, "role": role, "organisation": organisation, "email": email,
            "district": district, "password_hash": _HASHER.hash(password)}))
    try:
        with session.begin_nested():  # a concurrent twin passes the check, then hits the key
            user = create_user(session, username, password, role, organisation, email, district)
    except IntegrityError as exc:
        raise ConflictStateError(f"用户名 {username} 已存在") from exc
    assert user.id is not None  # a stored user always has its id
    record(session, actor, "user.create", "app_user", user.id,
           {"username": username, "role": role, "organisation": organisation, "district": district,
            "via": via})
    return get_user(session, user.id)


def _lock_active_admins(session: Session, actor: Actor) -> None:
    """Lock every active admin row; refuse an actor who is no longer one of them.

    Every change that can remove an admin takes these locks first, in id order, so
    two admins demoting each other at once run one after the other and the second sees
    that it has lost its role: the system never ends up without an active admin.
    """
    ids = set(session.execute(text(
        "SELECT id FROM app_user WHERE role = ANY(:roles) AND active ORDER BY id FOR UPDATE"
    ), {"roles": list(account_managers())}).scalars())
    if actor.id not in ids:
        raise PermissionDeniedError("当前账号已不是在用的管理员，无权管理用户")


def _locked_user(session: Session, user_id: int):
    row = session.execute(
        text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE id = :id FOR UPDATE"), {"id": user_id}
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"用户 {user_id} 不存在")
    return row


def update_user(session: Session, actor: Actor, user_id: int, changes: dict, *,
                confirmed: bool = False) -> dict:
    """Change a user's ``role``, ``organisation`` and/or ``active``; revoke their tokens.

    Tokens are revoked when the role or organisation changes or the user is deactivated.
    Refused (409): an admin deactivating or demoting itself. With the admin locks this
    keeps at least one active admin: only an active admin can remove another one.
    """
    unknown = set(changes) - {"role", "organisation", "district", "active", "email"}
    if unknown or not changes:
        raise InvalidRequestError("请求体须包含 role、organisation、district、active、email 中至少一项")
    _lock_active_admins(session, actor)
    row = _locked_user(session, user_id)
    role = changes.get("role", row["role"])
    organisation = changes.get("organisation", row["organisation"])
    active = changes.get("active", row["active"])
    email = check_email(changes["email"]) if "email" in changes else row["email"]
    district = check_district(changes["district"]) if "district" in changes else row["district"]
    _check_within(actor, row["district"])
    _check_within(actor, district)
    _check_role(role)
    _check_organisation(role, organisation)
    # The actor is a locked active admin, so removing any other admin leaves at least one.
    if row["id"] == actor.id and not (role in account_managers() and active):
        raise ConflictStateError("不能停用自己的管理员账号或变更自己的角色（请由另一名管理员操作）")
    before = {"role": row["role"], "organisation": row["organisation"], "district": row["district"],
              "active": row["active"], "email": row["email"]}
    after = {"role": role, "organisation": organisation, "district": district, "active": active,
             "email": email}
    diff = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if not diff:
        return get_user(session, user_id) | {"tokens_revoked": 0}
    if not confirmed and user_requests.needs_second_admin("update", actor, dict(row), changes):
        return _pending(user_requests.propose(session, actor, "update", user_id,
                                              {k: after[k] for k in diff}))
    session.execute(
        text("UPDATE app_user SET role = :r, organisation = :o, district = :d, active = :a, "
             "email = :e WHERE id = :id"),
        {"r": role, "o": organisation, "d": district, "a": active, "e": email, "id": user_id},
    )
    revoked = revoke_tokens(session, user_id) if set(diff) - {"active", "email"} or not active else 0
    record(session, actor, "user.update", "app_user", user_id,
           {"username": row["username"], "changes": diff, "tokens_revoked": revoked})
    return get_user(session, user_id) | {"tokens_revoked": revoked}


def set_password(session: Session, actor: Actor, user_id: int, password: str) -> dict:
    """Set a new password for a user and revoke all their tokens (the audit row omits it).

    Another privileged account's password is only proposed (a second admin confirms it).
    """
    _check_password(password)
    row = _locked_user(session, user_id)
    if user_requests.needs_second_admin("password", actor, dict(row), {}):
        return _pending(user_requests.propose(session, actor, "password", user_id,
                                              {"password_hash": _HASHER.hash(password)}))
    return _set_hash(session, actor, row, _HASHER.hash(password))


def _set_hash(session: Session, actor, row, password_hash: str) -> dict:
    user_id = row["id"]
    session.execute(text("UPDATE app_user SET password_hash = :h WHERE id = :id"),
                    {"h": password_hash, "id": user_id})
    revoked = revoke_tokens(session, user_id)
    record(session, actor, "user.password", "app_user", user_id,
           {"username": row["username"], "tokens_revoked": revoked})
    return get_user(session, user_id) | {"tokens_revoked": revoked}


def set_password_of(session: Session, actor: Actor, username: str, password: str) -> dict:
    """``set_password`` for a user named by username (the command line's way to name one)."""
    user_id = session.execute(text("SELECT id FROM app_user WHERE username = :u"),
                              {"u": username}).scalar_one_or_none()
    if user_id is None:
        raise NotFoundError(f"字段 username：用户 {username} 不存在")
    return set_password(session, actor, user_id, password)


class WrongCurrentPasswordError(InvalidRequestError):
    """The current password given to change one's own was wrong (counted as a failed login)."""


def change_own_password(session: Session, user: Actor, current: str, new: str,
                        keep_token: str | None = None) -> int:
    """Change ``user``'s own password after checking the current one; return tokens revoked.

    Every other token of the user is deleted (other sessions end at once); the token of
    this request (``keep_token``) stays valid. The audit row omits both passwords.
    """
    row = session.execute(text("SELECT password_hash FROM app_user WHERE id = :id AND active FOR UPDATE"),
                          {"id": user.id}).one_or_none()
    if row is None:
        raise AuthenticationError("账号已停用或不存在，请重新登录")
    try:
        _HASHER.verify(row.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError) as exc:
        raise WrongCurrentPasswordError("字段 current_password：当前密码不正确，密码未修改") from exc
    if not 10 <= len(new) <= 256:
        raise InvalidRequestError("字段 new_password：新密码长度须为 10–256 个字符")
    if new == current:
        raise InvalidRequestError("字段 new_password：新密码不能与当前密码相同")
    session.execute(text("UPDATE app_user SET password_hash = :h WHERE id = :id"),
                    {"h": _HASHER.hash(new), "id": user.id})
    revoked = cast(CursorResult, session.execute(
        text("DELETE FROM api_token WHERE user_id = :u AND token_sha256 <> :keep"),
        {"u": user.id, "keep": _digest(keep_token) if keep_token else ""},
    )).rowcount
    record(session, user, "user.password.own", "app_user", user.id,
           {"username": user.username, "tokens_revoked": revoked})
    return revoked
def _pending(request: dict) -> dict:
    return {"pending_request": request, "detail": request.pop("detail")}


def confirm_request(session: Session, actor, request_id: int) -> dict:
    """Apply a privileged change proposed by another admin (``layers.services.user_requests``)."""
    _lock_active_admins(session, actor)

    def apply(req) -> dict:
        payload = req["payload"]
        if req["action"] == "create":
            try:
                with session.begin_nested():
                    _check_role(payload["role"])
                    exists = session.execute(text("SELECT 1 FROM app_user WHERE username = :u"),
                                             {"u": payload["username"]}).first()
                    if exists:
                        raise ConflictStateError(f"用户名 {payload['username']} 已存在")
                    user = _insert_user(session, payload["username"], payload["password_hash"],
                                        payload["role"], payload.get("organisation"),
                                        check_email(payload.get("email")), payload.get("district"))
            except IntegrityError as exc:
                raise ConflictStateError(f"用户名 {payload['username']} 已存在") from exc
            assert user.id is not None  # a stored user always has its id
            record(session, actor, "user.create", "app_user", user.id,
                   {"username": user.username, "role": user.role, "organisation": user.organisation,
                    "district": user.district, "via": "api", "request_id": req["id"]})
            return get_user(session, user.id)
        if req["action"] == "password":
            return _set_hash(session, actor, _locked_user(session, req["target_user_id"]),
                             payload["password_hash"])
        return update_user(session, actor, req["target_user_id"], dict(payload), confirmed=True)

    return user_requests.confirm(session, actor, request_id, apply)
