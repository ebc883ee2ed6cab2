"""Keep concurrent writers from screening past each other, without a global queue.

Two transactions that change nearby features (a pipeline moved onto a site while the
site is created) would each screen without seeing the other's uncommitted row, and the
conflict would be missed. Writers therefore take transaction-scoped advisory locks on
the 500 m grid cells their features' search areas cover (old and new geometry), in a
fixed order, so nearby writers take turns and distant ones run in parallel. Full
screens and large batches take one exclusive district-wide lock instead; cell lockers
hold it shared.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from spatial_rules.crs import METRIC_SRID

CELL_M = 500.0
# More cells than this (a long pipeline, a big import) -> the district-wide lock.
MAX_CELLS = 64
_DISTRICT_KEY = "gisapp:screening"

_CELLS = """
WITH b AS (SELECT ST_Expand(g, :search_m) AS box FROM ({source}) s(g) WHERE g IS NOT NULL)
SELECT DISTINCT cx, cy FROM b,
  generate_series(floor(ST_XMin(box) / :cell)::int, floor(ST_XMax(box) / :cell)::int) cx,
  generate_series(floor(ST_YMin(box) / :cell)::int, floor(ST_YMax(box) / :cell)::int) cy
ORDER BY cx, cy
"""
_FROM_EWKB = (
    f"SELECT ST_Transform(ST_GeomFromEWKB(decode(h, 'hex')), {METRIC_SRID}) "
    "FROM unnest(CAST(:hexes AS text[])) h"
)
_FROM_TABLE = "SELECT geom_m FROM {table} WHERE id = ANY(:ids)"


def lock_district(session: Session) -> None:
    """Take the exclusive district-wide screening lock (full screens, big batches)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _DISTRICT_KEY})


def _lock_cells(session: Session, source: str, params: dict, search_m: float) -> None:
    cells = session.execute(
        text(_CELLS.format(source=source)), {**params, "search_m": search_m, "cell": CELL_M}
    ).all()
    if len(cells) > MAX_CELLS:
        lock_district(session)
        return
    session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext(:k))"), {"k": _DISTRICT_KEY})
    for cx, cy in cells:  # ascending order everywhere: no deadlock between cell lockers
        session.execute(text("SELECT pg_advisory_xact_lock(:x, :y)"), {"x": cx, "y": cy})


def lock_area(
    session: Session,
    search_m: float,
    *,
    table: str | None = None,
    ids: Sequence[int] = (),
    new_geometries_ewkb: Sequence[str] = (),
) -> None:
    """Lock the cells around stored rows (``table``/``ids``) and new EPSG:4490 geometries."""
    parts, params = [], {}
    if table is not None and ids:
        parts.append(_FROM_TABLE.format(table=table))
        params["ids"] = [int(i) for i in ids]
    if new_geometries_ewkb:
        parts.append(_FROM_EWKB)
        params["hexes"] = list(new_geometries_ewkb)
    if parts:
        _lock_cells(session, " UNION ALL ".join(parts), params, search_m)
