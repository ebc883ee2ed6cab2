"""Mapbox vector tiles of the pipeline network, built by PostGIS (``ST_AsMVT``).

Whole-feature GeoJSON stops scaling at Shanghai size (700,000 segments): a viewport
moves megabytes and the browser parses them. A tile is clipped to its square, its
lines snapped to a 4096-unit grid and simplified to a pixel of its zoom, so its size
follows what is visible, not the network. The rows a user reaches are the same as
through the API: the caller's ``Access`` is turned into SQL by
``layers.services.features.scope_sql`` (a builder: pipelines near its own sites, capped;
a pipeline owner: its own network), and row-level security keeps a district user in
its district (the session's ``gisapp.district``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import serial
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.features import scope_sql
from layers.services.overview import CELL_DEG
from layers.services.permissions import Access, Scope
from spatial_rules.pressure import PressureClass

# The layers a tile can carry (the route's {layer}).
TILE_LAYERS = ("pipelines",)
MAX_TILE_ZOOM = 22
# Below this zoom only sub-high, high and ultra-high pipelines are in a tile (as the
# GeoJSON map data: maps.layers_data.PIPELINE_ALL_CLASSES_ZOOM).
ALL_CLASSES_ZOOM = 14
MAJOR_CLASSES = ("subhigh_b", "subhigh_a", "high_b", "high_a", "ultra_high")
CLASS_ORDER = tuple(c.value for c in reversed(PressureClass))  # highest pressure first
EXTENT = 4096  # tile units per side (the MVT default)
BUFFER = 64  # units drawn beyond the edge, so lines join across tiles
# At most this many features in one tile, highest pressure first: a low-zoom tile of the
# whole city stays small; the low-pressure network comes with zoom.
TILE_FEATURE_LIMIT = 20_000
# The tile's square (``merc``, Web Mercator) and, grown by its buffer (``:margin``), the
# lon/lat box its rows are found by (``lonlat``): the head of every tile query.
_TILE_BOX = """WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS merc),
box AS (SELECT merc, ST_Transform(ST_Expand(merc, :margin), 4490) AS lonlat FROM b)"""
# Web Mercator: the world is 2 * 20037508.34 m wide at zoom 0.
_WORLD_M = 2 * 20_037_508.342789244


def check_tile(layer: str, z: int, x: int, y: int) -> tuple[str, int, int, int]:
    """Return the tile address if it exists, else raise naming the wrong part (Chinese)."""
    if layer not in TILE_LAYERS:
        raise NotFoundError(f"矢量瓦片图层“{str(layer)[:40]}”不存在（可用：{'、'.join(TILE_LAYERS)}）")
    if not 0 <= z <= MAX_TILE_ZOOM:
        raise InvalidRequestError(f"瓦片缩放级别 z 须在 0 到 {MAX_TILE_ZOOM} 之间（收到 {z}）")
    top = 2**z - 1
    if not 0 <= x <= top:
        raise InvalidRequestError(f"瓦片列号 x 在缩放级别 {z} 须在 0 到 {top} 之间（收到 {x}）")
    if not 0 <= y <= top:
        raise InvalidRequestError(f"瓦片行号 y 在缩放级别 {z} 须在 0 到 {top} 之间（收到 {y}）")
    return layer, z, x, y


def pipeline_tile(session: Session, z: int, x: int, y: int, access: Access | None, *,
                  near_m: float | None = None, near_cap: int | None = None,
                  limit: int = TILE_FEATURE_LIMIT) -> bytes:
    """Return the ``pipelines`` vector tile z/x/y (MVT bytes; empty when nothing is there).

    From ALL_CLASSES_ZOOM on each feature has ``code``, ``pressure_class``, ``dn`` and
    ``status``; below it ``pressure_class`` only (and its id). Below it, who sees the whole
    network (of its district) gets the mains merged (``_overview_tile``).

    ``access``: whose tile (None: everything, an internal read); ``near_m`` and
    ``near_cap``: the builders' reach and cap, as the pipeline API's.
    """
    check_tile("pipelines", z, x, y)
    if z < ALL_CLASSES_ZOOM and (access is None or access.scope is Scope.ALL):
        return _overview_tile(session, z, x, y, access, limit)
    scope, scope_params = scope_sql("pipelines", access, near_m, "g", near_cap)
    # Below ALL_CLASSES_ZOOM a tile carries each main's id and class only: the codes are
    # unique strings, more than half a low-zoom tile's bytes (Shanghai, z 9: 347 KB with
    # them, 153 KB without); a click there looks the one pipeline up by its id.
    details = ("g.external_code AS code, CAST(g.pressure_class AS text) AS pressure_class, "
               "g.outer_diameter_mm AS dn, CAST(g.status AS text) AS status"
               if z >= ALL_CLASSES_ZOOM else "CAST(g.pressure_class AS text) AS pressure_class")
    sql = f"""
{_TILE_BOX},
t AS (
  SELECT g.id, {details}, {_mvt_geom("g.geom")}
  FROM gas_pipeline g, box
  WHERE g.deleted_at IS NULL AND g.geom && box.lonlat
    AND (:all_classes OR g.pressure_class = ANY(CAST(:major AS text[])))
    AND {scope}
  ORDER BY array_position(CAST(:order AS text[]), CAST(g.pressure_class AS text)), g.id
  LIMIT :limit)
