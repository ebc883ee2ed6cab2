"""Pipeline owners in the loop: every new conflict is a review the owner must answer in time.

A new conflict opens an ``owner_review`` for the owner of its pipeline, due
``owner_reply_days`` working days later (``layers.services.workdays``: Chinese public
holidays and adjusted working days). The owner (role ``utility``, organisation = the
pipeline's ``owner``) replies with a decision, a note and documents; the reply is also
a step in the permit's history and reaches the builder and the gas office. Later the
owner agrees to the builder's protection plan or asks for changes
(``decide_plan``); the gas office cannot approve a permit whose owner required a plan
that the owner has not agreed to (``layers.services.permits``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import IdArray, execute_sized
from layers.models_procedure import OWNER_DECISIONS
from layers.services.audit import record
from layers.services.documents import (
    check_uploads,
    list_documents,
    organisation_clause,
    scope_of_conflict,
    store_documents,
)
from layers.services.errors import ConflictStateError, InvalidRequestError, NotFoundError
from layers.services.notify import NO_CHANNELS, Channels, notify
from layers.services.permissions import authorize
from layers.services.workdays import due_date
from vocabulary import today_in_shanghai

DECISION_ZH = {
    "no_objection": "无异议",
    "protection_plan_required": "须编制保护方案",
    "on_site_supervision_required": "须现场监护",
    "relocation_required": "须迁改管道",
}
PLAN_DECISION_ZH = {"agreed": "同意保护方案", "changes_requested": "保护方案须修改"}
# Decisions after which the gas office may approve only a plan the owner agreed to.
PLAN_NEEDED = ("protection_plan_required", "on_site_supervision_required", "relocation_required")
MAX_NOTE = 2000


def open_reviews(session: Session, conflict_ids: Sequence[int], reply_days: int,
                 today: dt.date | None = None) -> None:
    """Open one review per new conflict, due ``reply_days`` working days from today."""
    if not conflict_ids:
        return
    due = due_date(session, today or today_in_shanghai(), reply_days)
    execute_sized(session, _OPEN_REVIEWS, {"ids": IdArray(conflict_ids), "due": due}, len(conflict_ids))


# Prepared for the few conflicts of one API write (layers.db.execute_sized); the
# conflict's district is given so a screen's thousands of reviews need no lookup each.
_OPEN_REVIEWS = (
    "INSERT INTO owner_review (conflict_id, owner, due_on, district) "
    "SELECT c.id, g.owner, CAST(:due AS date), c.district "
    "FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
    "WHERE c.id = ANY(CAST(:ids AS bigint[])) ON CONFLICT (conflict_id) DO NOTHING")


_REVIEW_SELECT = (
    "SELECT r.id, r.conflict_id, r.owner, r.created_at, r.due_on, r.decision, r.note, r.replied_at, "
    "r.replied_by, r.plan_decision, r.plan_decided_at, c.zone, "
    "round(c.distance_m::numeric, 2)::float AS distance_m, (c.closed_at IS NULL) AS conflict_open, "
    "p.id AS project_id, p.registration_code AS project_code, p.name AS project_name, "
    "p.organisation AS builder_organisation, g.id AS pipeline_id, g.external_code AS pipeline_code, "
    "pm.id AS permit_id, pm.status AS permit_status "
    "FROM owner_review r JOIN pipeline_conflict c ON c.id = r.conflict_id "
    "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id "
    "LEFT JOIN permit pm ON pm.conflict_id = c.id"
)


def _shape(row, today: dt.date) -> dict:
    out = dict(row)
    out["decision_zh"] = DECISION_ZH.get(out["decision"]) if out["decision"] else None
    out["plan_decision_zh"] = PLAN_DECISION_ZH.get(out["plan_decision"]) if out["plan_decision"] else None
    out["overdue"] = out["decision"] is None and out["conflict_open"] and out["due_on"] < today
    return out


def list_reviews(session: Session, actor, *, overdue: bool | None = None, pending: bool | None = None,
                 limit: int = 100, offset: int = 0, today: dt.date | None = None) -> dict:
    """Reviews the actor may see; ``overdue`` keeps unanswered ones past their deadline."""
    today = today or today_in_shanghai()
    clause, params = organisation_clause(actor, "review.read")
    where = [clause]
    if overdue:
        where.append("r.decision IS NULL AND c.closed_at IS NULL AND r.due_on < :today")
    if pending is not None:
        where.append("r.decision IS NULL" if pending else "r.decision IS NOT NULL")
    rows = session.execute(text(
        f"{_REVIEW_SELECT} WHERE {' AND '.join(where)} ORDER BY r.due_on, r.id LIMIT :limit OFFSET :offset"),
        {**params, "today": today, "limit": limit, "offset": offset}).mappings().all()
    reviews = [_shape(r, today) for r in rows]
    return {"reviews": reviews, "numberReturned": len(reviews)}


def get_review(session: Session, conflict_id: int, actor) -> dict:
    """The review of one conflict, with its documents."""
    scope_of_conflict(session, conflict_id, actor, action="review.read")
    row = session.execute(text(f"{_REVIEW_SELECT} WHERE r.conflict_id = :id"),
                          {"id": conflict_id}).mappings().one_or_none()
    if row is None:
        raise ConflictStateError(f"冲突 {conflict_id} 没有权属单位审查记录")
    review = _shape(row, today_in_shanghai())
    review["documents"] = list_documents(session, owner_review_id=review["id"])
    return review


def _clean_note(note: str | None, field: str = "note") -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidRequestError(f"字段 {field}：长度不能超过 {MAX_NOTE} 个字符（收到 {len(note)} 个）")
    return note or None


def _permit_step(session: Session, conflict_id: int, actor, event: str, note: str) -> int | None:
    """Append a history event that keeps the permit's status; return the permit id."""
    row = session.execute(text("SELECT id, status FROM permit WHERE conflict_id = :c FOR UPDATE"),
                          {"c": conflict_id}).one_or_none()
    if row is None:
        return None
    session.execute(text(
        "INSERT INTO permit_event (permit_id, username, from_status, to_status, note, event) "
        "VALUES (:p, :who, :s, :s, :note, :event)"),
        {"p": row.id, "who": getattr(actor, "username", None), "s": row.status, "note": note,
         "event": event})
    return row.id


