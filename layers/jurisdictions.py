"""Jurisdictions as data: a name, a boundary, a metric CRS fitted to its extent, a rule family.

Chongming is the default and ships with the package; any of Shanghai's 16 districts, or
the whole city, can be served instead (``layers/data/shanghai_districts_cgcs2000.geojson``,
converted from the shared GCJ-02 copy by ``scripts/convert_boundary.py``).

The metric CRS of a jurisdiction is a transverse Mercator on GRS80 whose central meridian
is the middle of the extent rounded to 0.1 degree. Distances must be right to 1 cm in
100 m, so the point scale error must stay under 1e-4 everywhere in the jurisdiction; an
extent that one such projection cannot serve (wider than about 1.6 degrees of longitude
at Shanghai's latitude) is refused rather than measured wrongly. Chongming's fitted CRS
is exactly the one the database already uses (TM 121.7 E, SRID 990001), and so is the
whole city's scale error budget: Shanghai spans 120.85-122.2 E, at most 0.85 degree from
121.7 E, where the scale error is 8e-5.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

import shapely
from pyproj import CRS, Proj, Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

MAX_SCALE_ERROR = 1e-4  # 1 cm in 100 m
DISTRICTS_FILE = "shanghai_districts_cgcs2000.geojson"
CITY_CODE = "310100"
CITY_NAME = "上海市"
DEFAULT_CODE = "310151"  # 崇明区
ALIASES = {"chongming": "310151", "shanghai": CITY_CODE, CITY_NAME: CITY_CODE, "上海": CITY_CODE}
# A short code per jurisdiction (the initials of its pinyin name), printed where a number
# must say which district issued it: answer letters (CM-2026-000123). Chongming's CM is
# the prefix its numbers always had. The boundary file carries adcode and name only.
SHORT_CODES = {
    CITY_CODE: "SH", "310101": "HP", "310104": "XH", "310105": "CN", "310106": "JA",
    "310107": "PT", "310109": "HK", "310110": "YP", "310112": "MH", "310113": "BS",
    "310114": "JD", "310115": "PD", "310116": "JS", "310117": "SJ", "310118": "QP",
    "310120": "FX", "310151": "CM",
}


class JurisdictionError(ValueError):
    """A jurisdiction that does not exist, or that one metric projection cannot serve."""


@dataclass(frozen=True)
class Jurisdiction:
    """One area the service answers for, with what metric work there needs."""

    code: str  # the administrative division code (adcode); 310100 for the whole city
    name: str
    boundary: BaseGeometry  # MultiPolygon, CGCS2000 lon/lat (EPSG:4490)
    central_meridian: float  # of the fitted transverse Mercator, degrees east
    max_scale_error: float  # over the boundary, in the fitted projection
    rule_family: str = "shanghai"
    districts: tuple[str, ...] = ()  # the district codes a city-wide jurisdiction holds

    @property
    def short_code(self) -> str:
        """Return the jurisdiction's two-letter code (CM for Chongming, SH for the city)."""
        return SHORT_CODES[self.code]

    @property
    def metric_proj4(self) -> str:
        """Return the PROJ string of the fitted metric CRS (metres)."""
        return tm_proj4(self.central_meridian)


def tm_proj4(central_meridian: float) -> str:
    """Return a transverse Mercator on GRS80 at ``central_meridian`` (scale 1, false easting 500 km)."""
    return (f"+proj=tmerc +lat_0=0 +lon_0={central_meridian:g} +k=1 +x_0=500000 +y_0=0 "
            "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs")


