"""Read-only PostGIS queries behind the map pages: bbox GeoJSON by zoom, figures, details.

Maps read the database and never write. GeoJSON is assembled by PostgreSQL (one text
per feature, joined here), so a city-size viewport never goes through Python objects.
Every bbox query uses the GiST index on ``geom`` (CGCS2000 lon/lat, EPSG:4490), simplifies
by the zoom's pixel size and stops at a row limit; the answer says when it was truncated.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from campaign.settings import CampaignSettings
from layers.db import serial
from layers.screening_db import UNSCREENED_PIPELINE_STATUSES
from layers.services.campaign_status import stage_coverage
from layers.services.districts import SEEN_DISTRICT
from layers.services.errors import InvalidRequestError
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import RuleSet
from vocabulary import NO_CONFLICT, PERMIT_SEVERITY, ZONE_ORDER, today_in_shanghai

# Below this zoom only sub-high, high and ultra-high pipelines are sent.
PIPELINE_ALL_CLASSES_ZOOM = 14
# Protection/control bands are drawn from this zoom on (a 0.7 m band is invisible below).
RANGE_MIN_ZOOM = 15
# Below this zoom a project is sent as one point on its site, not its polygon.
PROJECT_POLYGON_ZOOM = 13
# At this zoom and below a map view holds (nearly) the whole jurisdiction (sites as points).
WIDE_VIEW_ZOOM = 10
PIPELINE_LIMIT = 6000
RANGE_LIMIT = 1500
PROJECT_LIMIT = 5000
SEARCH_LIMIT = 20
MAJOR_CLASSES = ("subhigh_b", "subhigh_a", "high_b", "high_a", "ultra_high")
# Highest pressure first, so a truncated answer drops the low-pressure network first.
CLASS_ORDER = [c.value for c in reversed(PressureClass)]
VIEWS = ("permits", "supervision", "inspections")
MAX_ZOOM = 22
# Chongming's latitude, for metres per pixel of Web Mercator.
REFERENCE_LAT = 31.6


@dataclass(frozen=True)
class BBox:
    """A lon/lat box in CGCS2000 (EPSG:4490), degrees."""

    west: float
    south: float
    east: float
    north: float

    def params(self) -> dict:
        """Return the box as SQL parameters w, s, e, n."""
        return {"w": self.west, "s": self.south, "e": self.east, "n": self.north}


def parse_bbox(value: str) -> BBox:
    """Parse ``west,south,east,north`` in degrees; raise InvalidRequestError naming field bbox."""
    parts = (value or "").split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise InvalidRequestError(
            f"参数 bbox“{value[:80]}”格式错误：应为“西经度,南纬度,东经度,北纬度”四个数字"
        ) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidRequestError("参数 bbox 含有非有限数值")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidRequestError(
            f"参数 bbox 范围无效：须满足 -180 ≤ 西 < 东 ≤ 180、-90 ≤ 南 < 北 ≤ 90（收到 {value[:80]}）"
        )
    return BBox(west, south, east, north)


def check_zoom(zoom: int) -> int:
    """Return ``zoom`` if it is a Web Mercator zoom level 0..22, else raise InvalidRequestError."""
    if not 0 <= int(zoom) <= MAX_ZOOM:
        raise InvalidRequestError(f"参数 zoom 须在 0 到 {MAX_ZOOM} 之间（收到 {zoom}）")
    return int(zoom)


def degrees_per_pixel(zoom: int) -> float:
    """Return the longitude span of one 256-px-tile pixel at ``zoom`` (degrees)."""
    return 360.0 / (256 * 2**zoom)


def metres_per_pixel(zoom: int, lat: float = REFERENCE_LAT) -> float:
    """Return the ground size of one Web Mercator pixel at ``zoom`` and latitude (metres)."""
    return 156_543.034 * math.cos(math.radians(lat)) / 2**zoom


def _digits(zoom: int) -> int:
    # Enough decimals for a tenth of a pixel, never more than 7 (1 cm).
    return max(3, min(7, math.ceil(-math.log10(degrees_per_pixel(zoom) / 10))))


def _collection(session: Session, sql: str, params: dict, limit: int, **extra) -> str:
    """Run ``sql`` (one ``feature`` text column, limit ``:limit_plus``) into a FeatureCollection."""
    rows = session.execute(text(sql), {**params, "limit_plus": limit + 1}).scalars().all()
    head = {"type": "FeatureCollection", "truncated": len(rows) > limit, **extra}
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [' + ",".join(rows[:limit]) + "]}"


_ENVELOPE = "ST_MakeEnvelope(:w, :s, :e, :n, 4490)"


def pipelines_geojson(session: Session, bbox: BBox, zoom: int, limit: int = PIPELINE_LIMIT) -> str:
    """Return the live pipelines in ``bbox`` as GeoJSON text, simplified to a pixel at ``zoom``."""
    zoom = check_zoom(zoom)
    all_classes = zoom >= PIPELINE_ALL_CLASSES_ZOOM
    sql = f"""
