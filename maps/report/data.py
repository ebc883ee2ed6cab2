"""Read-only queries behind the report: geometries in the metric CRS and the raw figures.

Every figure is "as of" the end of the month's last day (Beijing time): a conflict
counts when it was first detected before the cut-off and not closed by then. Permits
are counted by their current state; project status and supervision flags are current
too (the tables keep no history of them), dated by the project's own dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry.base import BaseGeometry

from campaign.model import InspectionRecord, ProjectRecord
from layers.campaign_loaders import load_inspection_records, load_portfolio
from layers.district import district_boundary_metric
from layers.services.campaign_status import planned_picks
from maps.report.errors import ReportInputError
from maps.report.labels import PIPE_GROUP_OF, PIPE_GROUPS, whole_area
from maps.report.period import ReportPeriod
from spatial_rules.crs import METRIC_SRID
from vocabulary import NO_CONFLICT, worst_permit_state, worst_zone

# Simplification tolerances in metres: invisible at the scale each map is drawn.
DISTRICT_TOLERANCE_M = 25.0
TOWNSHIP_TOLERANCE_M = 5.0
# Around each conflict site, the static map shows this much beyond the control range.
CONFLICT_WINDOW_MARGIN_M = 40.0
MAJOR_GROUPS = ("high", "subhigh")

_TW = "(CAST(:tw AS text) IS NULL OR p.township = :tw)"
_RS = "(CAST(:rs AS text) IS NULL OR c.rule_set = :rs)"


@dataclass
class ReportData:
    """Everything the report draws and counts, geometries in metres (metric CRS)."""

    period: ReportPeriod
    township: str | None
    rule_set: str | None
    townships: list[tuple[str, BaseGeometry]]
    synthetic_townships: bool
    district: BaseGeometry
    focus: BaseGeometry  # the area the overview map frames: district or the township
    pipes: dict[str, list[BaseGeometry]]
    projects: pd.DataFrame  # code, name, township, state, zone, geom (site polygon)
    conflicts: pd.DataFrame  # one row per conflict open at the cut-off
    new_conflicts: pd.DataFrame  # conflicts first detected in the month (township, zone)
    closed_in_month: int
    alerts_in_month: int
    alerts_unhandled: int
    open_hazards: int
    supervision: pd.DataFrame  # township, active gas engineering projects, supervised
    campaign_projects: list[ProjectRecord] = field(default_factory=list)
    inspections: list[InspectionRecord] = field(default_factory=list)
    planned_picks: dict[int, int] = field(default_factory=dict)
    area: str = "全区"  # the word for the whole area: 全区 (a district) or 全市 (the city)


def known_townships(session: Session) -> list[str]:
    """Return the township names stored in the database, sorted by code."""
    return list(session.execute(text("SELECT name FROM township ORDER BY code")).scalars())


def check_township(session: Session, township: str | None) -> None:
    """Raise ``ReportInputError`` naming the known townships when ``township`` is not one."""
    if township is None:
        return
    names = known_townships(session)
    if township not in names:
        known = "、".join(names) if names else "（数据库中尚无乡镇边界，请先导入乡镇）"
        raise ReportInputError(f"乡镇“{township}”不存在。已知乡镇：{known}。")


def load_report_data(
    session: Session, period: ReportPeriod, township: str | None = None,
    rule_set: str | None = None,
    *,
    district: str | None = None,
) -> ReportData:
    """Query the report's figures and geometries for ``period`` (read-only).

    ``district``: a district user's adcode; the overview frames that district and the
    spot-check stages are its own plans (its rows reach the transaction alone).
    """
    check_township(session, township)
    params = {"tw": township, "rs": rule_set, "start": period.start, "cutoff": period.cutoff,
              "last_day": period.last_day}
    townships, synthetic = _townships(session, township)
    boundary = district_boundary_metric(district)
    focus = townships[0][1] if township else boundary
    return ReportData(
        period=period,
        township=township,
        rule_set=rule_set,
        townships=townships,
        synthetic_townships=synthetic,
        district=boundary,
        focus=focus,
        area=whole_area(district),
        pipes=_pipes(session, township),
        projects=_projects(session, params),
        conflicts=_open_conflicts(session, params),
        new_conflicts=_new_conflicts(session, params),
        closed_in_month=_scalar(
            session,
            "SELECT count(*) FROM pipeline_conflict c JOIN construction_project p "
            f"ON p.id = c.project_id WHERE {_TW} AND {_RS} AND c.closed_at >= :start "
            "AND c.closed_at < :cutoff AND c.first_detected_at < :start",
            params,
        ),
        alerts_in_month=_scalar(
            session,
            "SELECT count(*) FROM alert a JOIN pipeline_conflict c ON c.id = a.conflict_id "
            f"JOIN construction_project p ON p.id = a.project_id WHERE {_TW} AND {_RS} "
            "AND a.created_at >= :start AND a.created_at < :cutoff",
            params,
        ),
        alerts_unhandled=_scalar(
            session,
            "SELECT count(*) FROM alert a JOIN pipeline_conflict c ON c.id = a.conflict_id "
            f"JOIN construction_project p ON p.id = a.project_id WHERE {_TW} AND {_RS} "
            "AND a.created_at < :cutoff AND a.status = 'new'",
            params,
        ),
        open_hazards=_scalar(
            session,
            "SELECT count(*) FROM hazard h JOIN inspection i ON i.id = h.inspection_id "
            f"JOIN construction_project p ON p.id = i.project_id WHERE {_TW} "
            "AND i.inspected_on <= :last_day AND (h.rectification_state = 'open' "
            "OR h.rectified_at >= :cutoff)",
            params,
        ),
        supervision=_supervision(session, params),
        **_campaign(session, period, township),
    )


def _campaign(session: Session, period: ReportPeriod, township: str | None) -> dict:
    """The campaign's projects and inspections at the month end, loaded as everywhere else."""
    portfolio = load_portfolio(session, year=period.year, on=period.last_day, township=township)
    return {
        "campaign_projects": list(portfolio.projects),
        "inspections": load_inspection_records(session, portfolio, on=period.last_day),
        "planned_picks": planned_picks(session, period.year, township=township),
    }


