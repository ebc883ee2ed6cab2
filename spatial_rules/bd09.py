"""BD-09 (Baidu Maps) <-> GCJ-02 <-> WGS84/CGCS2000 lon/lat.

BD-09 is Baidu's further offset on top of GCJ-02. The forward step (GCJ-02 -> BD-09)
is closed-form and public; its usual inverse formula is an approximation (off by up to
a few decimetres), so the inverse here iterates the forward step until it reproduces
the input to 1e-10 degrees (~0.01 mm), as ``spatial_rules.gcj02`` does for GCJ-02.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from spatial_rules.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat (degrees, scalars or arrays) to BD-09 (closed form)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat to GCJ-02, iterated until the forward step matches to ~0.01 mm."""
    b_lon = np.asarray(lon, dtype=float)
    b_lat = np.asarray(lat, dtype=float)
    g_lon, g_lat = b_lon - 0.0065, b_lat - 0.006  # start near the answer
    for _ in range(_MAX_ITERATIONS):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        err_lon, err_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - err_lon, g_lat - err_lat
        if np.all(np.abs(err_lon) < _TOLERANCE_DEG) and np.all(np.abs(err_lat) < _TOLERANCE_DEG):
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84/CGCS2000 lon/lat to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat to WGS84/CGCS2000 (both inverse steps iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
