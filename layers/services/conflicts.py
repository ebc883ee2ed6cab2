"""Conflicts as the API lists them: zone, distance from the outer wall, pipeline, project."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.permissions import Access, scope_condition


def list_conflicts(
    session: Session,
    access: Access,
    *,
    zone: str | None = None,
    township: str | None = None,
    include_closed: bool = False,
    limit: int = 500,
    offset: int = 0,
) -> list[dict]:
    """Return the conflicts ``access`` reaches (open ones unless ``include_closed``), by id."""
    scope, scope_params = scope_condition(access, pipeline="g")
    rows = session.execute(
        text(
            "SELECT c.id, p.id AS project_feature_id, p.registration_code AS project_code, "
            "p.name AS project_name, p.township, g.id AS pipeline_feature_id, "
            "g.external_code AS pipeline_code, c.zone, round(c.distance_m::numeric, 2)::float AS "
            "distance_m, c.pressure_class, c.rule_set, c.found_under, c.prohibited_activities, "
            "c.plan_required_activities, c.required_action, c.first_detected_at, "
            "c.closed_at, pm.status AS permit_status FROM pipeline_conflict c "
            "JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id LEFT JOIN permit pm ON pm.conflict_id = c.id "
            "WHERE (:closed OR c.closed_at IS NULL) AND (CAST(:zone AS text) IS NULL OR c.zone = :zone) "
            f"AND (CAST(:tw AS text) IS NULL OR p.township = :tw) AND {scope} "
            "ORDER BY c.id LIMIT :limit OFFSET :offset"
        ),
        {"closed": include_closed, "zone": zone, "tw": township, "limit": limit,
         "offset": offset, **scope_params},
    ).mappings().all()
    return [dict(r) for r in rows]
