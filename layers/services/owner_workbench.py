"""Read models of the pipeline owner's workbench pages (role ``utility``).

The conflicts on the owner's own pipelines with their review deadline, one conflict with
everything the owner acts on (reply, protection plan, supervision), and the projects an
owner may open. Every query narrows by the permission table's grant (``scope_condition``
with the pipeline alias), so an owner never reaches another organisation's conflicts:
what is out of scope answers as unknown (404).
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.documents import list_documents
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.owners import DECISION_ZH, PLAN_DECISION_ZH
from layers.services.permissions import Access, scope_condition
from layers.services.permits import STATUS_ZH, get_permit
from layers.services.workdays import overrides_between, working_days_between
from vocabulary import today_in_shanghai

# The review states the owner filters by (the list's 答复状态).
REVIEW_STATES = {"pending": "待答复", "overdue": "已逾期", "replied": "已答复"}
MAX_QUERY = 100

_ROWS = """
SELECT c.id, c.zone, round(c.distance_m::numeric, 2)::float AS distance_m, c.pressure_class,
       c.required_action, c.first_detected_at,
       p.id AS project_id, p.registration_code AS project_code, p.name AS project_name,
       p.township, p.status AS project_status, p.organisation AS builder_organisation,
       p.start_date, g.id AS pipeline_id, g.external_code AS pipeline_code, g.name AS pipeline_name,
       r.id AS review_id, r.created_at AS review_opened_at, r.due_on, r.decision, r.note,
       r.replied_at, r.replied_by, r.plan_decision, r.plan_decided_at,
       pm.id AS permit_id, pm.status AS permit_status, pm.approved_until,
       (SELECT min(v.scheduled_on) FROM supervision_visit v
         WHERE v.conflict_id = c.id AND v.arrived_at IS NULL) AS next_visit_on,
       (SELECT count(*) FROM supervision_visit v WHERE v.conflict_id = c.id) AS visits
