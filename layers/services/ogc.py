"""OGC API – Features (Parts 1 and 2) over the stored layers: collections, items, CRS.

What desktop GIS (QGIS, GDAL's OAPIF driver) reads: projects, pipelines, open conflicts,
townships, and each pipeline's protection and control bands as polygons. Full geometry
(never simplified), the same visibility as the API (``layers.services.features``: a
builder sees its own projects and only the pipelines whose ranges can reach its sites),
keyset paging on the feature id so the 300th page of 300,000 pipelines costs what the
first does (OFFSET would read and drop every earlier row). PostgreSQL writes each
feature's GeoJSON; this module joins the texts.

Coordinates go out in the requested CRS in that CRS's axis order (Part 2): CRS84 is
lon/lat, EPSG:4490 lat/lon, the Gauss-Krüger CRSs northing/easting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from pyproj import CRS

from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.services.actors import Actor
from layers.services.errors import NotFoundError, PermissionDeniedError, QueryParameterError
from layers.services.features import scope_sql
from layers.services.permissions import EVERYTHING, Access, allowed, authorize, denial, scope_condition
from spatial_rules.crs import METRIC_SRID, STORAGE_EPSG
from spatial_rules.rulesets import RuleSet

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
# CGCS2000 lon/lat, WGS 84, and CGCS2000 3-degree Gauss-Krüger: CM 120E and 123E without
# the zone prefix (4549, 4550), zones 40 and 41 with it (4528, 4529). Chongming straddles
# the 121.5E zone edge, so both zones are offered.
EPSG_CODES = (4490, 4326, 4549, 4550, 4528, 4529)
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
# CGCS2000 equals WGS 84 within centimetres (the storage convention, spatial_rules.crs).
_SAME_AS_STORAGE = {4326, 4490}


@dataclass(frozen=True)
class OutputCrs:
    """One CRS the service answers in: its URI, PostGIS SRID, axis order and precision."""

    uri: str
    srid: int
    northing_first: bool
    digits: int
    label: str


@lru_cache(maxsize=1)
def supported_crs() -> dict[str, OutputCrs]:
    """Return the supported CRSs by URI (also reachable as ``EPSG:n``, see ``parse_crs``)."""
    found = {CRS84: OutputCrs(CRS84, STORAGE_EPSG, False, 9, "CRS84（经度, 纬度）")}
    for code in EPSG_CODES:
        crs = CRS.from_epsg(code)
        first = crs.axis_info[0].direction.lower()
        geographic = crs.is_geographic
        found[EPSG_URI.format(code=code)] = OutputCrs(
            EPSG_URI.format(code=code), code, first in ("north", "south"),
            9 if geographic else 4, f"EPSG:{code} {crs.name}",
        )
    return found


def parse_crs(value: str | None, parameter: str) -> OutputCrs:
    """Return the CRS named by a ``crs`` or ``bbox-crs`` value (URI, ``EPSG:n`` or ``[EPSG:n]``)."""
    if value is None:
        return supported_crs()[CRS84]
    name = value.strip().strip("<>[]")
    if name.upper().startswith("EPSG:"):
        name = EPSG_URI.format(code=name[5:])
    elif name.upper() in ("CRS84", "OGC:CRS84"):
        name = CRS84
    name = name.replace("https://", "http://")
    found = supported_crs().get(name)
    if found is None:
        raise QueryParameterError(
            f"参数 {parameter}：不支持的坐标系“{value}”（可用：CRS84、"
            + "、".join(f"EPSG:{c}" for c in EPSG_CODES) + "）"
        )
    return found


def parse_bbox(value: str, bbox_crs: OutputCrs) -> tuple[float, float, float, float]:
    """Return ``minx, miny, maxx, maxy`` (x = easting/longitude) from a bbox in its CRS's axis order."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError as exc:
        raise QueryParameterError("参数 bbox：应为逗号分隔的四个数") from exc
    if len(numbers) != 4 or any(n != n or abs(n) == float("inf") for n in numbers):
        raise QueryParameterError("参数 bbox：应为逗号分隔的四个数（下界两轴，上界两轴）")
    a0, b0, a1, b1 = numbers
    x0, y0, x1, y1 = (b0, a0, b1, a1) if bbox_crs.northing_first else (a0, b0, a1, b1)
    if x0 > x1 or y0 > y1:
        order = "北向, 东向" if bbox_crs.northing_first else "东向/经度, 北向/纬度"
        raise QueryParameterError(f"参数 bbox：下界大于上界（按 {bbox_crs.label} 的轴序：{order}）")
    if bbox_crs.srid in _SAME_AS_STORAGE and not (x0 >= -180 and x1 <= 180 and y0 >= -90 and y1 <= 90):
        raise QueryParameterError(f"参数 bbox：超出经纬度范围（坐标系 {bbox_crs.label}）")
    return x0, y0, x1, y1


