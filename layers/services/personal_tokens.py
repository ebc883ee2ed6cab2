"""Personal access tokens: long-lived bearer tokens for desktop GIS (QGIS, GDAL, ogr2ogr).

A user creates one under a name, copies it once into the desktop tool, and revokes it
when the laptop leaves. Only the SHA-256 is stored. They start with ``gpat_`` so a
token check knows which table to look in (one indexed lookup either way), and they
stop working with the user's other tokens when the user's standing changes
(``users.revoke_tokens``).
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.audit import record
from layers.services.errors import InvalidRequestError, NotFoundError

PREFIX = "gpat_"
MAX_PER_USER = 20
MAX_DAYS = 3650

# Like the session token's lookup (layers.services.users): the same statement makes the
# rest of the transaction see the user's district only (row-level security).
USER_OF_PERSONAL_TOKEN = (
    "SELECT u.id, u.username, u.role, u.organisation, u.district, "
    "gisapp_ref.see(u.district) AS seen, t.id AS token_id, t.last_used_at "
    "FROM personal_access_token t "
    "JOIN app_user u ON u.id = t.user_id WHERE t.token_sha256 = :t AND t.revoked_at IS NULL "
    "AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.active"
)


# How often a token's use is written down: a desktop client that sends hundreds of
# requests a minute (QGIS paging a layer) writes once, not on every request.
NOTE_USE_EVERY = dt.timedelta(minutes=1)
# SKIP LOCKED: concurrent requests of one token never wait on each other's row lock;
# the one holding it writes the time. The condition is checked again under the lock.
_NOTE_USE = (
    "UPDATE personal_access_token SET last_used_at = now() WHERE id = ("
    "SELECT id FROM personal_access_token WHERE id = :id "
    "AND (last_used_at IS NULL OR last_used_at < now() - CAST(:every AS interval)) "
    "FOR UPDATE SKIP LOCKED)"
)
_COLUMNS = "id, name, created_at, expires_at, revoked_at, last_used_at"


def note_use(session: Session, token_id: int, last_used_at: dt.datetime | None) -> None:
    """Write down that the token was used now, unless that was done within the last minute.

    Called by the token check in the request's transaction: a request that fails rolls
    it back with everything else, and the next one writes it.
    """
    if last_used_at is not None and dt.datetime.now(dt.UTC) - last_used_at < NOTE_USE_EVERY:
        return
    session.execute(text(_NOTE_USE), {"id": token_id, "every": NOTE_USE_EVERY})


def _shape(row) -> dict:
    return {
        "id": row["id"], "name": row["name"], "created_at": row["created_at"],
        "expires_at": row["expires_at"], "revoked_at": row["revoked_at"],
        "last_used_at": row["last_used_at"],
        "active": row["revoked_at"] is None
        and (row["expires_at"] is None or row["expires_at"] > dt.datetime.now(dt.UTC)),
    }


def create_personal_token(session: Session, user, name: str, expires_days: int | None) -> dict:
    """Create a token for ``user``; the answer carries the token, which is never shown again."""
    from layers.services.users import token_digest

    name = (name or "").strip()
    if not 1 <= len(name) <= 64 or any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        raise InvalidRequestError("字段 name：令牌名称须为 1–64 个可见字符（如“QGIS 办公室电脑”）")
    if expires_days is not None and not 1 <= expires_days <= MAX_DAYS:
        raise InvalidRequestError(f"字段 expires_days：有效天数须为 1–{MAX_DAYS}，或不填（长期有效）")
    live = session.execute(
        text("SELECT count(*) FROM personal_access_token WHERE user_id = :u AND revoked_at IS NULL"),
        {"u": user.id},
    ).scalar_one()
    if live >= MAX_PER_USER:
        raise InvalidRequestError(f"字段 name：每个用户最多 {MAX_PER_USER} 个有效令牌，请先吊销不用的令牌")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = None if expires_days is None else dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days)
    row = session.execute(
        text("INSERT INTO personal_access_token (user_id, name, token_sha256, expires_at) "
             f"VALUES (:u, :n, :t, :e) RETURNING {_COLUMNS}"),
        {"u": user.id, "n": name, "t": token_digest(token), "e": expires},
    ).mappings().one()
    record(session, user, "personal_token.create", "personal_access_token", row["id"], {"name": name})
    return _shape(row) | {"token": token}


def list_personal_tokens(session: Session, user) -> list[dict]:
    """Return the user's tokens (never their values), newest first."""
    rows = session.execute(
        text(f"SELECT {_COLUMNS} FROM personal_access_token WHERE user_id = :u ORDER BY id DESC"),
        {"u": user.id},
    ).mappings().all()
    return [_shape(r) for r in rows]


def revoke_personal_token(session: Session, user, token_id: int) -> dict:
    """Revoke one of the user's own tokens (it stops working at once)."""
    row = session.execute(
        text("UPDATE personal_access_token SET revoked_at = coalesce(revoked_at, now()) "
             f"WHERE id = :id AND user_id = :u RETURNING {_COLUMNS}"),
        {"id": token_id, "u": user.id},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"令牌 {token_id} 不存在")
    record(session, user, "personal_token.revoke", "personal_access_token", token_id, {"name": row["name"]})
    return _shape(row)
