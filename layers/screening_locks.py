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

import math
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from layers.db import IdArray
from layers.projection import lonlat_to_metric

CELL_M = 500.0
# More cells than this (a long pipeline, a big import) -> the district-wide lock.
MAX_CELLS = 64
# More stored features than this take the district-wide lock without counting their
# cells (always safe: it excludes every cell locker). So many features rarely fit in
# MAX_CELLS cells, and for a 300,000-segment import the count alone took seconds.
MAX_FEATURES_FOR_CELLS = 2_000
# New geometries are projected here in Python, stored ones by PostGIS (same PROJ
# pipeline): the extra metre makes the Python cells a superset of the SQL ones, so a
# re-lock of the same feature never asks for a cell out of order.
PYTHON_MARGIN_M = 1.0
_DISTRICT_KEY = "gisapp:screening"

_CELLS = """
WITH b AS (SELECT ST_Expand(g, :search_m) AS box FROM ({source}) s(g) WHERE g IS NOT NULL)
SELECT DISTINCT cx, cy FROM b,
  generate_series(floor(ST_XMin(box) / :cell)::int, floor(ST_XMax(box) / :cell)::int) cx,
  generate_series(floor(ST_YMin(box) / :cell)::int, floor(ST_YMax(box) / :cell)::int) cy
"""
_FROM_TABLE = "SELECT geom_m FROM {table} WHERE id = ANY(:ids)"


def lock_district(session: Session) -> None:
    """Take the exclusive district-wide screening lock (full screens, big batches)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _DISTRICT_KEY})


def cells_around(geometries_lonlat: Sequence, search_m: float) -> set[tuple[int, int]]:
    """Return the grid cells within ``search_m`` (metres) of EPSG:4490 lon/lat geometries."""
    metric = lonlat_to_metric(geometries_lonlat)
    reach = search_m + PYTHON_MARGIN_M
    cells: set[tuple[int, int]] = set()
    for xmin, ymin, xmax, ymax in shapely.bounds(metric).tolist():
        xs = range(math.floor((xmin - reach) / CELL_M), math.floor((xmax + reach) / CELL_M) + 1)
        ys = range(math.floor((ymin - reach) / CELL_M), math.floor((ymax + reach) / CELL_M) + 1)
        cells.update((x, y) for x in xs for y in ys)
    return cells


def _take(session: Session, cells: set[tuple[int, int]]) -> None:
    """Lock ``cells`` in one statement: the district lock shared, then each cell, ascending."""
    if len(cells) > MAX_CELLS:
        lock_district(session)
        return
    params: dict[str, object] = {"k": _DISTRICT_KEY}
    calls = ["pg_advisory_xact_lock_shared(hashtext(:k))"]
    # One target list is evaluated left to right, so the ascending order holds and no
    # two cell lockers can deadlock.
    for n, (cx, cy) in enumerate(sorted(cells)):
        calls.append(f"pg_advisory_xact_lock(:x{n}, :y{n})")
        params[f"x{n}"], params[f"y{n}"] = cx, cy
    session.execute(text(f"SELECT {', '.join(calls)}"), params)


def lock_area(
    session: Session,
    search_m: float,
    *,
    table: str | None = None,
    ids: Sequence[int] = (),
    new_geometries: Sequence = (),
) -> None:
    """Lock the cells around stored rows (``table``/``ids``) and new EPSG:4490 geometries."""
    cells: set[tuple[int, int]] = set()
    if table is not None and len(ids) > MAX_FEATURES_FOR_CELLS:
        lock_district(session)
        return
    if table is not None and ids:
        rows = session.execute(
            text(_CELLS.format(source=_FROM_TABLE.format(table=table))),
            {"ids": IdArray(ids), "search_m": search_m, "cell": CELL_M},
        ).all()
        cells.update((int(x), int(y)) for x, y in rows)
    if len(new_geometries):
        cells |= cells_around(new_geometries, search_m)
    if cells:
        _take(session, cells)