@dataclass(frozen=True)
class Viewer:
    """Who reads (``layers.services.actors.Actor``) and how far the ranges reach (metres)."""

    actor: Actor
    reach_m: float
    near_cap: int | None = None  # at most this many pipelines near a builder's sites


Visibility = Callable[[Access, Viewer], tuple[str, dict]]


def _all_rows(access: Access, _viewer: Viewer) -> tuple[str, dict]:
    if access.scope not in EVERYTHING:  # a scope this layer cannot narrow: refused
        raise PermissionDeniedError(denial(access.actor, access.action))
    return "", {}


@dataclass(frozen=True)
class CollectionSpec:
    """One collection: its rows, the geometry, the properties and who may read it.

    ``action``: what the permission table must grant (``layers.services.permissions``);
    ``visibility`` narrows the rows to the grant's scope, as the API does.
    """

    id: str
    title: str
    description: str
    geometry_type: str
    table: str  # FROM clause, aliased ``t``
    id_expr: str
    geom_expr: str  # CGCS2000 lon/lat (4490)
    bbox_expr: str  # indexed lon/lat geometry to test against a bbox (&&), may be grown
    properties: dict[str, str]  # name -> SQL expression
    queryables: tuple[str, ...]
    action: str
    base_where: tuple[str, ...] = ()
    visibility: Visibility = _all_rows


def _projects_in_scope(access: Access, viewer: Viewer) -> tuple[str, dict]:
    return scope_sql("projects", access, viewer.reach_m, "t")


def _pipelines_in_scope(access: Access, viewer: Viewer) -> tuple[str, dict]:
    return scope_sql("pipelines", access, viewer.reach_m, "t", viewer.near_cap)


def _conflicts_in_scope(access: Access, _viewer: Viewer) -> tuple[str, dict]:
    return scope_condition(access, project="p", pipeline="g")


_PIPELINE_PROPS = {
    "external_code": "t.external_code", "name": "t.name", "owner": "t.owner",
    "pressure_class": "t.pressure_class", "design_pressure_mpa": "t.design_pressure_mpa",
    "outer_diameter_mm": "t.outer_diameter_mm", "material": "t.material", "status": "t.status",
}
# The rule set's ranges per pressure class, joined as a VALUES list bound at query time.
_RANGES = ("JOIN unnest(CAST(:cls AS text[]), CAST(:prot AS float8[]), CAST(:ctrl AS float8[])) "
           "AS r(pressure_class, protection_m, control_m) ON r.pressure_class = t.pressure_class")
_INNER = "ST_Buffer(t.geom_m, r.protection_m + t.outer_diameter_mm / 2000.0)"
_OUTER = "ST_Buffer(t.geom_m, r.control_m + t.outer_diameter_mm / 2000.0)"
_BAND_PROPS = {
    "external_code": "t.external_code", "pressure_class": "t.pressure_class",
    "outer_diameter_mm": "t.outer_diameter_mm", "protection_range_m": "r.protection_m",
    "control_range_m": "r.control_m", "rule_set": "CAST(:rule_set AS text)",
}
# ~60 m in degrees at 31.6 N: a band reaches at most control + half the widest pipe.
_BAND_GROW_DEG = 0.0008