SELECT json_build_object('type', 'Feature', 'id', g.id,
  'geometry', ST_AsGeoJSON(ST_Simplify(g.geom, :tol, true), :digits, 0)::json,
  'properties', json_build_object('code', g.external_code, 'pressure_class', g.pressure_class,
                                  'dn', g.outer_diameter_mm, 'status', g.status))::text
FROM gas_pipeline g
WHERE g.deleted_at IS NULL AND g.geom && {_ENVELOPE}
  AND (:all_classes OR g.pressure_class = ANY(CAST(:major AS text[])))
ORDER BY array_position(CAST(:order AS text[]), CAST(g.pressure_class AS text)), g.id
LIMIT :limit_plus"""
    params = {**bbox.params(), "tol": degrees_per_pixel(zoom), "digits": _digits(zoom),
              "all_classes": all_classes, "major": list(MAJOR_CLASSES), "order": CLASS_ORDER}
    return _collection(session, sql, params, limit, zoom=zoom, all_classes=all_classes)


def ranges_geojson(
    session: Session, bbox: BBox, zoom: int, rule_set: RuleSet, zone: str, limit: int = RANGE_LIMIT
) -> str:
    """Return the protection or control band of each screened pipeline near ``bbox`` (GeoJSON text).

    Bands are buffers of ``geom_m`` (metres) by the rule set's range plus half the outer
    diameter, the control band minus the protection band; empty below RANGE_MIN_ZOOM.
    """
    zoom = check_zoom(zoom)
    if zone not in ("protection", "control"):
        raise InvalidRequestError(f"参数 zone 须为 protection 或 control（收到 {zone[:40]}）")
    if zoom < RANGE_MIN_ZOOM:
        return _empty(zoom=zoom, min_zoom=RANGE_MIN_ZOOM)
    ranges = rule_set.ranges_by_class
    inner = "ST_Buffer(g.geom_m, g.inner_m, 'quad_segs=4')"
    band = inner if zone == "protection" else (
        f"ST_Difference(ST_Buffer(g.geom_m, g.outer_m, 'quad_segs=4'), {inner})")
    sql = f"""
WITH r AS (
  SELECT * FROM unnest(CAST(:cls AS text[]), CAST(:prot AS float8[]), CAST(:ctrl AS float8[]))
    AS r(pressure_class, protection_m, control_m)),
g AS (
  SELECT g.id, g.external_code, g.pressure_class, g.geom_m,
    r.protection_m + g.outer_diameter_mm / 2000.0 AS inner_m,
    r.control_m + g.outer_diameter_mm / 2000.0 AS outer_m,
    r.protection_m, r.control_m
  FROM gas_pipeline g JOIN r ON r.pressure_class = g.pressure_class
  WHERE g.deleted_at IS NULL AND g.status <> ALL(CAST(:unscreened AS text[]))
    -- grown by the widest band (about 60 m) so bands reaching into the view are kept
    AND g.geom && ST_Expand({_ENVELOPE}, 0.0007)
  ORDER BY array_position(CAST(:order AS text[]), CAST(g.pressure_class AS text)), g.id
  LIMIT :limit_plus)
