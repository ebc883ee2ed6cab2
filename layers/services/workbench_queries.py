"""Read models of the workbench pages: one query per page section, shaped for display."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.errors import NotFoundError
from layers.services.permissions import Access, allowed, scope_condition
from layers.services.permits import STATUS_ZH, get_permit
from vocabulary import today_in_shanghai

_BUILDER_PROJECTS = """
SELECT p.id, p.registration_code, p.name, p.kind, p.status, p.township, p.start_date,
       p.planned_completion_date, p.created_at,
       count(c.id) AS conflicts,
       count(c.id) FILTER (WHERE c.zone = 'protection') AS protection_conflicts,
       count(pm.id) FILTER (WHERE pm.status = 'approved') AS permits_approved,
       count(pm.id) FILTER (WHERE pm.status IN ('not_started', 'rejected', 'expired')) AS permits_open,
       count(pm.id) FILTER (WHERE pm.status = 'applied') AS permits_applied,
       min(pm.approved_until) FILTER (WHERE pm.status = 'approved') AS next_expiry,
       count(r.id) FILTER (WHERE r.decision IS NULL) AS replies_pending,
       min(r.due_on) FILTER (WHERE r.decision IS NULL) AS reply_due,
       a.number AS answer_number, a.valid_until AS answer_valid_until
FROM construction_project p
LEFT JOIN pipeline_conflict c ON c.project_id = p.id AND c.closed_at IS NULL
LEFT JOIN permit pm ON pm.conflict_id = c.id
LEFT JOIN owner_review r ON r.conflict_id = c.id
LEFT JOIN answer_letter a ON a.project_id = p.id AND a.superseded_at IS NULL
WHERE p.deleted_at IS NULL AND p.organisation = :org
GROUP BY p.id, a.id ORDER BY p.created_at DESC, p.id DESC LIMIT 500
"""


def _plain(row) -> dict:
    out = {}
    for key, value in dict(row).items():
        out[key] = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
    return out


def _permit_state(row: dict) -> str:
    if not row["conflicts"]:
        return "无需办理（无冲突）"
    if row["permits_approved"] == row["conflicts"]:
        return "已全部批准"
    if row["permits_applied"]:
        return f"审批中（{row['permits_applied']} 项）"
    return f"待办理（{row['permits_open']} 项）"


def builder_projects(session: Session, organisation: str | None) -> list[dict]:
    """Return a builder organisation's live projects with conflict and permit figures."""
    rows = session.execute(text(_BUILDER_PROJECTS), {"org": organisation or ""}).mappings().all()
    out = []
    for row in rows:
        item = _plain(row)
        item["permit_state"] = _permit_state(item)
        out.append(item)
    return out


def office_todo(session: Session, *, days: int = 30) -> dict:
    """Return what the gas office has to act on: counts and the first few of each."""
    today = today_in_shanghai()
    params = {"today": today, "until": today + dt.timedelta(days=days)}
    new_alerts = session.execute(text(
        "SELECT a.id, a.message, a.zone, a.created_at, p.id AS project_id, p.registration_code, p.name "
        "FROM alert a JOIN construction_project p ON p.id = a.project_id "
        "WHERE a.status = 'new' ORDER BY a.id DESC LIMIT 10")).mappings().all()
    counts = session.execute(text(
        "SELECT (SELECT count(*) FROM alert WHERE status = 'new') AS new_alerts, "
        "(SELECT count(*) FROM alert WHERE status = 'acknowledged') AS acknowledged_alerts, "
        "(SELECT count(*) FROM permit pm JOIN pipeline_conflict c ON c.id = pm.conflict_id "
        " WHERE c.closed_at IS NULL AND pm.status = 'applied') AS permits_applied, "
        "(SELECT count(*) FROM permit pm JOIN pipeline_conflict c ON c.id = pm.conflict_id "
        " WHERE c.closed_at IS NULL AND pm.status = 'approved' "
        " AND pm.approved_until BETWEEN :today AND :until) AS permits_expiring"), params).mappings().one()
    expiring = session.execute(text(
        "SELECT pm.id, pm.approved_until, p.id AS project_id, p.registration_code, p.name, "
        "g.external_code AS pipeline_code FROM permit pm "
        "JOIN pipeline_conflict c ON c.id = pm.conflict_id AND c.closed_at IS NULL "
        "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id "
        "WHERE pm.status = 'approved' AND pm.approved_until BETWEEN :today AND :until "
        "ORDER BY pm.approved_until, pm.id LIMIT 10"), params).mappings().all()
    unpermitted = session.execute(text(
        "SELECT p.id AS project_id, p.registration_code, p.name, p.township, "
        "count(*) AS conflicts FROM construction_project p "
        "JOIN pipeline_conflict c ON c.project_id = p.id AND c.closed_at IS NULL "
        "JOIN permit pm ON pm.conflict_id = c.id "
        "WHERE p.deleted_at IS NULL AND p.status = 'under_construction' "
        "AND pm.status NOT IN ('approved', 'not_required') "
        "GROUP BY p.id ORDER BY p.registration_code LIMIT 20")).mappings().all()
    unpermitted_total = session.execute(text(
        "SELECT count(DISTINCT p.id) FROM construction_project p "
        "JOIN pipeline_conflict c ON c.project_id = p.id AND c.closed_at IS NULL "
        "JOIN permit pm ON pm.conflict_id = c.id "
        "WHERE p.deleted_at IS NULL AND p.status = 'under_construction' "
        "AND pm.status NOT IN ('approved', 'not_required')")).scalar_one()
    procedure = office_procedure_todo(session, today)
    return {
        "counts": {**dict(counts), "unpermitted_projects": int(unpermitted_total),
                   **procedure.pop("counts")},
        "new_alerts": [_plain(r) for r in new_alerts],
        "expiring": [_plain(r) for r in expiring],
        "unpermitted": [_plain(r) for r in unpermitted],
        **procedure,
        "days": days,
    }


