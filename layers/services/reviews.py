"""The gas office's review of large construction sites held out of screening.

A builder's site beyond the review thresholds (``layers.services.site_limits``) is
stored with a ``project_review`` row in state ``pending``: screening skips it, so it
raises no conflicts, alerts or permits and shows its builder no pipelines. The gas
office then *releases* it (it is screened at once, in the same transaction, with its
alerts) or *rejects* it (it stays stored, unscreened; the builder may redraw it).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services.audit import record
from layers.services.errors import ConflictStateError, InvalidRequestError, NotFoundError
from layers.services.features import WriteContext, get_feature, screen_and_alert

STATES = ("pending", "released", "rejected")
_SELECT = (
    "SELECT r.project_id, p.registration_code AS project_code, p.name AS project_name, "
    "p.organisation, r.state, round(r.area_m2::numeric, 1)::float AS area_m2, "
    "round(r.extent_m::numeric, 1)::float AS extent_m, r.reason, r.requested_at, r.requested_by, "
    "r.decided_at, r.decided_by, r.note FROM project_review r "
    "JOIN construction_project p ON p.id = r.project_id WHERE p.deleted_at IS NULL"
)


def list_reviews(session: Session, state: str | None = "pending", limit: int = 100,
                 offset: int = 0) -> list[dict]:
    """Return the reviews in ``state`` (all when None), oldest request first."""
    if state is not None and state not in STATES:
        raise InvalidRequestError(f"参数 state：未知状态“{state}”（可用：{'、'.join(STATES)}）")
    rows = session.execute(
        text(_SELECT + " AND (CAST(:state AS text) IS NULL OR r.state = :state) "
             "ORDER BY r.requested_at, r.project_id LIMIT :limit OFFSET :offset"),
        {"state": state, "limit": limit, "offset": offset},
    ).mappings().all()
    return [dict(r) for r in rows]


def get_review(session: Session, project_id: int, organisation: str | None = None,
               *, lock: bool = False) -> dict:
    """Return one project's review (a builder only its own), else ``NotFoundError``."""
    row = session.execute(
        text(_SELECT + " AND r.project_id = :id "
             "AND (CAST(:org AS text) IS NULL OR p.organisation = :org)"
             + (" FOR UPDATE OF r" if lock else "")),
        {"id": project_id, "org": organisation},
    ).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"项目 {project_id} 没有待审核或已审核的施工范围")
    return dict(row)


def decide(session: Session, project_id: int, decision: str, note: str | None,
           ctx: WriteContext) -> dict:
    """Release (screen now, with alerts) or reject a held site; return the review and conflicts."""
    if decision not in ("release", "reject"):
        raise InvalidRequestError("字段 decision：应为 release（通过）或 reject（退回）")
    review = get_review(session, project_id, lock=True)
    if review["state"] != "pending":
        raise ConflictStateError(
            f"项目 {review['project_code']} 的审核状态为“{review['state']}”，不是待审核，不能再次处理")
    state = "released" if decision == "release" else "rejected"
    session.execute(
        text("UPDATE project_review SET state = :s, decided_at = now(), decided_by = :who, "
             "note = :note WHERE project_id = :id"),
        {"s": state, "who": getattr(ctx.actor, "username", None), "note": note, "id": project_id},
    )
    new_conflicts = screen_and_alert(session, "projects", [project_id], ctx) if state == "released" else []
    record(session, ctx.actor, f"project.review_{decision}", "construction_project", project_id,
           {"note": note, "new_conflicts": len(new_conflicts)})
    out = get_review(session, project_id)
    out["conflicts"] = get_feature(session, "projects", project_id)["properties"]["conflicts"]
    return out