def scale_error(central_meridian: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return |k - 1| of the TM at ``central_meridian`` at each lon/lat point (degrees)."""
    # Conformal: the meridional scale is the point scale.
    factors = Proj(tm_proj4(central_meridian)).get_factors(lon, lat)
    return np.abs(np.asarray(factors.meridional_scale) - 1.0)


def fit_metric_crs(boundary: BaseGeometry) -> tuple[float, float]:
    """Return (central meridian, worst scale error) of the TM fitted to ``boundary`` (lon/lat).

    Raises ``JurisdictionError`` when the worst point is over ``MAX_SCALE_ERROR``.
    """
    west, _, east, _ = boundary.bounds
    meridian = round((west + east) / 2, 1)
    # The scale error grows away from the central meridian only, so the boundary's
    # vertices (densified to ~1 km) include the worst point.
    coords = shapely.get_coordinates(shapely.segmentize(boundary, 0.01))
    worst = float(scale_error(meridian, coords[:, 0], coords[:, 1]).max())
    if worst > MAX_SCALE_ERROR:
        raise JurisdictionError(
            f"辖区东西跨度 {east - west:.2f}°（{west:.2f}°E–{east:.2f}°E），一个横轴墨卡托投影"
            f"（中央经线 {meridian:g}°E）在边缘的尺度误差达 {worst:.1e}，超过 {MAX_SCALE_ERROR:.0e}"
            "（每 100 米 1 厘米）；请按区县分别部署"
        )
    return meridian, worst


@lru_cache(maxsize=1)
def _districts() -> dict[str, tuple[str, BaseGeometry]]:
    text = resources.files("layers").joinpath("data", DISTRICTS_FILE).read_text(encoding="utf-8")
    out = {}
    for feature in json.loads(text)["features"]:
        props = feature["properties"]
        out[props["adcode"]] = (props["name"], shapely.make_valid(shape(feature["geometry"])))
    return out


def known_codes() -> list[str]:
    """Return every code a deployment may name: the city and its 16 districts."""
    return [CITY_CODE, *sorted(_districts())]


def district_names() -> dict[str, str]:
    """Return the 16 districts' Chinese names by adcode, in code order (for messages)."""
    return {code: _districts()[code][0] for code in sorted(_districts())}


@lru_cache(maxsize=32)
def jurisdiction(name_or_code: str = DEFAULT_CODE) -> Jurisdiction:
    """Return the jurisdiction named by adcode, Chinese name or alias (chongming, shanghai)."""
    key = ALIASES.get(name_or_code.strip().lower(), ALIASES.get(name_or_code.strip(), name_or_code.strip()))
    districts = _districts()
    by_name = {name: code for code, (name, _) in districts.items()}
    key = by_name.get(key, key)
    if key == CITY_CODE:
        parts = tuple(sorted(districts))
        boundary = shapely.union_all([districts[c][1] for c in parts])
        meridian, worst = fit_metric_crs(boundary)
        return Jurisdiction(CITY_CODE, CITY_NAME, _multi(boundary), meridian, worst, districts=parts)
    if key not in districts:
        raise JurisdictionError(
            f"未知的辖区“{name_or_code}”；可用：{CITY_NAME}（shanghai）或区县名称、行政区划代码，"
            f"如 崇明区（chongming，310151）"
        )
    name, boundary = districts[key]
    meridian, worst = fit_metric_crs(boundary)
    return Jurisdiction(key, name, _multi(boundary), meridian, worst)


def _multi(geom: BaseGeometry) -> BaseGeometry:
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    return shapely.MultiPolygon(polygons)


def metric_transformer(j: Jurisdiction) -> Transformer:
    """Return a lon/lat (EPSG:4490) to metric transformer for ``j`` (always_xy)."""
    found = Transformer.from_crs(CRS.from_epsg(4490), CRS.from_proj4(j.metric_proj4), always_xy=True)
    return Transformer.from_pipeline(found.definition)


def worst_scale_error(j: Jurisdiction, central_meridian: float) -> float:
    """Return the worst |k - 1| over ``j`` of the TM at ``central_meridian`` (e.g. the stored SRID's)."""
    coords = shapely.get_coordinates(shapely.segmentize(j.boundary, 0.01))
    return float(scale_error(central_meridian, coords[:, 0], coords[:, 1]).max())
