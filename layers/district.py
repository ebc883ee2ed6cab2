"""The Chongming district boundary (shipped, CGCS2000) and the extent features must lie in."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from layers.projection import transform_xy
from spatial_rules.crs import to_metric

BOUNDARY_FILE = "chongming_boundary_cgcs2000.geojson"


@lru_cache(maxsize=1)
def district_boundary() -> BaseGeometry:
    """Return the district as a MultiPolygon in CGCS2000 lon/lat (EPSG:4490)."""
    text = resources.files("layers").joinpath("data", BOUNDARY_FILE).read_text(encoding="utf-8")
    feature = json.loads(text)["features"][0]
    return shapely.make_valid(shape(feature["geometry"]))


@lru_cache(maxsize=1)
def district_boundary_metric() -> BaseGeometry:
    """Return the district boundary in the metric CRS (metres)."""
    return transform_xy(district_boundary(), _project_xy)


def _project_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return to_metric().transform(x, y)


@lru_cache(maxsize=8)
def district_extent_metric(margin_m: float) -> BaseGeometry:
    """Return the district grown by ``margin_m`` metres, prepared for fast tests (metric CRS)."""
    area = district_boundary_metric().buffer(margin_m, quad_segs=4)
    shapely.prepare(area)
    return area


@lru_cache(maxsize=8)
def district_extent_lonlat(margin_m: float) -> BaseGeometry:
    """Return the district grown by ``margin_m`` metres, in CGCS2000 lon/lat, prepared.

    Testing vertices in lon/lat against this polygon avoids projecting whole layers
    just to check the extent; the polygon's vertices are exact, its edges are short.
    """
    from spatial_rules.crs import from_metric

    area = district_extent_metric(margin_m)
    lonlat = transform_xy(shapely.segmentize(area, 200.0), from_metric().transform)
    shapely.prepare(lonlat)
    return lonlat