def _band(zone: str, title: str, description: str) -> CollectionSpec:
    geom = _INNER if zone == "protection" else f"ST_Difference({_OUTER}, {_INNER})"
    return CollectionSpec(
        id=f"{zone}_bands", title=title, description=description, geometry_type="MultiPolygon",
        table=f"gas_pipeline t {_RANGES}", id_expr="t.id",
        geom_expr=f"ST_Multi(ST_Transform({geom}, {STORAGE_EPSG}))",
        bbox_expr=f"ST_Expand(t.geom, {_BAND_GROW_DEG})",
        properties={**_BAND_PROPS, "zone": f"CAST('{zone}' AS text)"},
        queryables=("external_code", "pressure_class"), action="pipeline.read",
        base_where=("t.deleted_at IS NULL", "t.status <> ALL(CAST(:unscreened AS text[]))"),
        visibility=_pipelines_in_scope,
    )


COLLECTIONS: dict[str, CollectionSpec] = {c.id: c for c in (
    CollectionSpec(
        id="projects", title="施工项目", description="施工项目及其红线（施工范围）",
        geometry_type="MultiPolygon", table="construction_project t", id_expr="t.id",
        geom_expr="t.geom", bbox_expr="t.geom",
        properties={
            "registration_code": "t.registration_code", "name": "t.name", "kind": "t.kind",
            "builder": "t.builder", "contractor": "t.contractor", "supervisor": "t.supervisor",
            "organisation": "t.organisation", "township": "t.township",
            "start_date": "t.start_date", "planned_completion_date": "t.planned_completion_date",
            "status": "t.status", "hazardous": "t.hazardous", "insured": "t.insured",
            "under_supervision": "t.under_supervision",
        },
        queryables=("registration_code", "kind", "township", "status", "organisation"),
        action="project.read", base_where=("t.deleted_at IS NULL",), visibility=_projects_in_scope,
    ),
    CollectionSpec(
        id="pipelines", title="燃气管道", description="燃气管道中心线（压力级制、外径、权属单位）",
        geometry_type="MultiLineString", table="gas_pipeline t", id_expr="t.id",
        geom_expr="t.geom", bbox_expr="t.geom", properties=_PIPELINE_PROPS,
        queryables=("external_code", "owner", "pressure_class", "material", "status"),
        action="pipeline.read", base_where=("t.deleted_at IS NULL",), visibility=_pipelines_in_scope,
    ),
    CollectionSpec(
        id="conflicts", title="冲突",
        description="当前冲突：施工项目进入管道保护/控制范围（项目到管道的最短连线）",
        geometry_type="LineString",
        table="pipeline_conflict t JOIN construction_project p ON p.id = t.project_id "
              "JOIN gas_pipeline g ON g.id = t.pipeline_id LEFT JOIN permit pm ON pm.conflict_id = t.id",
        id_expr="t.id", geom_expr="t.nearest_line", bbox_expr="t.nearest_line",
        properties={
            "project_code": "p.registration_code", "project_name": "p.name", "township": "p.township",
            "pipeline_code": "g.external_code", "zone": "t.zone",
            "distance_m": "round(t.distance_m::numeric, 2)::float", "pressure_class": "t.pressure_class",
            "rule_set": "t.rule_set", "required_action": "t.required_action",
            "permit_status": "pm.status", "first_detected_at": "t.first_detected_at",
        },
        queryables=("project_code", "pipeline_code", "zone", "township", "pressure_class", "permit_status"),
        action="conflict.read", base_where=("t.closed_at IS NULL", "t.nearest_line IS NOT NULL"),
        visibility=_conflicts_in_scope,
    ),
    CollectionSpec(
        id="townships", title="乡镇", description="乡镇范围（统计用）", geometry_type="MultiPolygon",
        table="township t", id_expr="t.id", geom_expr="t.geom", bbox_expr="t.geom",
        properties={"code": "t.code", "name": "t.name", "synthetic": "t.synthetic"},
        queryables=("code", "name"), action="township.read",
    ),
    _band("protection", "安全保护范围", "每条管道的安全保护范围（管壁外缘两侧，按当前规则集）"),
    _band("control", "安全控制范围", "每条管道的安全控制范围（保护范围之外至控制范围外缘）"),
)}