SELECT json_build_object('type', 'Feature', 'id', g.id,
  'geometry', ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology({band}, :tol_m), 4490),
                           :digits, 0)::json,
  'properties', json_build_object('code', g.external_code, 'pressure_class', g.pressure_class,
    'zone', CAST(:zone AS text), 'protection_m', g.protection_m, 'control_m', g.control_m))::text
FROM g"""
    params = {
        **bbox.params(), "zone": zone, "order": CLASS_ORDER,
        "cls": [c.value for c in ranges], "prot": [r.protection_m for r in ranges.values()],
        "ctrl": [r.control_m for r in ranges.values()],
        "unscreened": list(UNSCREENED_PIPELINE_STATUSES),
        "tol_m": metres_per_pixel(zoom) / 2, "digits": _digits(zoom),
    }
    return _collection(session, sql, params, limit, zoom=zoom)


def _empty(**extra) -> str:
    return json.dumps({"type": "FeatureCollection", "truncated": False, **extra, "features": []})


def _permit_state_sql(rank: str) -> str:
    """The permit state of a stored worst-permit rank column (``project_map_state.permit_rank``:
    1 = worst in the one permit severity order; NULL = no open conflict)."""
    return (f"CASE {rank} "
            + " ".join(f"WHEN {i} THEN '{s.value}'" for i, s in enumerate(PERMIT_SEVERITY, 1))
            + f" ELSE '{NO_CONFLICT}' END")


_PERMIT_STATE_SQL = _permit_state_sql("k.permit_rank")

# Per view: extra WHERE, joins, the state expression and the truncation order.
_VIEW_SQL = {
    "permits": (
        "",
        # Stored ahead of time by the database's triggers (migration 0022), not counted here:
        # working it out per request was 0.34-0.49 s at Shanghai size.
        "LEFT JOIN project_map_state k ON k.project_id = p.id",
        _PERMIT_STATE_SQL,
        "(coalesce(k.alerts_new, 0) > 0)",
        "(coalesce(k.alerts_new, 0) = 0), coalesce(k.permit_rank, 9)",
    ),
    "supervision": (
        "AND p.kind = 'gas_engineering' AND p.status = 'under_construction'",
        "",
        """CASE p.under_supervision WHEN true THEN 'supervised' WHEN false THEN 'not_supervised'
  ELSE 'unknown' END""",
        "false",
        "CASE p.under_supervision WHEN false THEN 1 WHEN true THEN 3 ELSE 2 END",
    ),
    "inspections": (
        "AND p.status = 'under_construction'",
        """LEFT JOIN (
  SELECT project_id, max(round_or_stage) FILTER (WHERE kind = 'spot') AS spot_stage,
    bool_or(kind = 'third_party') AS third_party,
    count(DISTINCT round_or_stage) FILTER (WHERE kind = 'self') AS self_rounds
  FROM inspection WHERE inspected_on BETWEEN :year_start AND :year_end
  GROUP BY project_id) i ON i.project_id = p.id
