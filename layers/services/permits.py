"""The protection procedure (燃气管道保护手续) of a conflict: a checked state machine with history.

Every new conflict gets a permit in ``not_started`` (``layers.services.features``). Its
status then moves only along these transitions:

| from         | to           | requires / meaning                     |
|--------------|--------------|----------------------------------------|
| not_started  | applied      | apply                                  |
| not_started  | not_required | reason                                 |
| applied      | approved     | approved_until >= today                |
| applied      | rejected     |                                        |
| applied      | not_required | reason                                 |
| rejected     | applied      | re-apply                               |
| approved     | expired      | automatic once past approved_until (1) |
| approved     | applied      | renewal                                |
| expired      | applied      | apply again                            |
| not_required | not_started  | reopen                                 |
| any          | (none)       | conflict closed: frozen, 409 (2)       |

Who may move a permit to which state is the permission table's business
(``layers.services.permissions``, actions ``permit.to.<state>``): the gas office every
move, builders ``applied`` for their own organisation's permits, the expiry job
``expired``.

(1) ``expire_due(session, today)``, run by a scheduled job, expires every approval
whose ``approved_until`` is before today (Shanghai date), as ``job:permit-expiry``.

(2) Once ``pipeline_conflict.closed_at`` is set (the project or pipeline changed and no
longer reaches a range) every transition is refused and expiry skips the permit; it
stays readable. A conflict that reappears is a new conflict with a new permit.

An actor acts only on the permits its grant's scope reaches (others are "not found").
Every transition locks the permit row (``SELECT ... FOR UPDATE``) and share-locks its
conflict row, so concurrent requests serialise and a screening that is closing the
conflict is waited for, and writes one ``permit_event`` and one ``audit_log`` row in the
caller's transaction: the history is complete or the change did not happen.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.actors import Actor
from layers.services.audit import record
from layers.services.errors import ConflictStateError, InvalidRequestError, NotFoundError
from layers.services.permissions import Access, authorize, scope_condition
from vocabulary import PermitState, Zone, shanghai_date, today_in_shanghai

STATUSES = tuple(state.value for state in PermitState)
STATUS_ZH = PermitState.labels()
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "not_started": ("applied", "not_required"),
    "applied": ("approved", "rejected", "not_required"),
    "rejected": ("applied",),
    "approved": ("expired", "applied"),
    "expired": ("applied",),
    "not_required": ("not_started",),
}
MAX_REFERENCE = 64
MAX_TEXT = 2000


EXPIRY_JOB = Actor.job("permit-expiry")  # the actor of automatic expiry



def _zh(status: str | None) -> str:
    return f"“{STATUS_ZH.get(status or '', status)}”（{status}）"


_PERMIT_SELECT = (
    "SELECT pm.id, pm.conflict_id, pm.status, pm.reference, pm.approved_until, pm.reason, "
    "pm.updated_at, pm.updated_by, p.id AS project_id, p.registration_code AS project_code, "
    "p.name AS project_name, p.organisation, g.id AS pipeline_id, "
    "g.external_code AS pipeline_code, g.owner, c.zone, "
    "round(c.distance_m::numeric, 2)::float AS distance_m, c.closed_at AS conflict_closed_at, "
    "(c.closed_at IS NULL) AS conflict_open FROM permit pm "
    "JOIN pipeline_conflict c ON c.id = pm.conflict_id "
    "JOIN construction_project p ON p.id = c.project_id "
    "JOIN gas_pipeline g ON g.id = c.pipeline_id"
)


def _shape(row) -> dict:
    out = dict(row)
    out["status_zh"] = STATUS_ZH[out["status"]]
    out["zone_zh"] = Zone(out["zone"]).label
    out["allowed_next"] = list(TRANSITIONS[out["status"]]) if out["conflict_open"] else []
    return out


def list_permits(
    session: Session,
    access: Access,
    *,
    status: str | None = None,
    project_id: int | None = None,
    conflict_open: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Return one page of the permits ``access`` reaches and the total matching.

    ``conflict_open`` True keeps permits of open conflicts only, False those of closed ones.
    """
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"参数 status：未知状态“{status}”（可用：{'、'.join(STATUSES)}）")
    scope, scope_params = scope_condition(access, pipeline="g")
    where = (
        " WHERE (CAST(:status AS text) IS NULL OR pm.status = :status) "
        f"AND {scope} "
        "AND (CAST(:pid AS bigint) IS NULL OR p.id = :pid) "
        "AND (CAST(:open AS boolean) IS NULL OR (c.closed_at IS NULL) = :open)"
    )
    params = {"status": status, "pid": project_id, "open": conflict_open, **scope_params}
    total = session.execute(
        text("SELECT count(*) FROM permit pm JOIN pipeline_conflict c ON c.id = pm.conflict_id "
             "JOIN construction_project p ON p.id = c.project_id "
             "JOIN gas_pipeline g ON g.id = c.pipeline_id" + where),
        params,
    ).scalar_one()
    rows = session.execute(
        text(_PERMIT_SELECT + where + " ORDER BY pm.id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).mappings().all()
    return [_shape(r) for r in rows], int(total)


def _history(session: Session, permit_id: int) -> list[dict]:
    rows = session.execute(
        text("SELECT id, at, username, from_status, to_status, approved_until, reference, note, event "
             "FROM permit_event WHERE permit_id = :id ORDER BY at, id"),
        {"id": permit_id},
    ).mappings().all()
    return [dict(r) for r in rows]


def _fetch(session: Session, permit_id: int, access: Access | None, *, lock: bool):
    scope, scope_params = scope_condition(access, pipeline="g")
    row = session.execute(
        text(_PERMIT_SELECT + f" WHERE pm.id = :id AND {scope}"
             # The conflict row too: a screening closing it must finish first.
             + (" FOR UPDATE OF pm FOR SHARE OF c" if lock else "")),
        {"id": permit_id, **scope_params},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"保护手续 {permit_id} 不存在")
    return row


def get_permit(session: Session, permit_id: int, access: Access | None = None) -> dict:
    """Return one permit (if ``access`` reaches it) with its conflict and full history."""
    permit = _shape(_fetch(session, permit_id, access, lock=False))
    permit["history"] = _history(session, permit_id)
    permit["documents"] = [dict(r) for r in session.execute(
        text("SELECT id, kind, filename, content_type, size_bytes, sha256, uploaded_at, uploaded_by "
             "FROM procedure_document WHERE permit_id = :id ORDER BY id"), {"id": permit_id}).mappings()]
    review = session.execute(
        text("SELECT decision, note, due_on, replied_at, plan_decision, plan_decided_at "
             "FROM owner_review WHERE conflict_id = :c"),
        {"c": permit["conflict_id"]}).mappings().one_or_none()
    permit["owner_review"] = dict(review) if review else None
    return permit


def _clean(value: str | None, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > max_len:
        raise InvalidRequestError(f"字段 {field}：长度不能超过 {max_len} 个字符")
    return value or None


def _closed_error(row, to_status: str) -> ConflictStateError:
    closed_on = shanghai_date(row["conflict_closed_at"]).isoformat()
    return ConflictStateError(
        f"保护手续 {row['id']}（项目 {row['project_code']}，管道 {row['pipeline_code']}）"
        f"不能改为{_zh(to_status)}：项目或管道已变更，冲突已于 {closed_on} 关闭，"
        "该保护手续不再办理（冲突如再次出现，将生成新的保护手续）"
    )


def transition(
    session: Session,
    permit_id: int,
    to_status: str,
    actor: Actor,
    *,
    approved_until: dt.date | None = None,
    reference: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    today: dt.date | None = None,
    channels=None,
) -> dict:
    """Move a permit to ``to_status`` if the state machine and the actor allow it; return it.

    An approval needs the owner's agreement to the protection plan when the owner's
    reply asked for a plan, supervision or relocation.
    """
    if to_status not in STATUSES:
        raise InvalidRequestError(
            f"字段 to_status：未知状态“{to_status}”（可用：{'、'.join(STATUSES)}）")
    access = authorize(actor, f"permit.to.{to_status}")
    reference = _clean(reference, "reference", MAX_REFERENCE)
    reason = _clean(reason, "reason", MAX_TEXT)
    note = _clean(note, "note", MAX_TEXT)
    row = _fetch(session, permit_id, access, lock=True)
    if not row["conflict_open"]:
        raise _closed_error(row, to_status)
    current = row["status"]
    allowed = TRANSITIONS[current]
    if to_status not in allowed:
        nexts = "、".join(_zh(s) for s in allowed)
        raise ConflictStateError(
            f"保护手续 {permit_id}（项目 {row['project_code']}，管道 {row['pipeline_code']}）"
            f"当前状态为{_zh(current)}，不能改为{_zh(to_status)}；允许的下一状态：{nexts}"
        )
    today = today or today_in_shanghai()
    if to_status == "approved":
        if approved_until is None:
            raise InvalidRequestError(
                f"字段 approved_until：批准保护手续 {permit_id} 时必须填写有效期至（YYYY-MM-DD）")
        if approved_until < today:
            raise InvalidRequestError(
                f"字段 approved_until：有效期至 {approved_until.isoformat()} "
                f"早于今天 {today.isoformat()}")
    elif approved_until is not None:
        raise InvalidRequestError(
            f"字段 approved_until：只有批准（approved）时才能填写有效期至，当前请求为 {to_status}")
    if to_status == "not_required" and reason is None:
        raise InvalidRequestError(f"字段 reason：将保护手续 {permit_id} 标为无需办理时必须说明原因")
    if to_status == "approved":
        _check_owner_agreed(session, row)
    _apply(session, row, to_status, actor, approved_until=approved_until, reference=reference,
           reason=reason, note=note, channels=channels)
    return get_permit(session, permit_id)


def _check_owner_agreed(session: Session, row) -> None:
    """Refuse an approval while the owner required a plan it has not agreed to."""
    review = session.execute(text(
        "SELECT decision, plan_decision FROM owner_review WHERE conflict_id = :c"),
        {"c": row["conflict_id"]}).one_or_none()
    needs_plan = ("protection_plan_required", "on_site_supervision_required", "relocation_required")
    if review is not None and review.decision in needs_plan and review.plan_decision != "agreed":
        raise ConflictStateError(
            f"保护手续 {row['id']}（项目 {row['project_code']}，管道 {row['pipeline_code']}）不能批准："
            f"管道权属单位要求编制保护方案（{review.decision}），尚未同意保护方案"
            "（建设单位上传保护方案后，由权属单位给出“同意”意见）")


def _apply(session: Session, row, to_status: str, actor: Actor, *, approved_until, reference, reason,
           note, channels=None) -> None:
    """Write the new state, its history event and its audit row (caller holds the row lock)."""
    # The expiry date belongs to an approval: it is kept on expiry (which date ran out)
    # and cleared by any other move; the reference (application/permit number) is kept.
    until = approved_until if to_status == "approved" else (
        row["approved_until"] if to_status == "expired" else None)
    keep_reason = reason if to_status in ("not_required", "rejected") else None
    username = actor.username
    session.execute(
        text("UPDATE permit SET status = :s, approved_until = :until, reason = :reason, "
             "reference = coalesce(:ref, reference), updated_at = now(), updated_by = :who "
             "WHERE id = :id"),
        {"s": to_status, "until": until, "reason": keep_reason, "ref": reference,
         "who": username, "id": row["id"]},
    )
    # permit_event has no reason column: the reason leads the event's note.
    event_note = "；".join(x for x in (reason and f"原因：{reason}", note) if x) or None
    event_id = session.execute(
        text("INSERT INTO permit_event (permit_id, username, from_status, to_status, "
             "approved_until, reference, note) VALUES (:id, :who, :f, :t, :until, :ref, :note) "
             "RETURNING id"),
        {"id": row["id"], "who": username, "f": row["status"], "t": to_status, "until": until,
         "ref": reference, "note": event_note},
    ).scalar_one()
    from layers.services.notify import Channels, notify

    body = (f"项目 {row['project_code']} 与管道 {row['pipeline_code']} 的保护手续："
            f"{STATUS_ZH.get(row['status'], row['status'])} → {STATUS_ZH[to_status]}"
            + (f"，有效期至 {until.isoformat()}" if until and to_status == "approved" else "")
            + (f"；{event_note}" if event_note else ""))
    notify(session, channels or Channels(), event="permit.change", key=f"permit.change:{event_id}",
           title=f"保护手续变更：项目 {row['project_code']} {STATUS_ZH[to_status]}", body=body,
           entity="permit", entity_id=row["id"], project_id=row["project_id"],
           orgs=[row["organisation"]])
    record(session, actor, f"permit.{to_status}", "permit", row["id"], {
        "from": row["status"], "to": to_status, "conflict_id": row["conflict_id"],
        "approved_until": until.isoformat() if until else None, "reference": reference,
        "reason": reason, "note": note,
    })


def expire_due(session: Session, today: dt.date | None = None,
               actor: Actor = EXPIRY_JOB, channels=None) -> list[int]:
    """Move every approved permit of an open conflict past its ``approved_until`` to expired."""
    authorize(actor, "permit.to.expired")
    today = today or today_in_shanghai()
    # Rows locked by a transition or a screening in progress are left to the next pass:
    # waiting for a district screening's conflict rows here could deadlock with it.
    rows = session.execute(
        text(_PERMIT_SELECT + " WHERE pm.status = 'approved' AND pm.approved_until < :today "
             "AND c.closed_at IS NULL "
             "ORDER BY pm.id FOR UPDATE OF pm SKIP LOCKED FOR SHARE OF c SKIP LOCKED"),
        {"today": today},
    ).mappings().all()
    for row in rows:
        note = f"有效期至 {row['approved_until'].isoformat()} 已过（{today.isoformat()} 自动失效）"
        _apply(session, row, "expired", actor, approved_until=None, reference=None, reason=None,
               note=note, channels=channels)
    return [r["id"] for r in rows]


_EXPIRY_LOCK = "gisapp:permit-expiry"


def expire_due_alone(session: Session, actor: Actor = EXPIRY_JOB, channels=None) -> list[int] | None:
    """Run ``expire_due`` unless another pass holds the expiry lock (then return None).

    Several server workers run the expiry job; a transaction-scoped advisory lock lets
    one pass run at a time.
    """
    if not session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                           {"k": _EXPIRY_LOCK}).scalar():
        return None
    return expire_due(session, actor=actor, channels=channels)
