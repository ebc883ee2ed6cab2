"""Plausible features only: vertex limits per role, site area and extent limits, review holds.

Issue 12: a builder registered the whole district as its "site" and so saw the whole
network (pipeline visibility follows the builder's sites) and raised 1,407 alerts. Now:

- every feature written through the API has at most ``max_vertices`` vertices (lower
  for builders), and an import at most ``max_import_vertices`` in all;
- a construction site larger than ``max_area_m2`` or wider than ``max_extent_m`` (east-
  west or north-south) is refused, naming the limit and the setting that raises it;
- a builder's site beyond the review thresholds is stored but *held*: a
  ``project_review`` row in state ``pending`` keeps it out of screening (no conflicts,
  alerts or permits, no sight of the network) until the gas office releases it.

Areas and extents are measured on the local plane: degrees scaled by the metres of a
degree at the site's latitude (under 0.5 % off across the district; thresholds, not
surveys), a few microseconds on the hot path of every creation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from layers.io.errors import FeatureProblem, InputFileError
from layers.services.errors import InvalidRequestError

M_PER_DEG_LAT = 111_320.0
ROLE_ZH = {"builder": "建设单位", "gas_office": "燃气管理所", "inspector": "检查人员", "admin": "管理员"}


@dataclass(frozen=True)
class SiteLimits:
    """The limits of one writer (built from the settings and the writer's role)."""

    role: str
    max_vertices: int
    max_import_vertices: int
    max_area_m2: float
    max_extent_m: float
    review_area_m2: float
    review_extent_m: float
    hold_large_sites: bool  # builders' large sites wait for the gas office


def limits_for(settings, role: str) -> SiteLimits:
    """Return the limits of ``role`` from the settings (``gisapp.settings.Settings``)."""
    builder = role == "builder"
    return SiteLimits(
        role=role,
        max_vertices=settings.builder_max_feature_vertices if builder else settings.max_feature_vertices,
        max_import_vertices=(settings.builder_max_import_vertices if builder
                             else settings.max_import_vertices),
        max_area_m2=settings.site_max_area_m2,
        max_extent_m=settings.site_max_extent_m,
        review_area_m2=settings.site_review_area_m2,
        review_extent_m=settings.site_review_extent_m,
        hold_large_sites=builder,
    )


def measure(geometry) -> tuple[float, float]:
    """Return (area m², largest east-west or north-south extent m) of a lon/lat geometry."""
    x0, y0, x1, y1 = geometry.bounds
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians((y0 + y1) / 2))
    extent = max((x1 - x0) * m_per_deg_lon, (y1 - y0) * M_PER_DEG_LAT)
    return geometry.area * m_per_deg_lon * M_PER_DEG_LAT, extent


def _area_text(m2: float) -> str:
    return f"{m2 / 1e6:,.2f} 平方千米" if m2 >= 1e6 else f"{m2:,.0f} 平方米"


def check_vertices(geometry, limits: SiteLimits | None, what: str = "要素") -> None:
    """Refuse a feature with more vertices than the writer's role may send."""
    if limits is None:
        return
    count = int(shapely.get_num_coordinates(geometry))
    if count > limits.max_vertices:
        raise InvalidRequestError(
            f"字段 geometry：{what}的顶点数为 {count:,}，超过{ROLE_ZH.get(limits.role, limits.role)}"
            f"每个要素 {limits.max_vertices:,} 个顶点的上限，请简化几何后重试")


def site_problem(area_m2: float, extent_m: float, limits: SiteLimits) -> str | None:
    """Return why a site is refused outright (beyond the hard limits), else None."""
    if area_m2 > limits.max_area_m2:
        return (f"施工范围面积 {_area_text(area_m2)}，超过上限 {_area_text(limits.max_area_m2)}"
                "（设置项 GISAPP_SITE_MAX_AREA_M2），请只登记实际施工范围")
    if extent_m > limits.max_extent_m:
        return (f"施工范围跨度 {extent_m:,.0f} 米，超过上限 {limits.max_extent_m:,.0f} 米"
                "（设置项 GISAPP_SITE_MAX_EXTENT_M），请分段登记")
    return None


def hold_reason(area_m2: float, extent_m: float, limits: SiteLimits) -> str | None:
    """Return why a builder's site waits for the gas office's review, else None."""
    if not limits.hold_large_sites:
        return None
    if area_m2 > limits.review_area_m2:
        return (f"施工范围面积 {_area_text(area_m2)} 超过 {_area_text(limits.review_area_m2)}"
                "（设置项 GISAPP_SITE_REVIEW_AREA_M2）")
    if extent_m > limits.review_extent_m:
        return (f"施工范围跨度 {extent_m:,.0f} 米超过 {limits.review_extent_m:,.0f} 米"
                "（设置项 GISAPP_SITE_REVIEW_EXTENT_M）")
    return None


