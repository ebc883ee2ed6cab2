"""The procedure of one project as its page shows it: per permit the owner's reply, the
protection plans and the gas office's decision; the start notices sent and whether one
may be sent now.

Read only. Who sees what follows the permission table: ``permit.read`` scoped to the
project (builders their own, the office and inspectors all) and, for a pipeline owner,
to the conflicts on its own pipelines.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.documents import KIND_ZH
from layers.services.errors import NotFoundError
from layers.services.owners import DECISION_ZH, PLAN_DECISION_ZH
from layers.services.permissions import Access, scope_condition
from layers.services.procedure import missing_for_work
from layers.services.workdays import add_working_days, overrides_between
from vocabulary import PermitState, Zone, today_in_shanghai

_PERMITS = """
SELECT pm.id AS permit_id, c.id AS conflict_id, c.zone, g.external_code AS pipeline_code,
       g.owner, pm.status, pm.approved_until, pm.reason, pm.reference,
       r.id AS review_id, r.due_on, r.decision, r.note AS reply_note, r.replied_at, r.replied_by,
       r.plan_decision, r.plan_decided_at
FROM pipeline_conflict c
JOIN construction_project p ON p.id = c.project_id
JOIN gas_pipeline g ON g.id = c.pipeline_id
JOIN permit pm ON pm.conflict_id = c.id
LEFT JOIN owner_review r ON r.conflict_id = c.id
WHERE c.project_id = :id AND c.closed_at IS NULL AND {scope}
ORDER BY c.distance_m, c.id
"""

# The office's last word on each permit: the latest move to approved or rejected.
_DECISIONS = """
SELECT DISTINCT ON (permit_id) permit_id, to_status, at, username, approved_until, reference, note
FROM permit_event
WHERE permit_id = ANY(CAST(:ids AS bigint[])) AND event IS NULL
  AND to_status IN ('approved', 'rejected')
ORDER BY permit_id, at DESC, id DESC
"""

_DOCUMENTS = """
SELECT id, kind, permit_id, owner_review_id, filename, content_type, size_bytes, uploaded_at,
       uploaded_by
FROM procedure_document
WHERE permit_id = ANY(CAST(:permits AS bigint[])) OR owner_review_id = ANY(CAST(:reviews AS bigint[]))
ORDER BY id
"""


def _project(session: Session, project_id: int, access: Access) -> dict:
    scope, binds = scope_condition(access, project="p")
    row = session.execute(text(
        "SELECT p.id, p.registration_code, p.status FROM construction_project p "
        f"WHERE p.id = :id AND p.deleted_at IS NULL AND {scope}"),
        {"id": project_id, **binds}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
    return dict(row)


def _doc(row) -> dict:
    out = {k: row[k] for k in ("id", "kind", "filename", "content_type", "size_bytes",
                               "uploaded_at", "uploaded_by")}
    out["kind_zh"] = KIND_ZH.get(out["kind"], out["kind"])
    return out


def _permits(session: Session, project_id: int, access: Access) -> list[dict]:
    scope, binds = scope_condition(access, project="p", pipeline="g")
    rows = session.execute(text(_PERMITS.format(scope=scope)),
                           {"id": project_id, **binds}).mappings().all()
    permit_ids = [r["permit_id"] for r in rows]
    review_ids = [r["review_id"] for r in rows if r["review_id"] is not None]
    decisions = {r["permit_id"]: dict(r) for r in session.execute(
        text(_DECISIONS), {"ids": permit_ids}).mappings()}
    docs = session.execute(text(_DOCUMENTS), {"permits": permit_ids, "reviews": review_ids}).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        item["zone_zh"] = Zone(item["zone"]).label
        item["status_zh"] = PermitState(item["status"]).label
        item["decision_zh"] = DECISION_ZH.get(item["decision"] or "")
        item["plan_decision_zh"] = PLAN_DECISION_ZH.get(item["plan_decision"] or "")
        item["plans"] = [_doc(d) for d in docs if d["permit_id"] == r["permit_id"]]
        item["reply_documents"] = [_doc(d) for d in docs
                                   if r["review_id"] is not None and d["owner_review_id"] == r["review_id"]]
        # The decision shown is the one in force: only while the permit is approved, rejected
        # or expired (an application after a rejection is a new round, not yet decided).
        decision = decisions.get(r["permit_id"])
        item["office_decision"] = decision if item["status"] in ("approved", "rejected", "expired") else None
        if item["office_decision"] and item["status"] == "rejected" and item["reason"]:
            item["office_decision"]["reason"] = item["reason"]
        out.append(item)
    return out


def _start_notice(session: Session, project: dict, today: dt.date, notice_days: int) -> dict:
    """The notices sent, the earliest start a new one may name, and what stops one now."""
    notices = [dict(r) for r in session.execute(text(
        "SELECT id, planned_start, note, submitted_at, submitted_by FROM start_notice "
        "WHERE project_id = :id ORDER BY id DESC"), {"id": project["id"]}).mappings()]
    horizon = today + dt.timedelta(days=notice_days * 3 + 30)
    earliest = add_working_days(today, notice_days, overrides_between(session, today, horizon))
    blockers = []
    if project["status"] == "completed":
        blockers.append("项目已竣工，无需开工告知")
    missing, answer = missing_for_work(session, project["id"], today)
    if answer is None:
        blockers.append("项目尚无查询答复书（请先更新答复书）")
    elif answer.valid_until < today:
        blockers.append(f"查询答复书 {answer.number} 已于 {answer.valid_until.isoformat()} 过期"
                        "（请先更新答复书）")
    for row in missing:
        state = PermitState(row.status).label if row.status else "未办理"
        blockers.append(f"管道 {row.external_code} 安全保护范围内的保护手续尚未批准（当前：{state}）")
    return {"notices": notices, "earliest_start": earliest, "notice_days": notice_days,
            "allowed": not blockers, "blockers": blockers}


def project_procedure(session: Session, project_id: int, access: Access, *, notice_days: int,
                      today: dt.date | None = None) -> dict:
    """The procedure of a project ``access`` (permit.read) reaches."""
    project = _project(session, project_id, access)
    today = today or today_in_shanghai()
    return {"project_id": project_id, "permits": _permits(session, project_id, access),
            "start_notice": _start_notice(session, project, today, notice_days)}