LEFT JOIN (
  SELECT DISTINCT k.project_id FROM spot_check_pick k JOIN spot_check_plan pl ON pl.id = k.plan_id
  WHERE pl.year = :year AND pl.district IS NOT DISTINCT FROM """ + SEEN_DISTRICT + """) sp
  ON sp.project_id = p.id""",
        """CASE WHEN i.spot_stage IS NOT NULL THEN 'spot_' || i.spot_stage
  WHEN sp.project_id IS NOT NULL THEN 'spot_planned' WHEN i.third_party THEN 'third_party'
  WHEN i.self_rounds >= 2 THEN 'self_2' WHEN i.self_rounds = 1 THEN 'self_1'
  ELSE 'not_covered' END""",
        "false",
        "(i.project_id IS NOT NULL OR sp.project_id IS NOT NULL)",
    ),
}


def check_view(view: str) -> str:
    """Return ``view`` if it names a map page (permits, supervision, inspections), else raise."""
    if view not in VIEWS:
        raise InvalidRequestError(f"参数 view 须为 {'、'.join(VIEWS)} 之一（收到 {str(view)[:40]}）")
    return view


def projects_geojson(
    session: Session, bbox: BBox, zoom: int, view: str, *, township: str | None = None,
    year: int | None = None, limit: int = PROJECT_LIMIT,
) -> str:
    """Return the live projects in ``bbox`` with the state of ``view`` (GeoJSON text).

    Below PROJECT_POLYGON_ZOOM each site is one point on its surface; above, its polygon
    simplified to a pixel. Properties: code, name, township, state, alert (new alert).
    """
    zoom = check_zoom(zoom)
    where, joins, state, alert, order = _VIEW_SQL[check_view(view)]
    geom = ("ST_PointOnSurface(p.geom)" if zoom < PROJECT_POLYGON_ZOOM
            else "ST_SimplifyPreserveTopology(p.geom, :tol)")
    sql = _wide_permits_sql() if view == "permits" and zoom <= WIDE_VIEW_ZOOM else f"""
SELECT json_build_object('type', 'Feature', 'id', p.id,
  'geometry', ST_AsGeoJSON({geom}, :digits, 0)::json,
  'properties', json_build_object('code', p.registration_code, 'name', p.name,
    'township', p.township, 'state', {state}, 'alert', {alert}))::text
FROM construction_project p {joins}
WHERE p.deleted_at IS NULL AND p.geom && {_ENVELOPE}
  AND (CAST(:township AS text) IS NULL OR p.township = :township) {where}
ORDER BY {order}, p.id
LIMIT :limit_plus"""
    year = year or this_year()
    serial(session)
    params = {**bbox.params(), "tol": degrees_per_pixel(zoom), "digits": _digits(zoom),
              "township": township or None, "year": year,
              "year_start": dt.date(year, 1, 1), "year_end": dt.date(year, 12, 31)}
    return _collection(session, sql, params, limit, zoom=zoom, view=view,
                       points=zoom < PROJECT_POLYGON_ZOOM)


# The sites that can come first on the permits map: an open conflict or a new alert (the
# predicate of migration 0025's index, which holds them in the map's order).
_PERMITS_HEAD = "k.alerts_new > 0 OR k.permit_rank IS NOT NULL"


def _wide_permits_sql() -> str:
    """The permits view of a wide map: the same rows and order as ``_VIEW_SQL["permits"]``.

    Ordering every site's stored state took 0.13 s of a zoom-9 view of Shanghai (100,000
    sites); here the worst come from migration 0025's index and the rest by id, each
    branch at most ``:limit_plus`` rows, and only those are ordered (25 ms). For a
    smaller view the plain query is the faster (its sites come from the spatial index):
    at zoom 11-12 this one took 74 ms against 47.
    """
    columns = "p.id, p.registration_code, p.name, p.township, p.geom, k.alerts_new, k.permit_rank"
    filters = (f"p.deleted_at IS NULL AND p.geom && {_ENVELOPE} "
               "AND (CAST(:township AS text) IS NULL OR p.township = :township)")
    return f"""
SELECT json_build_object('type', 'Feature', 'id', u.id,
  'geometry', ST_AsGeoJSON(ST_PointOnSurface(u.geom), :digits, 0)::json,
  'properties', json_build_object('code', u.registration_code, 'name', u.name,
    'township', u.township, 'state', {_permit_state_sql("u.permit_rank")},
    'alert', (coalesce(u.alerts_new, 0) > 0)))::text
FROM (
  (SELECT {columns} FROM project_map_state k JOIN construction_project p ON p.id = k.project_id
   WHERE ({_PERMITS_HEAD}) AND {filters}
   ORDER BY (k.alerts_new = 0), k.permit_rank, k.project_id LIMIT :limit_plus)
  UNION ALL
  (SELECT {columns} FROM construction_project p LEFT JOIN project_map_state k ON k.project_id = p.id
   WHERE NOT coalesce({_PERMITS_HEAD}, false) AND {filters}
   ORDER BY p.id LIMIT :limit_plus)) u