def readable_collections(viewer: Viewer) -> list[CollectionSpec]:
    """Return the collections the permission table lets ``viewer`` read, in a stable order."""
    return [c for c in COLLECTIONS.values() if allowed(viewer.actor, c.action)]


def collection(viewer: Viewer, collection_id: str) -> CollectionSpec:
    """Return one collection, or raise (404 unknown, 403 not granted by the permission table)."""
    spec = COLLECTIONS.get(collection_id)
    if spec is None:
        raise NotFoundError(f"图层 {collection_id} 不存在（可用：{'、'.join(COLLECTIONS)}）")
    authorize(viewer.actor, spec.action)
    return spec


def _access(viewer: Viewer, spec: CollectionSpec) -> Access:
    return authorize(viewer.actor, spec.action)


@dataclass
class ItemsQuery:
    """A parsed items request: paging, bbox (x = easting/lon, in ``bbox_crs``), filters, CRS."""

    limit: int = DEFAULT_LIMIT
    after_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: OutputCrs = field(default_factory=lambda: supported_crs()[CRS84])
    crs: OutputCrs = field(default_factory=lambda: supported_crs()[CRS84])
    filters: dict[str, str] = field(default_factory=dict)


@dataclass
class ItemsPage:
    """One page: the features as GeoJSON texts, the last id and whether more follow."""

    features: list[str]
    last_id: int | None
    more: bool
    number_matched: int | None


def _rule_params(rule_set: RuleSet) -> dict:
    ranges = rule_set.ranges_by_class
    return {
        "cls": [c.value for c in ranges], "prot": [r.protection_m for r in ranges.values()],
        "ctrl": [r.control_m for r in ranges.values()], "rule_set": rule_set.name,
        "unscreened": list(UNSCREENED_PIPELINE_STATUSES),
    }


def _where(
    spec: CollectionSpec, viewer: Viewer, query: ItemsQuery, rule_set: RuleSet
) -> tuple[list[str], dict]:
    where = list(spec.base_where)
    params = _rule_params(rule_set)
    clause, extra = spec.visibility(_access(viewer, spec), viewer)
    if clause and clause != "TRUE":
        where.append(clause)
        params.update(extra)
    for name, value in query.filters.items():
        where.append(f"CAST({spec.properties[name]} AS text) = :f_{name}")
        params[f"f_{name}"] = value
    if query.bbox is not None:
        envelope = "ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, :bsrid)"
        if query.bbox_crs.srid != STORAGE_EPSG:
            # A projected box is not a lon/lat box: its transformed outline, segmentised so
            # its edges stay true, is tested exactly after the index finds candidates.
            envelope = f"ST_Transform(ST_Segmentize({envelope}, 100), {STORAGE_EPSG})"
        where.append(f"{spec.bbox_expr} && {envelope} AND ST_Intersects({spec.geom_expr}, {envelope})")
        x0, y0, x1, y1 = query.bbox
        params.update(bx0=x0, by0=y0, bx1=x1, by1=y1, bsrid=query.bbox_crs.srid)
    return where, params


def _out_geometry(spec: CollectionSpec, crs: OutputCrs) -> str:
    geom = spec.geom_expr
    if crs.srid not in _SAME_AS_STORAGE:
        geom = f"ST_Transform({geom}, {crs.srid})"
    if crs.northing_first:
        geom = f"ST_FlipCoordinates({geom})"
    # Options 0: no "crs" member (RFC 7946 removed it; the CRS is in the Content-Crs header).
    return f"ST_AsGeoJSON({geom}, {crs.digits}, 0)::json"