SELECT coalesce(ST_AsMVT(t, 'pipelines', {EXTENT}, 'geom', 'id'), '') FROM t
WHERE t.geom IS NOT NULL"""
    serial(session)  # a page asks for its tiles at once: workers would share the same cores
    params = {"z": z, "x": x, "y": y, "tol": _tolerance_deg(z), "margin": _margin_m(z),
              "all_classes": z >= ALL_CLASSES_ZOOM, "major": list(MAJOR_CLASSES),
              "order": list(CLASS_ORDER), "limit": limit, **scope_params}
    return bytes(session.execute(text(sql), params).scalar_one())


def _overview_tile(session: Session, z: int, x: int, y: int, access: Access | None,
                   limit: int) -> bytes:
    """Return a low-zoom ``pipelines`` tile of whoever sees the whole network (of its district).

    The mains come merged from ``pipeline_overview`` (``layers.services.overview``): a
    feature per district, class and cell, with ``segments`` (how many it merges) and its
    row's id, not a pipeline's (a click looks the pipeline up by place). The keys a write
    changed since the last refresh come from the live segments instead (their own ids),
    so a tile is never stale. A district's user also gets, live, the mains of another
    district that one of its sites conflicts with (row-level security lets those through).
    """
    crossing = ""
    if access is not None and access.district is not None:
        crossing = f"""
  UNION ALL
  SELECT g.id, g.pressure_class, NULL, {_mvt_geom("g.geom")}
  FROM gas_pipeline g, box
  WHERE g.deleted_at IS NULL AND g.geom && box.lonlat AND g.pressure_class = ANY(CAST(:major AS text[]))
    AND g.district IS DISTINCT FROM :district
    AND g.id IN (SELECT c.pipeline_id FROM pipeline_conflict c)"""
    sql = f"""
{_TILE_BOX},
changed AS MATERIALIZED (
  SELECT DISTINCT district, pressure_class, cell_x, cell_y FROM pipeline_overview_change),
t AS (
  SELECT o.id, o.pressure_class, o.segments, {_mvt_geom("o.geom")}
  FROM pipeline_overview o, box
  WHERE o.geom && box.lonlat
    AND NOT EXISTS (SELECT 1 FROM changed c WHERE c.district IS NOT DISTINCT FROM o.district
                    AND c.pressure_class = o.pressure_class AND c.cell_x = o.cell_x AND c.cell_y = o.cell_y)
  UNION ALL
  SELECT g.id, g.pressure_class, NULL, {_mvt_geom("g.geom")}
  FROM changed c, gas_pipeline g, box
  WHERE g.deleted_at IS NULL AND g.pressure_class = c.pressure_class
    AND g.geom && ST_MakeEnvelope(c.cell_x * {CELL_DEG}, c.cell_y * {CELL_DEG},
                                  (c.cell_x + 1) * {CELL_DEG}, (c.cell_y + 1) * {CELL_DEG}, 4490)
    AND g.geom && box.lonlat AND g.district IS NOT DISTINCT FROM c.district
    AND gisapp_ref.overview_cell_x(g.geom) = c.cell_x AND gisapp_ref.overview_cell_y(g.geom) = c.cell_y
  {crossing}),
kept AS (SELECT * FROM t WHERE geom IS NOT NULL
         ORDER BY array_position(CAST(:order AS text[]), CAST(pressure_class AS text)), id LIMIT :limit)
SELECT coalesce(ST_AsMVT(kept, 'pipelines', {EXTENT}, 'geom', 'id'), '') FROM kept"""
    serial(session)
    params = {"z": z, "x": x, "y": y, "tol": _tolerance_deg(z), "margin": _margin_m(z),
              "major": list(MAJOR_CLASSES), "order": list(CLASS_ORDER), "limit": limit,
              "district": access.district if access is not None else None}
    return bytes(session.execute(text(sql), params).scalar_one())


def _mvt_geom(column: str) -> str:
    """SQL of ``column`` (lon/lat) simplified to the zoom (``:tol``) and put on the tile's grid."""
    return (f"ST_AsMVTGeom(ST_Transform(ST_Simplify({column}, :tol, true), 3857), box.merc, "
            f"{EXTENT}, {BUFFER}, true) AS geom")


def _tolerance_deg(z: int) -> float:
    """About a tenth of a tile unit at ``z`` in degrees: invisible, and the snapping to the
    tile grid does the rest (lines are simplified in lon/lat, before the projection)."""
    return 360.0 / (EXTENT * 2**z) / 4


def _margin_m(z: int) -> float:
    """The tile's buffer in Web Mercator metres at ``z``."""
    return _WORLD_M / 2**z * BUFFER / EXTENT


def network_size(session: Session) -> int:
    """Return about how many pipeline segments the network has (the planner's estimate).

    The map pages pick tiles or GeoJSON by it; an exact count would cost a scan of the
    table on every page at Shanghai size. Before the table's first ANALYZE the estimate
    is unknown (-1), and the table is counted.
    """
    estimate = session.execute(text(
        "SELECT reltuples FROM pg_class WHERE oid = 'gas_pipeline'::regclass")).scalar_one()
    if estimate is not None and estimate >= 0:
        return int(estimate)
    return int(session.execute(text(
        "SELECT count(*) FROM gas_pipeline WHERE deleted_at IS NULL")).scalar_one())
