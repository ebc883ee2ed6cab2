"""The fixed geography the sample is built on: town centres, islands and settled land.

All geometry here is in the metric CRS (metres) unless a name ends in ``_lonlat``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

import shapely
from shapely.geometry.base import BaseGeometry

from layers.district import district_boundary_metric
from layers.jurisdictions import DEFAULT_CODE as CHONGMING  # the sample is Chongming's
from layers.projection import transform_xy
from spatial_rules.crs import from_metric, to_metric

SEED_FILE = "townships_seed.json"

# The district polygon reaches into the estuary (mid-channel), so settled land is the
# island part shrunk by this many metres: roughly the real shore line, and it keeps
# every generated feature well inside the district.
LAND_INSET_M = {"chongming": 1200.0, "changxing": 300.0, "hengsha": 400.0}

# Route of the high-pressure trunk on Chongming island (lon/lat), from the crossing
# landing at Chenjia town westwards along the island's axis (roughly the Chenhai road).
CHONGMING_TRUNK_LONLAT = (
    (121.800, 31.484),
    (121.760, 31.520),
    (121.700, 31.548),
    (121.640, 31.560),
    (121.590, 31.548),
    (121.540, 31.585),
    (121.480, 31.628),
    (121.420, 31.648),
    (121.360, 31.685),
    (121.300, 31.722),
    (121.240, 31.752),
)


@dataclass(frozen=True)
class Township:
    """A town centre: synthetic code, Chinese name, metric x/y, island and size rank."""

    code: str
    name: str
    x: float
    y: float
    island: str
    size: int


def lonlat_to_metric(lon, lat) -> np.ndarray:
    """Return an (n, 2) array of metric x/y for CGCS2000 lon/lat arrays (degrees)."""
    x, y = to_metric().transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y])


def geometries_to_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Return geometries transformed from the metric CRS (metres) to CGCS2000 lon/lat."""
    transformer = from_metric()
    return transform_xy(geoms, transformer.transform)


@lru_cache(maxsize=1)
def load_townships() -> tuple[Township, ...]:
    """Return the town centres of the seed file, projected to the metric CRS."""
    text = resources.files("layers").joinpath("data", SEED_FILE).read_text(encoding="utf-8")
    rows = json.loads(text)["townships"]
    xy = lonlat_to_metric([r["lon"] for r in rows], [r["lat"] for r in rows])
    return tuple(
        Township(r["code"], r["name"], float(x), float(y), r["island"], int(r["size"]))
        for r, (x, y) in zip(rows, xy, strict=True)
    )


@lru_cache(maxsize=1)
def island_parts() -> dict[str, BaseGeometry]:
    """Return each inhabited island's district part (metric); town-less islets are left out."""
    parts = list(shapely.get_parts(district_boundary_metric(CHONGMING)))
    found: dict[str, BaseGeometry] = {}
    for town in load_townships():
        point = shapely.Point(town.x, town.y)
        for part in parts:
            if part.contains(point):
                found.setdefault(town.island, part)
    return found


@lru_cache(maxsize=1)
def settled_land() -> dict[str, BaseGeometry]:
    """Return the settled land of each island (metric, prepared): the part minus its inset."""
    land: dict[str, BaseGeometry] = {}
    for island, part in island_parts().items():
        area = part.buffer(-LAND_INSET_M[island], quad_segs=4)
        shapely.prepare(area)
        land[island] = area
    return land


@lru_cache(maxsize=1)
def all_settled_land() -> BaseGeometry:
    """Return the union of the settled land of all islands (metric, prepared)."""
    area = shapely.union_all(list(settled_land().values()))
    shapely.prepare(area)
    return area
