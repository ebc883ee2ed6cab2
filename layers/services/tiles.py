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
from layers.services.permissions import Access
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
    ``status``; below it ``pressure_class`` only (and its id).

    ``access``: whose tile (None: everything, an internal read); ``near_m`` and
    ``near_cap``: the builders' reach and cap, as the pipeline API's.
    """
    check_tile("pipelines", z, x, y)
    scope, scope_params = scope_sql("pipelines", access, near_m, "g", near_cap)
    # Below ALL_CLASSES_ZOOM a tile carries each main's id and class only: the codes are
    # unique strings, more than half a low-zoom tile's bytes (Shanghai, z 9: 347 KB with
    # them, 153 KB without); a click there looks the one pipeline up by its id.
    details = ("g.external_code AS code, CAST(g.pressure_class AS text) AS pressure_class, "
               "g.outer_diameter_mm AS dn, CAST(g.status AS text) AS status"
               if z >= ALL_CLASSES_ZOOM else "CAST(g.pressure_class AS text) AS pressure_class")
    # Simplify in lon/lat to about a tenth of a tile unit: invisible, and the snapping
    # to the tile grid does the rest.
    tolerance_deg = 360.0 / (EXTENT * 2**z) / 4
    sql = f"""
WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS merc),
box AS (SELECT merc, ST_Transform(ST_Expand(merc, :margin), 4490) AS lonlat FROM b),
t AS (
  SELECT g.id, {details},
    ST_AsMVTGeom(ST_Transform(ST_Simplify(g.geom, :tol, true), 3857), box.merc,
                 {EXTENT}, {BUFFER}, true) AS geom
  FROM gas_pipeline g, box
  WHERE g.deleted_at IS NULL AND g.geom && box.lonlat
    AND (:all_classes OR g.pressure_class = ANY(CAST(:major AS text[])))
    AND {scope}
  ORDER BY array_position(CAST(:order AS text[]), CAST(g.pressure_class AS text)), g.id
  LIMIT :limit)
SELECT coalesce(ST_AsMVT(t, 'pipelines', {EXTENT}, 'geom', 'id'), '') FROM t
WHERE t.geom IS NOT NULL"""
    serial(session)  # a page asks for its tiles at once: workers would share the same cores
    params = {"z": z, "x": x, "y": y, "tol": tolerance_deg,
              "margin": _WORLD_M / 2**z * BUFFER / EXTENT,
              "all_classes": z >= ALL_CLASSES_ZOOM, "major": list(MAJOR_CLASSES),
              "order": list(CLASS_ORDER), "limit": limit, **scope_params}
    return bytes(session.execute(text(sql), params).scalar_one())


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