ORDER BY (coalesce(u.alerts_new, 0) = 0), coalesce(u.permit_rank, 9), u.id
LIMIT :limit_plus"""


def this_year() -> int:
    """Return the current year in Shanghai (the campaign year by default)."""
    return today_in_shanghai().year



def search_projects(session: Session, query: str, limit: int = SEARCH_LIMIT) -> list[dict]:
    """Return live projects whose code or name contains ``query``, with their lon/lat bounds."""
    query = (query or "").strip()[:100]
    if not query:
        return []
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(text("""
SELECT p.id, p.registration_code AS code, p.name, p.township,
  ST_XMin(p.geom) AS west, ST_YMin(p.geom) AS south, ST_XMax(p.geom) AS east, ST_YMax(p.geom) AS north
FROM construction_project p
WHERE p.deleted_at IS NULL AND (p.registration_code ILIKE :pattern OR p.name ILIKE :pattern)
ORDER BY (p.registration_code ILIKE :exact) DESC, p.registration_code LIMIT :limit"""),
        {"pattern": pattern, "exact": query, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def townships_geojson(session: Session, tolerance_deg: float = 0.0003) -> dict:
    """Return every township (the workbench's bearings and its township choices), with codes.

    Simplified to ``tolerance_deg`` with 5 decimals (1 m); a township without an area keeps
    its name (a choice in a list) with a null geometry's bounds.
    """
    return township_features(session, tolerance_deg=tolerance_deg, decimals=5, codes=True,
                             drawable_only=False)


def township_version(session: Session) -> str:
    """Return a short token that changes whenever a township row is added, changed or removed.

    Each row's ``xmin`` (the transaction that wrote its version) joined over the ~200 rows:
    cheap, and the township areas' ETag follows every import of townships.
    """
    return str(session.execute(text(
        "SELECT md5(coalesce(string_agg(id || ':' || xmin::text, ',' ORDER BY id), '')) FROM township"
    )).scalar_one())[:16]


def township_areas(session: Session, district: str | None, tolerance_deg: float = 0.0004) -> dict:
    """Return the township areas a map page draws and filters by (GeoJSON dict, CGCS2000 lon/lat).

    ``district``: the viewer's district adcode (only the townships lying in it), None: all
    of the jurisdiction's. Simplified to ``tolerance_deg`` (about 40 m: a boundary line
    under the map's data, never a measure) with 4 decimals (11 m); only townships with an
    area (nothing else to draw nor to zoom to); each feature has its name and bounds (the
    township filter zooms to them).
    """
    return township_features(session, district=district, tolerance_deg=tolerance_deg, decimals=4,
                             codes=False, drawable_only=True)


def township_features(session: Session, *, tolerance_deg: float, decimals: int, codes: bool,
                      drawable_only: bool, district: str | None = None) -> dict:
    """Return township areas as a GeoJSON dict (CGCS2000 lon/lat), in code order.

    The one query behind the workbench's townships and the map pages' township areas.
    Each feature has its ``name`` and ``bounds`` ([[south, west], [north, east]], 5
    decimals; null for a township without an area), and its ``code`` when ``codes``.
    ``tolerance_deg`` and ``decimals``: the simplification and the coordinates' precision.
    ``drawable_only``: leave out townships without an area. ``district``: only the
    townships lying in that district (adcode); None, all of them.
    """
    rows = session.execute(text("""
SELECT t.code, t.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(t.geom, :tol), :decimals, 0) AS geometry,
  ST_XMin(t.geom) AS west, ST_YMin(t.geom) AS south, ST_XMax(t.geom) AS east, ST_YMax(t.geom) AS north
FROM township t
WHERE (NOT :drawable_only OR NOT ST_IsEmpty(t.geom))
  AND (CAST(:district AS text) IS NULL OR gisapp_ref.district_of(t.geom) = :district)
