"""Two admins for every change that opens a privileged account (issue 12, item 8).

admin sees no network data (D26), but an admin could create a gas office account, or
reset a gas office user's password, log in as it and read everything. So a change
that *grants* the access of a privileged role (``gas_office`` or ``admin``) is only
proposed by the first admin and applied when a *different* active admin confirms it:

- creating a gas_office or admin account;
- promoting an account to gas_office or admin;
- re-activating a gas_office or admin account;
- setting the password of a gas_office or admin account other than one's own.

Changes that only remove access (deactivation, demotion) and everything about builders
and inspectors apply at once, as before. A request keeps the new password only as its
Argon2 hash, expires after ``REQUEST_TTL``, and is audited when proposed, confirmed or
cancelled. With a single admin, privileged accounts are made on the server with
``gisapp user create`` (shell access to the server is already full access).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam

from layers.services.audit import record
from layers.services.errors import ConflictStateError, NotFoundError, PermissionDeniedError

PRIVILEGED = ("gas_office", "admin")
REQUEST_TTL = dt.timedelta(hours=24)
PENDING_DETAIL = ("该变更涉及特权账号（燃气管理所或管理员），已记录为待确认请求 {id}，"
                  "须由另一名管理员在 24 小时内确认后生效（POST /api/users/requests/{id}/confirm）")


def needs_second_admin(action: str, actor, target: dict | None, changes: dict) -> bool:
    """Whether this change grants privileged access and so waits for a second admin.

    Only a signed-in admin's change waits; the operator at the server's shell
    (``gisapp user create``, actor without an account id) holds the database anyway.
    """
    if getattr(actor, "id", None) is None:
        return False
    if action == "create":
        return changes.get("role") in PRIVILEGED
    if target is None:
        return False
    if action == "password":
        return target["role"] in PRIVILEGED and target["id"] != getattr(actor, "id", None)
    role = changes.get("role", target["role"])
    if role in PRIVILEGED and role != target["role"]:
        return True  # a promotion
    return role in PRIVILEGED and changes.get("active") is True and not target["active"]


def propose(session: Session, actor, action: str, target_id: int | None, payload: dict) -> dict:
    """Store a pending request (``payload`` holds a password only as its hash); return it."""
    insert = text(
        "INSERT INTO user_change_request (action, target_user_id, payload, requested_by_id, expires_at) "
        "VALUES (:a, :t, :p, :by, now() + make_interval(secs => :ttl)) RETURNING id"
    ).bindparams(bindparam("p", type_=JSONB))
    request_id = session.execute(insert, {
        "a": action, "t": target_id, "p": payload, "by": actor.id,
        "ttl": REQUEST_TTL.total_seconds()}).scalar_one()
    shown = {k: v for k, v in payload.items() if k != "password_hash"}
    record(session, actor, "user.request", "user_change_request", request_id,
           {"action": action, "target_user_id": target_id, **shown})
    return get_request(session, request_id) | {"detail": PENDING_DETAIL.format(id=request_id)}


_SELECT = (
    "SELECT r.id, r.action, r.target_user_id, t.username AS target_username, "
    "r.payload - 'password_hash' AS changes, r.payload ? 'password_hash' AS sets_password, "
    "r.requested_by_id, b.username AS requested_by, r.requested_at, r.expires_at, "
    "CASE WHEN r.state = 'pending' AND r.expires_at <= now() THEN 'expired' ELSE r.state END AS state, "
    "r.decided_by_id, r.decided_at FROM user_change_request r "
    "JOIN app_user b ON b.id = r.requested_by_id LEFT JOIN app_user t ON t.id = r.target_user_id"
)


def get_request(session: Session, request_id: int) -> dict:
    """Return one request (never the password hash)."""
    row = session.execute(text(_SELECT + " WHERE r.id = :id"), {"id": request_id}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"账号变更请求 {request_id} 不存在")
    return dict(row)


def list_requests(session: Session, pending_only: bool = True) -> list[dict]:
    """Return the requests, the pending (unexpired) ones only by default."""
    where = " WHERE r.state = 'pending' AND r.expires_at > now()" if pending_only else ""
    rows = session.execute(text(_SELECT + where + " ORDER BY r.id DESC LIMIT 200")).mappings().all()
    return [dict(r) for r in rows]


def _locked_pending(session: Session, request_id: int):
    row = session.execute(
        text("SELECT id, action, target_user_id, payload, requested_by_id, state, "
             "expires_at <= now() AS expired FROM user_change_request WHERE id = :id FOR UPDATE"),
        {"id": request_id},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"账号变更请求 {request_id} 不存在")
    if row["state"] != "pending":
        raise ConflictStateError(f"账号变更请求 {request_id} 已处理（{row['state']}），不能再次处理")
    if row["expired"]:
        raise ConflictStateError(f"账号变更请求 {request_id} 已超过 24 小时未确认而失效，请重新发起")
    return row


def confirm(session: Session, actor, request_id: int, apply) -> dict:
    """Apply a pending request as a second admin; ``apply(row)`` makes the change."""
    row = _locked_pending(session, request_id)
    if row["requested_by_id"] == actor.id:
        raise PermissionDeniedError("不能确认自己发起的账号变更请求，须由另一名管理员确认")
    result = apply(row)
    session.execute(text("UPDATE user_change_request SET state = 'applied', decided_by_id = :by, "
                         "decided_at = now() WHERE id = :id"), {"by": actor.id, "id": request_id})
    record(session, actor, "user.request_confirm", "user_change_request", request_id,
           {"action": row["action"], "requested_by_id": row["requested_by_id"]})
    return {"request": get_request(session, request_id), "user": result}


def cancel(session: Session, actor, request_id: int) -> dict:
    """Cancel a pending request (any admin, the proposer included)."""
    _locked_pending(session, request_id)
    session.execute(text("UPDATE user_change_request SET state = 'cancelled', decided_by_id = :by, "
                         "decided_at = now() WHERE id = :id"), {"by": actor.id, "id": request_id})
    record(session, actor, "user.request_cancel", "user_change_request", request_id, {})
    return get_request(session, request_id)
