"""``/api/conflicts``: current conflicts with zone, distance, pipeline and project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import text

from gisapp.api.deps import CurrentUser, SessionDep
from layers.services.errors import PermissionDeniedError

router = APIRouter(prefix="/api/conflicts", tags=["conflicts"])


@router.get("")
def list_conflicts(
    session: SessionDep, user: CurrentUser,
    zone: Annotated[str | None, Query(pattern="^(protection|control)$")] = None,
    township: Annotated[str | None, Query(max_length=64)] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """当前冲突（项目进入管道保护/控制范围），含距离、管道与项目；建设单位只见本单位项目。"""
    if user.role == "admin":
        raise PermissionDeniedError("角色 admin 无权查看冲突")
    org = user.organisation if user.role == "builder" else None
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
            "AND (CAST(:tw AS text) IS NULL OR p.township = :tw) "
            "AND (CAST(:org AS text) IS NULL OR p.organisation = :org) "
            "ORDER BY c.id LIMIT :limit OFFSET :offset"
        ),
        {"closed": include_closed, "zone": zone, "tw": township, "org": org, "limit": limit,
         "offset": offset},
    ).mappings().all()
    return {"conflicts": [dict(r) for r in rows]}