ORDER BY t.code"""), {"tol": tolerance_deg, "decimals": decimals, "drawable_only": drawable_only,
                      "district": district}).mappings().all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r["geometry"]),
         "properties": {**({"code": r["code"]} if codes else {}), "name": r["name"],
                        "bounds": _bounds(r)}}
        for r in rows]}


def _bounds(row) -> list[list[float | None]]:
    """Return a row's west/south/east/north as Leaflet bounds, 5 decimals (1 m); None stays None."""
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 5)

    return [[rounded(row["south"]), rounded(row["west"])], [rounded(row["north"]), rounded(row["east"])]]


def supervision_by_township(session: Session) -> list[dict]:
    """Return per township: gas engineering projects under construction and how many are supervised."""
    rows = session.execute(text("""
SELECT t.code, t.name, count(p.id) AS total,
  count(p.id) FILTER (WHERE p.under_supervision) AS supervised,
  ST_AsGeoJSON(ST_SimplifyPreserveTopology(t.geom, 0.0003), 5, 0) AS geometry
FROM township t LEFT JOIN construction_project p ON p.township = t.name AND p.deleted_at IS NULL
  AND p.kind = 'gas_engineering' AND p.status = 'under_construction'
GROUP BY t.id ORDER BY t.code""")).mappings().all()
    return [dict(r) for r in rows]


def inspection_coverage(session: Session, campaign: CampaignSettings, on: dt.date) -> dict:
    """Return the campaign year's spot-check coverage per stage on ``on``, and year totals.

    The stages are counted by ``layers.services.campaign_status.stage_coverage``, as
    ``/api/campaign/status`` and the monthly report count them.
    """
    year = campaign.year
    span = {"year": year, "y0": dt.date(year, 1, 1), "y1": dt.date(year, 12, 31)}
    stages = []
    for coverage in stage_coverage(session, campaign, on):
        p = coverage.progress
        stages.append({"stage": p.stage.number, "label": p.stage.label,
                       "candidates": p.candidates, "picked": coverage.picked,
                       "checked": p.checked, "quota_needed": p.quota_needed,
                       "rate": p.checked / p.candidates if p.candidates else None,
                       "met": bool(p.candidates) and p.checked >= p.quota_needed})
    totals = session.execute(text("""
WITH i AS (SELECT project_id,
    bool_or(kind = 'self' AND round_or_stage = 1) AS r1, bool_or(kind = 'self' AND round_or_stage = 2) AS r2,
    bool_or(kind = 'third_party') AS third, bool_or(kind = 'spot') AS spot
  FROM inspection WHERE inspected_on BETWEEN :y0 AND :y1 GROUP BY project_id)
SELECT count(*) AS projects, count(*) FILTER (WHERE i.r1) AS self_round_1,
  count(*) FILTER (WHERE i.r2) AS self_round_2, count(*) FILTER (WHERE p.insured) AS insured,
  count(*) FILTER (WHERE p.insured AND i.third) AS third_party_done,
  count(*) FILTER (WHERE i.spot) AS spot_covered
FROM construction_project p LEFT JOIN i ON i.project_id = p.id
WHERE p.deleted_at IS NULL AND p.status = 'under_construction'"""), span).mappings().one()
    return {"year": year, "quota": campaign.spot_check_quota, "stages": stages, **totals}


_STATE_SUMS = ", ".join(
    [f"sum(conflicts_{z.value}) AS conflicts_{z.value}, "
     f"count(*) FILTER (WHERE conflicts_{z.value} > 0) AS projects_{z.value}" for z in ZONE_ORDER]
    + [f"sum(permits_{s.value}) AS permits_{s.value}" for s in PERMIT_SEVERITY]
    + ["sum(alerts_new) AS alerts_new"])


