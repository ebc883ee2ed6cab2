"""Vectorized reprojection of shapely geometry arrays between storage and metric CRS."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

import shapely

from spatial_rules.crs import from_metric, to_metric

Geoms = TypeVar("Geoms")
XyFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def transform_xy(geoms: Geoms, fn: XyFunction) -> Geoms:
    """Return ``geoms`` (one geometry or an array) with ``fn(x, y) -> (x, y)`` applied to every vertex.

    ``shapely.transform(..., interleaved=False)`` (shapely >= 2.1): x and y come as separate
    arrays, the calling convention of pyproj's ``Transformer.transform``.
    """
    # types-shapely declares only the interleaved (n x 2 array) form of the callback.
    return shapely.transform(geoms, fn, interleaved=False)  # type: ignore[call-overload]


def _apply(transformer, geoms: np.ndarray) -> np.ndarray:
    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), project)


def lonlat_to_metric(geoms) -> np.ndarray:
    """Project CGCS2000 lon/lat geometries (EPSG:4490) to the metric CRS (metres)."""
    return _apply(to_metric(), geoms)


def metric_points_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project metric x/y arrays (metres) to lon/lat arrays (degrees)."""
    return from_metric().transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