def check_site(geometry, limits: SiteLimits | None) -> tuple[float, float, str | None]:
    """Check one site: refuse it (422) or return (area, extent, hold reason or None)."""
    area, extent = measure(geometry)
    if limits is None:
        return area, extent, None
    problem = site_problem(area, extent, limits)
    if problem is not None:
        raise InvalidRequestError(f"字段 geometry：{problem}")
    return area, extent, hold_reason(area, extent, limits)


def check_import(frame, kind: str, id_field: str, limits: SiteLimits | None,
                 name: str | None = None) -> list[tuple[str, float, float, str]]:
    """Check an import's vertices (and sites); return (code, area, extent, reason) to hold.

    Raises ``InputFileError`` naming every refused feature (nothing is stored).
    """
    if limits is None or len(frame) == 0:
        return []
    geoms = np.asarray(frame.geometry.values, dtype=object)
    codes = [str(c) for c in frame[id_field].tolist()]
    counts = shapely.get_num_coordinates(geoms)
    problems = [
        FeatureProblem(i + 1, codes[i], "geometry",
                       f"顶点数 {int(n):,} 超过每个要素 {limits.max_vertices:,} 个的上限")
        for i, n in enumerate(counts) if n > limits.max_vertices
    ]
    total = int(counts.sum())
    if total > limits.max_import_vertices:
        problems.append(FeatureProblem(
            None, None, "geometry",
            f"文件共有 {total:,} 个顶点，超过{ROLE_ZH.get(limits.role, limits.role)}单次导入 "
            f"{limits.max_import_vertices:,} 个顶点的上限，请分批导入"))
    held: list[tuple[str, float, float, str]] = []
    if kind == "projects":
        for i, geom in enumerate(geoms):
            area, extent = measure(geom)
            problem = site_problem(area, extent, limits)
            if problem is not None:
                problems.append(FeatureProblem(i + 1, codes[i], "geometry", problem))
                continue
            reason = hold_reason(area, extent, limits)
            if reason is not None:
                held.append((codes[i], area, extent, reason))
    if problems:
        raise InputFileError(name, problems)
    return held


def hold_projects(session: Session, holds: list[tuple[int, float, float, str]], actor) -> list[str]:
    """Hold these (project id, area, extent, reason) for review: pending, out of screening.

    A project held again after an edit or a replace (its site grew beyond the
    thresholds) loses its current answer at once: returns the withdrawn answer numbers.
    """
    from layers.services.answers import withdraw_answers

    if not holds:
        return []
    session.execute(
        text("INSERT INTO project_review (project_id, state, area_m2, extent_m, reason, requested_by) "
             "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:states AS text[]), "
             "CAST(:areas AS float8[]), CAST(:extents AS float8[]), CAST(:reasons AS text[]), "
             "CAST(:who AS text[])) "
             "ON CONFLICT (project_id) DO UPDATE SET state = 'pending', area_m2 = EXCLUDED.area_m2, "
             "extent_m = EXCLUDED.extent_m, reason = EXCLUDED.reason, requested_at = now(), "
             "requested_by = EXCLUDED.requested_by, decided_at = NULL, decided_by = NULL, note = NULL"),
        {"ids": [h[0] for h in holds], "states": ["pending"] * len(holds),
         "areas": [h[1] for h in holds], "extents": [h[2] for h in holds],
         "reasons": [h[3] for h in holds],
         "who": [getattr(actor, "username", None)] * len(holds)},
    )
    return withdraw_answers(session, [h[0] for h in holds])


def clear_hold(session: Session, project_id: int) -> None:
    """A builder's site now within the thresholds is screened like any other."""
    session.execute(text("DELETE FROM project_review WHERE project_id = :id AND state <> 'released'"),
                    {"id": project_id})


def review_state(session: Session, project_id: int) -> str | None:
    """The project's review state (pending, released, rejected), None when never held."""
    return session.execute(text("SELECT state FROM project_review WHERE project_id = :id"),
                           {"id": project_id}).scalar_one_or_none()


def is_held(session: Session, project_id: int) -> bool:
    """Whether the site waits for (or was refused by) the gas office's review: not screened."""
    return session.execute(
        text("SELECT 1 FROM project_review WHERE project_id = :id AND state <> 'released'"),
        {"id": project_id}).first() is not None
