"""Recognise Gauss-Krüger coordinates from their values: zone, prefix, swapped X/Y.

Survey data from Chinese sources is CGCS2000 Gauss-Krüger, with or without the zone
number in front of the easting, and often with X and Y in survey order (X = northing).
Given some coordinates, try the readings that are plausible and keep the first one that
puts every sampled point inside the district: that names the CRS to suggest (or to use,
when the file declared none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import shapely
from pyproj import Transformer

from spatial_rules.crs import storage_crs
from spatial_rules.gauss_kruger import (
    GaussKruger,
    is_easting,
    is_northing,
    unprefixed_candidates,
    zone_of_easting,
)

SAMPLE_POINTS = 200
DISTRICT_LONGITUDE = 121.7


@dataclass(frozen=True)
class Reading:
    """A way to read coordinates: this Gauss-Krüger CRS, with x and y swapped or not."""

    crs: GaussKruger
    swapped: bool

    def explain(self) -> str:
        """Return the Chinese explanation of this reading for a message or note."""
        if self.swapped:
            return (f"X/Y 顺序颠倒（测量坐标 X 为北向、Y 为东向），交换后按 {self.crs.label} "
                    "位于崇明区内")
        return f"按坐标值识别为 {self.crs.label}"


def _sample(geoms: np.ndarray) -> np.ndarray:
    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    coords = coords[np.isfinite(coords).all(axis=1)]
    if len(coords) > SAMPLE_POINTS:
        coords = coords[np.linspace(0, len(coords) - 1, SAMPLE_POINTS).astype(int)]
    return coords


def _candidates(east: np.ndarray, north: np.ndarray) -> list[GaussKruger]:
    if not (all(is_northing(v) for v in north) and all(is_easting(v) for v in east)):
        return []
    zones = {zone_of_easting(v) for v in east}
    only = next(iter(zones)) if len(zones) == 1 else None
    if only is not None:
        return [only]
    if zones == {None}:
        return unprefixed_candidates(DISTRICT_LONGITUDE)[:4]
    return []


def detect(geoms: np.ndarray, margin_m: float = 2000.0) -> Reading | None:
    """Return the reading that puts every sampled vertex in the district, or None."""
    from layers.io.validate import points_inside

    coords = _sample(geoms)
    if len(coords) == 0:
        return None
    for swapped in (False, True):
        east, north = (coords[:, 1], coords[:, 0]) if swapped else (coords[:, 0], coords[:, 1])
        for crs in _candidates(east, north):
            lon, lat = Transformer.from_crs(crs.epsg, storage_crs(), always_xy=True).transform(east, north)
            if np.isfinite(lon).all() and points_inside(np.asarray(lon), np.asarray(lat), margin_m).all():
                return Reading(crs, swapped)
    return None