def _scalar(session: Session, sql: str, params: dict) -> int:
    return int(session.execute(text(sql), params).scalar_one())


def _geoms(values) -> list[BaseGeometry]:
    return list(shapely.from_wkb([bytes(v) for v in values])) if len(values) else []


def _townships(session: Session, township: str | None) -> tuple[list[tuple[str, BaseGeometry]], bool]:
    tolerance = TOWNSHIP_TOLERANCE_M if township else DISTRICT_TOLERANCE_M
    rows = session.execute(
        text(
            "SELECT name, synthetic, ST_AsBinary(ST_SimplifyPreserveTopology("
            f"ST_Transform(geom, {METRIC_SRID}), :tol)) FROM township "
            "WHERE CAST(:tw AS text) IS NULL OR name = :tw ORDER BY code"
        ),
        {"tw": township, "tol": tolerance},
    ).all()
    geoms = _geoms([r[2] for r in rows])
    return [(r[0], g) for r, g in zip(rows, geoms, strict=True)], any(r[1] for r in rows)


def _pipes(session: Session, township: str | None) -> dict[str, list[BaseGeometry]]:
    """Return live pipelines by pressure group: high and sub-high always, all in a township."""
    groups = [g for g in PIPE_GROUPS if township or g in MAJOR_GROUPS]
    classes = [cls.value for g in groups for cls in PIPE_GROUPS[g]]
    tolerance = TOWNSHIP_TOLERANCE_M if township else DISTRICT_TOLERANCE_M
    rows = session.execute(
        text(
            "SELECT g.pressure_class, ST_AsBinary(ST_Simplify(g.geom_m, :tol)) FROM gas_pipeline g "
            "WHERE g.deleted_at IS NULL AND g.status <> 'abandoned' "
            "AND g.pressure_class = ANY(:classes) AND (CAST(:tw AS text) IS NULL OR EXISTS ("
            "SELECT 1 FROM township t WHERE t.name = :tw AND ST_Intersects(t.geom, g.geom)))"
        ),
        {"tol": tolerance, "classes": classes, "tw": township},
    ).all()
    pipes: dict[str, list[BaseGeometry]] = {g: [] for g in groups}
    for (pressure_class, _), geom in zip(rows, _geoms([r[1] for r in rows]), strict=True):
        pipes[PIPE_GROUP_OF[pressure_class]].append(geom)
    return pipes


def _projects(session: Session, params: dict) -> pd.DataFrame:
    """Return the sites to draw: live projects not completed by the month end, with conflicts."""
    rows = session.execute(
        text(
            "SELECT p.id, p.registration_code AS code, p.name, p.township, "
            "ST_AsBinary(p.geom_m) AS wkb, "
            "array_remove(array_agg(DISTINCT c.zone), NULL) AS zones, "
            "array_remove(array_agg(DISTINCT coalesce(pm.status, 'not_started')) "
            "FILTER (WHERE c.id IS NOT NULL), NULL) AS permits "
            "FROM construction_project p "
            "LEFT JOIN pipeline_conflict c ON c.project_id = p.id AND c.first_detected_at < :cutoff "
            f"AND (c.closed_at IS NULL OR c.closed_at >= :cutoff) AND {_RS} "
            "LEFT JOIN permit pm ON pm.conflict_id = c.id "
            f"WHERE {_TW} AND (c.id IS NOT NULL OR (p.deleted_at IS NULL "
            "AND p.status IN ('planned', 'under_construction', 'suspended'))) "
            "GROUP BY p.id ORDER BY p.id"
        ),
        params,
    ).mappings().all()
    records = []
    for row, geom in zip(rows, _geoms([r["wkb"] for r in rows]), strict=True):
        permits = set(row["permits"] or [])
        zones = set(row["zones"] or [])
        worst_state = worst_permit_state(permits)
        state = worst_state.value if worst_state else NO_CONFLICT
        worst = worst_zone(zones)
        zone = worst.value if worst else None
        records.append({"id": row["id"], "code": row["code"], "name": row["name"],
                        "township": row["township"], "state": state, "zone": zone,
                        "geom": geom})
    return pd.DataFrame.from_records(
        records, columns=["id", "code", "name", "township", "state", "zone", "geom"]
    )