def dashboard_figures(session: Session) -> dict:
    """Return the headline figures: pipeline km by class, projects, open conflicts, permits, alerts."""
    serial(session)
    pipes = session.execute(text("""
SELECT pressure_class, count(*) AS segments, sum(ST_Length(geom_m)) / 1000.0 AS km
FROM gas_pipeline WHERE deleted_at IS NULL GROUP BY pressure_class
ORDER BY array_position(CAST(:order AS text[]), CAST(pressure_class AS text))"""),
        {"order": CLASS_ORDER}).mappings().all()
    projects = session.execute(text(
        "SELECT status, count(*) AS n FROM construction_project WHERE deleted_at IS NULL "
        "GROUP BY status ORDER BY status")).mappings().all()
    # Open conflicts per zone and per permit state, and new alerts: one pass over the
    # per-project counts the database keeps (migration 0022), not three scans of the
    # conflicts, permits and alerts (about 1 s at Shanghai size).
    counts = session.execute(text(f"SELECT {_STATE_SUMS} FROM project_map_state")).mappings().one()
    conflicts = [{"zone": z.value, "n": int(counts[f"conflicts_{z.value}"]),
                  "projects": int(counts[f"projects_{z.value}"])}
                 for z in ZONE_ORDER if counts[f"conflicts_{z.value}"]]
    permits = [{"status": s, "n": int(counts[f"permits_{s}"])}
               for s in sorted(p.value for p in PERMIT_SEVERITY) if counts[f"permits_{s}"]]
    alerts_new = counts["alerts_new"] or 0
    return {
        "pipelines": [dict(r) for r in pipes],
        "projects": [dict(r) for r in projects],
        "conflicts": conflicts,
        "permits": permits,
        "alerts_new": int(alerts_new),
    }


def project_detail(session: Session, project_id: int, year: int | None = None) -> dict | None:
    """Return one live project with its open conflicts, permit history, new alerts and inspections."""
    project = session.execute(text("""
SELECT id, registration_code AS code, name, kind, builder, contractor, supervisor, organisation,
  township, status, under_supervision, supervised_since, insured
FROM construction_project WHERE id = :id AND deleted_at IS NULL"""), {"id": project_id}).mappings().first()
    if project is None:
        return None
    conflicts = session.execute(text("""
SELECT c.id AS conflict_id, g.external_code AS pipeline_code, c.pressure_class, c.zone,
  round(c.distance_m::numeric, 2)::float AS distance_m, c.rule_set, c.prohibited_activities,
  c.plan_required_activities, pm.id AS permit_id,
  coalesce(pm.status, 'not_started') AS permit_status, pm.reference, pm.approved_until
FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id
LEFT JOIN permit pm ON pm.conflict_id = c.id
WHERE c.project_id = :id AND c.closed_at IS NULL ORDER BY c.distance_m, g.external_code"""),
        {"id": project_id}).mappings().all()
    permit_ids = [c["permit_id"] for c in conflicts if c["permit_id"] is not None]
    events = session.execute(text("""
SELECT e.permit_id, e.at, e.username, e.from_status, e.to_status, e.reference, e.note
FROM permit_event e WHERE e.permit_id = ANY(CAST(:ids AS bigint[])) ORDER BY e.at, e.id"""),
        {"ids": permit_ids}).mappings().all()
    alerts_new = session.execute(text(
        "SELECT count(*) FROM alert WHERE project_id = :id AND status = 'new'"),
        {"id": project_id}).scalar_one()
    year = year or this_year()
    inspections = session.execute(text("""
SELECT kind, round_or_stage, inspected_on, organisation FROM inspection
WHERE project_id = :id AND inspected_on BETWEEN :y0 AND :y1 ORDER BY inspected_on, id"""),
        {"id": project_id, "y0": dt.date(year, 1, 1), "y1": dt.date(year, 12, 31)}).mappings().all()
    picks = session.execute(text("""
SELECT pl.stage, k.reason FROM spot_check_pick k JOIN spot_check_plan pl ON pl.id = k.plan_id
WHERE k.project_id = :id AND pl.year = :year
  AND pl.district IS NOT DISTINCT FROM """ + SEEN_DISTRICT + """ ORDER BY pl.stage"""),
        {"id": project_id, "year": year}).mappings().all()
    return {**project, "conflicts": [dict(c) for c in conflicts], "permit_events": [dict(e) for e in events],
            "alerts_new": int(alerts_new), "inspections": [dict(i) for i in inspections],
            "spot_picks": [dict(p) for p in picks], "year": year}