def reply(session: Session, conflict_id: int, actor, *, decision: str, note: str | None,
          uploads: Sequence = (), channels: Channels = NO_CHANNELS) -> dict:
    """Record the owner's reply to a conflict (decision, note, documents); tell builder and office."""
    if decision not in OWNER_DECISIONS:
        raise InvalidRequestError(
            f"字段 decision：未知答复“{str(decision)[:40]}”（可用：{'、'.join(OWNER_DECISIONS)}）")
    note = _clean_note(note)
    authorize(actor, "review.reply")
    checked = check_uploads(list(uploads))
    conflict = scope_of_conflict(session, conflict_id, actor, action="review.reply", lock=True)
    if conflict["closed_at"] is not None:
        raise ConflictStateError(f"冲突 {conflict_id} 已关闭（项目或管道已变更），不再需要答复")
    review_id = session.execute(text(
        "UPDATE owner_review SET decision = :d, note = :n, replied_at = now(), replied_by = :who "
        "WHERE conflict_id = :c RETURNING id"),
        {"d": decision, "n": note, "who": actor.username, "c": conflict_id}).scalar_one_or_none()
    if review_id is None:
        raise ConflictStateError(f"冲突 {conflict_id} 没有权属单位审查记录")
    documents = store_documents(session, actor, "owner_reply", checked, owner_review_id=review_id)
    text_zh = f"管道权属单位 {actor.organisation} 答复：{DECISION_ZH[decision]}"
    text_zh += f"；{note}" if note else ""
    if documents:
        text_zh += f"（附件 {len(documents)} 个：{'、'.join(d['filename'] for d in documents)}）"
    _permit_step(session, conflict_id, actor, "owner_reply", text_zh)
    record(session, actor, "owner_review.reply", "owner_review", review_id,
           {"conflict_id": conflict_id, "decision": decision, "note": note,
            "documents": [d["id"] for d in documents]})
    replies = session.execute(text("SELECT count(*) FROM audit_log WHERE entity = 'owner_review' "
                                   "AND entity_id = :id AND action = 'owner_review.reply'"),
                              {"id": str(review_id)}).scalar_one()
    notify(session, channels, event="owner.reply", key=f"owner.reply:{review_id}:{replies}",
           title=f"权属单位答复：项目 {conflict['project_code']} × 管道 {conflict['pipeline_code']}",
           body=text_zh, entity="conflict", entity_id=conflict_id, project_id=conflict["project_id"],
           office=True, orgs=[conflict["organisation"]])
    return get_review(session, conflict_id, actor)


def decide_plan(session: Session, permit_id: int, actor, *, decision: str, note: str | None,
                channels: Channels = NO_CHANNELS) -> dict:
    """The owner agrees to the builder's protection plan or asks for changes."""
    if decision not in PLAN_DECISION_ZH:
        raise InvalidRequestError(
            f"字段 decision：未知意见“{str(decision)[:40]}”（可用：agreed、changes_requested）")
    note = _clean_note(note)
    authorize(actor, "plan.decide")
    conflict_id = session.execute(text("SELECT conflict_id FROM permit WHERE id = :id"),
                                  {"id": permit_id}).scalar_one_or_none()
    if conflict_id is None:
        raise NotFoundError(f"保护手续 {permit_id} 不存在")
    conflict = scope_of_conflict(session, conflict_id, actor, action="plan.decide", lock=True)
    if conflict["closed_at"] is not None:
        raise ConflictStateError(f"保护手续 {permit_id} 的冲突已关闭，不再办理")
    plans = session.execute(text("SELECT count(*) FROM procedure_document WHERE permit_id = :p "
                                 "AND kind = 'protection_plan'"), {"p": permit_id}).scalar_one()
    if not plans:
        raise ConflictStateError(f"保护手续 {permit_id} 尚未上传保护方案，无法给出意见")
    session.execute(text(
        "UPDATE owner_review SET plan_decision = :d, plan_decided_at = now() WHERE conflict_id = :c"),
        {"d": decision, "c": conflict_id})
    text_zh = f"管道权属单位 {actor.organisation}：{PLAN_DECISION_ZH[decision]}"
    text_zh += f"；{note}" if note else ""
    _permit_step(session, conflict_id, actor, f"plan_{decision}", text_zh)
    record(session, actor, f"permit.plan_{decision}", "permit", permit_id, {"note": note})
    steps = session.execute(text("SELECT count(*) FROM permit_event WHERE permit_id = :p"),
                            {"p": permit_id}).scalar_one()
    notify(session, channels, event="owner.plan", key=f"owner.plan:{permit_id}:{steps}",
           title=f"保护方案意见：项目 {conflict['project_code']} × 管道 {conflict['pipeline_code']}",
           body=text_zh, entity="permit", entity_id=permit_id, project_id=conflict["project_id"],
           office=True, orgs=[conflict["organisation"]])
    from layers.services.permits import get_permit

    return get_permit(session, permit_id)