def _open_conflicts(session: Session, params: dict) -> pd.DataFrame:
    rows = session.execute(
        text(
            "SELECT c.id, p.id AS project_id, p.registration_code AS project_code, "
            "p.organisation AS project_organisation, p.name AS project_name, "
            "p.township, g.external_code AS pipeline_code, c.pressure_class, c.zone, "
            "c.distance_m, c.protection_range_m, c.control_range_m, c.outer_diameter_mm, "
            "coalesce(pm.status, 'not_started') AS permit_status, c.first_detected_at, c.rule_set, "
            "c.prohibited_activities, c.plan_required_activities, "
            "ST_AsBinary(p.geom_m) AS site_wkb, "
            "ST_AsBinary(ST_Intersection(g.geom_m, ST_Expand(p.geom_m, "
            "c.control_range_m + c.outer_diameter_mm / 2000.0 + :margin))) AS pipe_wkb, "
            f"ST_AsBinary(ST_Transform(c.nearest_line, {METRIC_SRID})) AS line_wkb "
            "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "LEFT JOIN permit pm ON pm.conflict_id = c.id "
            f"WHERE {_TW} AND {_RS} AND c.first_detected_at < :cutoff "
            "AND (c.closed_at IS NULL OR c.closed_at >= :cutoff) "
            "ORDER BY CASE c.zone WHEN 'protection' THEN 0 ELSE 1 END, c.distance_m, c.id"
        ),
        {**params, "margin": CONFLICT_WINDOW_MARGIN_M},
    ).mappings().all()
    frame = pd.DataFrame.from_records([dict(r) for r in rows], columns=[
        "id", "project_id", "project_code", "project_organisation", "project_name", "township",
        "pipeline_code", "pressure_class",
        "zone", "distance_m", "protection_range_m", "control_range_m", "outer_diameter_mm",
        "permit_status", "first_detected_at", "rule_set", "prohibited_activities",
        "plan_required_activities", "site_wkb", "pipe_wkb", "line_wkb",
    ])
    for column, name in (("site_wkb", "site"), ("pipe_wkb", "pipe")):
        frame[name] = pd.Series(_geoms(frame[column].tolist()) if len(frame) else [],
                                index=frame.index, dtype=object)
    frame["line"] = pd.Series(
        [shapely.from_wkb(bytes(v)) if v is not None else None for v in frame["line_wkb"]],
        index=frame.index, dtype=object,
    )
    return frame.drop(columns=["site_wkb", "pipe_wkb", "line_wkb"])


def _new_conflicts(session: Session, params: dict) -> pd.DataFrame:
    rows = session.execute(
        text(
            "SELECT p.township, c.zone FROM pipeline_conflict c "
            "JOIN construction_project p ON p.id = c.project_id "
            f"WHERE {_TW} AND {_RS} AND c.first_detected_at >= :start "
            "AND c.first_detected_at < :cutoff"
        ),
        params,
    ).all()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=["township", "zone"])


# Under construction at the month end, judged from the project's dates and current status.
_ACTIVE = (
    "p.deleted_at IS NULL AND p.status <> 'planned' "
    "AND coalesce(p.start_date, :last_day) <= :last_day "
    "AND (p.status <> 'completed' OR coalesce(p.planned_completion_date, p.start_date) > :last_day)"
)


def _supervision(session: Session, params: dict) -> pd.DataFrame:
    rows = session.execute(
        text(
            "SELECT p.township, count(*) AS active, count(*) FILTER (WHERE p.under_supervision "
            "AND coalesce(p.supervised_since, :last_day) <= :last_day) AS supervised "
            f"FROM construction_project p WHERE {_TW} AND p.kind = 'gas_engineering' AND {_ACTIVE} "
            "GROUP BY p.township"
        ),
        params,
    ).all()
    return pd.DataFrame.from_records(
        [tuple(r) for r in rows], columns=["township", "active", "supervised"]
    )