def office_procedure_todo(session: Session, today: dt.date) -> dict:
    """Owner replies past their deadline and damage reports not yet acknowledged (oldest first)."""
    overdue = session.execute(text(
        "SELECT r.conflict_id, r.owner, r.due_on, p.id AS project_id, p.registration_code, p.name, "
        "g.external_code AS pipeline_code, c.zone FROM owner_review r "
        "JOIN pipeline_conflict c ON c.id = r.conflict_id AND c.closed_at IS NULL "
        "JOIN construction_project p ON p.id = c.project_id AND p.deleted_at IS NULL "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id "
        "WHERE r.decision IS NULL AND r.due_on < :today ORDER BY r.due_on, r.id LIMIT 10"),
        {"today": today}).mappings().all()
    overdue_total = session.execute(text(
        "SELECT count(*) FROM owner_review r JOIN pipeline_conflict c ON c.id = r.conflict_id "
        "AND c.closed_at IS NULL JOIN construction_project p ON p.id = c.project_id "
        "AND p.deleted_at IS NULL WHERE r.decision IS NULL AND r.due_on < :today"),
        {"today": today}).scalar_one()
    damage = session.execute(text(
        "SELECT d.id, d.reported_at, d.reported_by, d.occurred_at, d.description, d.project_id, "
        "p.registration_code, p.name, g.external_code AS pipeline_code, g.owner, "
        "CAST(extract(epoch FROM now() - d.reported_at) AS float8) AS seconds_waiting "
        "FROM damage_report d LEFT JOIN construction_project p ON p.id = d.project_id "
        "LEFT JOIN gas_pipeline g ON g.id = d.pipeline_id "
        "WHERE d.acknowledged_at IS NULL ORDER BY d.reported_at, d.id LIMIT 10")).mappings().all()
    damage_total = session.execute(text(
        "SELECT count(*) FROM damage_report WHERE acknowledged_at IS NULL")).scalar_one()
    return {"counts": {"overdue_replies": int(overdue_total), "unacknowledged_damage": int(damage_total)},
            "overdue_replies": [_plain(r) for r in overdue],
            "unacknowledged_damage": [_plain(r) for r in damage]}


_PROJECT = """
SELECT p.id, p.registration_code, p.name, p.kind, p.status, p.township, p.builder, p.contractor,
       p.organisation, p.start_date, p.planned_completion_date, p.created_at,
       ST_AsGeoJSON(p.geom, 7) AS geometry
FROM construction_project p
WHERE p.id = :id AND p.deleted_at IS NULL AND {scope}
"""
_CONFLICTS = """
SELECT c.id, c.zone, round(c.distance_m::numeric, 2)::float AS distance_m, c.pressure_class,
       c.outer_diameter_mm, c.protection_range_m, c.control_range_m, c.required_action, c.rule_set,
       c.first_detected_at, g.id AS pipeline_feature_id, g.external_code AS pipeline_code,
       g.name AS pipeline_name, g.owner, pm.id AS permit_id, pm.status AS permit_status,
       pm.approved_until, a.id AS alert_id, a.status AS alert_status,
       ST_AsGeoJSON(c.nearest_line, 7) AS nearest_line,
       ST_AsGeoJSON(ST_Transform(ST_Intersection(g.geom_m, ST_Buffer(p.geom_m, 60, 8)), 4490), 7) AS pipe
FROM pipeline_conflict c
JOIN construction_project p ON p.id = c.project_id
JOIN gas_pipeline g ON g.id = c.pipeline_id
LEFT JOIN permit pm ON pm.conflict_id = c.id
LEFT JOIN alert a ON a.conflict_id = c.id
WHERE c.project_id = :id AND c.closed_at IS NULL AND {scope}
ORDER BY c.distance_m, c.id
"""


def project_page(session: Session, project_id: int, access: Access) -> dict:
    """Return a project ``access`` reaches with its open conflicts, permits and their history.

    ``permit_next`` lists the next permit states that are legal now and that the actor
    is granted (the permission table's ``permit.to.<state>``).
    """
    scope, binds = scope_condition(access, project="p")
    row = session.execute(text(_PROJECT.format(scope=scope)),
                          {"id": project_id, **binds}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"项目 {project_id} 不存在")
    project = _plain(row)
    project["geometry"] = json.loads(project["geometry"])
    conflicts = []
    # A pipeline owner sees only the conflicts on its own pipelines (the grant's pipeline scope).
    pipes, pipe_binds = scope_condition(access, project="p", pipeline="g")
    for c in session.execute(text(_CONFLICTS.format(scope=pipes)),
                             {"id": project_id, **pipe_binds}).mappings().all():
        item = _plain(c)
        for key in ("nearest_line", "pipe"):
            item[key] = json.loads(item[key]) if item[key] else None
        item["permit_status_zh"] = STATUS_ZH.get(item["permit_status"] or "", "")
        if item["permit_id"] is not None:
            permit = get_permit(session, item["permit_id"], access)
            item["permit_next"] = [s for s in permit["allowed_next"]
                                   if allowed(access.actor, f"permit.to.{s}")]
            item["permit_history"] = [_plain(h) for h in permit["history"]]
            item["permit_reference"] = permit["reference"]
            item["permit_reason"] = permit["reason"]
        conflicts.append(item)
    project["conflicts"] = conflicts
    return project