FROM pipeline_conflict c
JOIN construction_project p ON p.id = c.project_id
JOIN gas_pipeline g ON g.id = c.pipeline_id
LEFT JOIN owner_review r ON r.conflict_id = c.id
LEFT JOIN permit pm ON pm.conflict_id = c.id
"""
_STATE_CLAUSE = {
    "pending": "r.decision IS NULL",
    "overdue": "r.decision IS NULL AND r.due_on < :today",
    "replied": "r.decision IS NOT NULL",
}


def _iso(value):
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _shape(row, today: dt.date, overrides: dict[dt.date, bool]) -> dict:
    """One conflict for display: ISO dates, Chinese words, the deadline in working days."""
    out = {k: _iso(v) for k, v in dict(row).items()}
    due = row["due_on"]
    out["decision_zh"] = DECISION_ZH.get(row["decision"] or "")
    out["plan_decision_zh"] = PLAN_DECISION_ZH.get(row["plan_decision"] or "")
    out["permit_status_zh"] = STATUS_ZH.get(row["permit_status"] or "", "")
    out["overdue"] = bool(due is not None and row["decision"] is None and due < today)
    # Working days left until the deadline (0 = due today), or working days past it.
    if due is None or row["decision"] is not None:
        out["working_days_left"] = None
    elif due >= today:
        out["working_days_left"] = working_days_between(today, due, overrides)
    else:
        out["working_days_left"] = -working_days_between(due, today, overrides)
    return out


def _overrides(session: Session, rows, today: dt.date) -> dict[dt.date, bool]:
    dues = [r["due_on"] for r in rows if r["due_on"] is not None]
    if not dues:
        return {}
    return overrides_between(session, min([*dues, today]), max([*dues, today]))


def owner_conflicts(session: Session, access: Access, *, state: str | None = None,
                    zone: str | None = None, q: str | None = None, limit: int = 200,
                    offset: int = 0, today: dt.date | None = None) -> dict:
    """Open conflicts on the pipelines ``access`` reaches, soonest deadline first, with counts."""
    today = today or today_in_shanghai()
    if state is not None and state not in _STATE_CLAUSE:
        raise InvalidRequestError(
            f"字段 state：未知答复状态“{state[:20]}”（可用：{'、'.join(REVIEW_STATES)}）")
    if zone is not None and zone not in ("protection", "control"):
        raise InvalidRequestError(f"字段 zone：未知范围“{zone[:20]}”（可用：protection、control）")
    if q is not None and len(q) > MAX_QUERY:
        raise InvalidRequestError(f"字段 q：关键词不能超过 {MAX_QUERY} 个字符")
    scope, binds = scope_condition(access, project="p", pipeline="g")
    base = [scope, "c.closed_at IS NULL", "p.deleted_at IS NULL"]
    params = {**binds, "today": today}
    where = list(base)
    if state:
        where.append(_STATE_CLAUSE[state])
    if zone:
        where.append("c.zone = :zone")
        params["zone"] = zone
    if q:
        where.append("(p.registration_code ILIKE :q OR p.name ILIKE :q OR g.external_code ILIKE :q "
                     "OR coalesce(g.name, '') ILIKE :q)")
        params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(text(
        f"{_ROWS} WHERE {' AND '.join(where)} "
        "ORDER BY (r.decision IS NOT NULL), r.due_on NULLS LAST, c.id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset}).mappings().all()
    total = session.execute(text(
        "SELECT count(*) FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN owner_review r ON r.conflict_id = c.id "
        f"WHERE {' AND '.join(where)}"), params).scalar_one()
    counts = session.execute(text(
        "SELECT count(*) FILTER (WHERE r.decision IS NULL) AS pending, "
        "count(*) FILTER (WHERE r.decision IS NULL AND r.due_on < :today) AS overdue, "
        "count(*) FILTER (WHERE r.decision IS NOT NULL) AS replied, count(*) AS open "
        "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN owner_review r ON r.conflict_id = c.id "
        f"WHERE {' AND '.join(base)}"), {**binds, "today": today}).mappings().one()
    overrides = _overrides(session, rows, today)
    return {"conflicts": [_shape(r, today, overrides) for r in rows], "numberMatched": int(total),
            "numberReturned": len(rows), "counts": dict(counts), "today": today.isoformat()}


def owner_conflict(session: Session, conflict_id: int, access: Access,
                   today: dt.date | None = None) -> dict:
    """One conflict the owner reaches: project, pipeline, review and its documents, permit, visits."""
    today = today or today_in_shanghai()
    scope, binds = scope_condition(access, project="p", pipeline="g")
    row = session.execute(text(
        f"{_ROWS} WHERE c.id = :id AND {scope} AND p.deleted_at IS NULL"),
        {"id": conflict_id, **binds}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"冲突 {conflict_id} 不存在")
    extra = session.execute(text(
        "SELECT c.closed_at, c.outer_diameter_mm, c.protection_range_m, c.control_range_m, c.rule_set, "
        "p.builder, p.contractor, p.planned_completion_date, g.owner, "
        "ST_AsGeoJSON(p.geom, 7) AS site, ST_AsGeoJSON(c.nearest_line, 7) AS nearest_line, "
        "ST_AsGeoJSON(ST_Transform(ST_Intersection(g.geom_m, ST_Buffer(p.geom_m, 60, 8)), 4490), 7) AS pipe "
        "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.id = :id"), {"id": conflict_id}).mappings().one()
    out = _shape(row, today, _overrides(session, [row], today))
    for key, value in extra.items():
        if key in ("site", "nearest_line", "pipe"):
            out[key] = json.loads(value) if value else None
        else:
            out[key] = _iso(value)
    out["review_documents"] = (list_documents(session, owner_review_id=row["review_id"])
                               if row["review_id"] else [])
    out["permit"] = None
    if row["permit_id"] is not None:
        permit = get_permit(session, row["permit_id"], access)
        out["permit"] = {
            "id": permit["id"], "status": permit["status"],
            "status_zh": STATUS_ZH.get(permit["status"], permit["status"]),
            "approved_until": _iso(permit.get("approved_until")),
            "history": [{k: _iso(v) for k, v in h.items()} for h in permit["history"]],
            "plans": [{k: _iso(v) for k, v in d.items()} for d in permit["documents"]
                      if d["kind"] == "protection_plan"]}
    visits = session.execute(text(
        "SELECT id, scheduled_on, person, created_by, arrived_at, left_at, notes, recorded_by "
        "FROM supervision_visit WHERE conflict_id = :id ORDER BY scheduled_on, id"),
        {"id": conflict_id}).mappings().all()
    out["visits"] = [{k: _iso(v) for k, v in dict(visit).items()} for visit in visits]
    return out


def project_reachable(session: Session, project_id: int, access: Access) -> None:
    """Raise NotFoundError unless ``access`` reaches the live project (for the page's answer)."""
    scope, binds = scope_condition(access, project="p")
    found = session.execute(text(
        f"SELECT 1 FROM construction_project p WHERE p.id = :id AND p.deleted_at IS NULL AND {scope}"),
        {"id": project_id, **binds}).first()
    if found is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
