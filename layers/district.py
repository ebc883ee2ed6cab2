"""The deployment's jurisdiction (boundary, CGCS2000) and the extent features must lie in.

A deployment serves one jurisdiction: ``GISAPP_JURISDICTION`` (default ``chongming``;
any Shanghai district by name, alias or adcode, or ``shanghai`` for the whole city,
``layers.jurisdictions``). Chongming keeps its own shipped boundary file. The stored
metric CRS (TM 121.7 E, SRID 990001) serves all of Shanghai within 8e-5 scale error, so
every jurisdiction measures in it. Extents are cached per jurisdiction and margin as
prepared geometries: the hot path is a dictionary lookup and a prepared test.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources

import numpy as np

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from layers.jurisdictions import DEFAULT_CODE, Jurisdiction, jurisdiction
from layers.projection import transform_xy
from spatial_rules.crs import to_metric

BOUNDARY_FILE = "chongming_boundary_cgcs2000.geojson"
ENV = "GISAPP_JURISDICTION"
_configured: str | None = None


def use_jurisdiction(name_or_code: str | None) -> Jurisdiction:
    """Serve ``name_or_code`` in this process (the settings' ``jurisdiction``); return it.

    Raises ``layers.jurisdictions.JurisdictionError`` for an unknown one.
    """
    global _configured
    found = jurisdiction(name_or_code or DEFAULT_CODE)
    _configured = found.code
    return found


def deployment() -> Jurisdiction:
    """Return the jurisdiction this process serves (configured, else ``GISAPP_JURISDICTION``)."""
    return jurisdiction(_configured or os.environ.get(ENV) or DEFAULT_CODE)


def district_name() -> str:
    """Return the Chinese name of the served jurisdiction (崇明区, 上海市, ...)."""
    return deployment().name


def district_boundary(code: str | None = None) -> BaseGeometry:
    """Return the served jurisdiction (or ``code``'s) as a MultiPolygon in CGCS2000 lon/lat (EPSG:4490)."""
    return _boundary(code or deployment().code)


@lru_cache(maxsize=32)
def _boundary(code: str) -> BaseGeometry:
    if code != DEFAULT_CODE:
        return jurisdiction(code).boundary
    text = resources.files("layers").joinpath("data", BOUNDARY_FILE).read_text(encoding="utf-8")
    feature = json.loads(text)["features"][0]
    return shapely.make_valid(shape(feature["geometry"]))


def district_boundary_metric(code: str | None = None) -> BaseGeometry:
    """Return the served jurisdiction's (or ``code``'s) boundary in the metric CRS (metres)."""
    return _boundary_metric(code or deployment().code)


@lru_cache(maxsize=32)
def _boundary_metric(code: str) -> BaseGeometry:
    return transform_xy(_boundary(code), _project_xy)


def _project_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return to_metric().transform(x, y)


def district_extent_metric(margin_m: float) -> BaseGeometry:
    """Return the jurisdiction grown by ``margin_m`` metres, prepared for fast tests (metric CRS)."""
    return _extent_metric(deployment().code, margin_m)


@lru_cache(maxsize=64)
def _extent_metric(code: str, margin_m: float) -> BaseGeometry:
    area = _boundary_metric(code).buffer(margin_m, quad_segs=4)
    shapely.prepare(area)
    return area


def district_extent_lonlat(margin_m: float) -> BaseGeometry:
    """Return the jurisdiction grown by ``margin_m`` metres, in CGCS2000 lon/lat, prepared.

    Testing vertices in lon/lat against this polygon avoids projecting whole layers
    just to check the extent; the polygon's vertices are exact, its edges are short.
    """
    return _extent_lonlat(deployment().code, margin_m)


@lru_cache(maxsize=64)
def _extent_lonlat(code: str, margin_m: float) -> BaseGeometry:
    from spatial_rules.crs import from_metric

    area = _extent_metric(code, margin_m)
    lonlat = transform_xy(shapely.segmentize(area, 200.0), from_metric().transform)
    shapely.prepare(lonlat)
    return lonlat


@lru_cache(maxsize=1)
def _district_parts() -> tuple[list[str], list[BaseGeometry]]:
    from layers.jurisdictions import CITY_CODE

    codes = list(jurisdiction(CITY_CODE).districts)
    areas = [jurisdiction(code).boundary for code in codes]
    for area in areas:
        shapely.prepare(area)
    return codes, areas


def district_of(geometry: BaseGeometry) -> str:
    """Return the adcode of the district a lon/lat geometry lies in (as the database fills it).

    The district containing a point on it, else the nearest: the same rule as the
    ``gisapp_ref.district_of`` function that fills the stored rows.
    """
    point = shapely.point_on_surface(geometry)
    codes, areas = _district_parts()
    for code, area in zip(codes, areas, strict=True):
        if area.intersects(point):
            return code
    return codes[int(min(range(len(areas)), key=lambda k: areas[k].distance(point)))]


def districts_of(geometries: object) -> list[str | None]:
    """Return the district adcode of each lon/lat geometry, None where no district contains it.

    Vectorised (an import of 700,000 segments takes about a second); rows left None get
    theirs from the database (the nearest district), as does every row written one at
    a time.
    """
    points = shapely.point_on_surface(np.asarray(geometries, dtype=object))
    x, y = shapely.get_x(points), shapely.get_y(points)
    found = np.full(len(points), None, dtype=object)
    codes, areas = _district_parts()
    for code, area in zip(codes, areas, strict=True):
        todo = np.flatnonzero(found == None)  # noqa: E711 - elementwise on an object array
        if todo.size == 0:
            break
        found[todo[shapely.contains_xy(area, x[todo], y[todo])]] = code
    return found.tolist()