def _feature_sql(spec: CollectionSpec, crs: OutputCrs) -> str:
    props = ", ".join(f"'{name}', {expr}" for name, expr in spec.properties.items())
    return (f"json_build_object('type', 'Feature', 'id', {spec.id_expr}, "
            f"'geometry', {_out_geometry(spec, crs)}, 'properties', json_build_object({props}))::text")


def _check_filters(spec: CollectionSpec, filters: dict[str, str]) -> None:
    for name in filters:
        if name not in spec.queryables:
            raise QueryParameterError(
                f"参数 {name}：图层 {spec.id} 不能按此属性过滤（可用：{'、'.join(spec.queryables)}）")


def items(session: Session, viewer: Viewer, collection_id: str, query: ItemsQuery,
          rule_set: RuleSet) -> ItemsPage:
    """Return one page of a collection's features in id order, after ``query.after_id``."""
    spec = collection(viewer, collection_id)
    _check_filters(spec, query.filters)
    where, params = _where(spec, viewer, query, rule_set)
    matched = None
    if query.after_id is None:  # counted once, on the first page (optional in the standard)
        matched = int(session.execute(
            text(f"SELECT count(*) FROM {spec.table} WHERE {' AND '.join(where) or 'true'}"), params,
        ).scalar_one())
    if query.after_id is not None:
        where.append(f"{spec.id_expr} > :after_id")
        params["after_id"] = query.after_id
    limit = max(1, min(int(query.limit), MAX_LIMIT))
    params["limit_plus"] = limit + 1
    # Ids first (the primary key's order, cheap), then each returned feature by its key:
    # GeoJSON and band polygons are built for the rows returned, never for rows skipped.
    sql = (f"WITH page AS MATERIALIZED (SELECT {spec.id_expr} AS fid FROM {spec.table} "
           f"WHERE {' AND '.join(where) or 'true'} ORDER BY {spec.id_expr} LIMIT :limit_plus) "
           f"SELECT page.fid, f.feature FROM page CROSS JOIN LATERAL ("
           f"SELECT {_feature_sql(spec, query.crs)} AS feature FROM {spec.table} "
           f"WHERE {spec.id_expr} = page.fid) f ORDER BY page.fid")
    rows = session.execute(text(sql), params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return ItemsPage([r.feature for r in rows], rows[-1].fid if rows else None, more, matched)


def item(session: Session, viewer: Viewer, collection_id: str, feature_id: int, crs: OutputCrs,
         rule_set: RuleSet) -> str:
    """Return one visible feature as GeoJSON text, or raise ``NotFoundError``."""
    spec = collection(viewer, collection_id)
    where, params = _where(spec, viewer, ItemsQuery(), rule_set)
    where.append(f"{spec.id_expr} = :fid")
    params["fid"] = feature_id
    found = session.execute(
        text(f"SELECT {_feature_sql(spec, crs)} FROM {spec.table} WHERE {' AND '.join(where)}"), params,
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"图层 {spec.id} 中要素 {feature_id} 不存在")
    return found


def spatial_extent(session: Session) -> list[float]:
    """Return the lon/lat box of everything stored (the district's when nothing is)."""
    box = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e "
        "FROM township) x")).one()
    if box[0] is None:
        return [121.1, 31.4, 122.3, 31.9]
    return [round(float(v), 6) for v in box]


__all__ = [
    "COLLECTIONS", "CRS84", "DEFAULT_LIMIT", "MAX_LIMIT", "METRIC_SRID", "ItemsPage", "ItemsQuery",
    "Viewer", "collection", "item", "items", "parse_bbox", "parse_crs", "readable_collections",
    "spatial_extent", "supported_crs",
]
