"""Parse the coordinate system a user names for an input file (``--crs``)."""

from __future__ import annotations

import re
from typing import Final

from pyproj import CRS
from pyproj.exceptions import CRSError

from layers.io.errors import FeatureProblem, InputFileError

GCJ02: Final = "gcj02"  # marker: GCJ-02 lon/lat (AMap/Gaode, Tencent), not a pyproj CRS
GCJ02_LABEL: Final = "GCJ-02"

_NAMED: dict[str, int | str] = {
    "wgs84": 4326,
    "wgs 84": 4326,
    "wgs-84": 4326,
    "cgcs2000": 4490,
    "cgcs 2000": 4490,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "高德": GCJ02,
    "火星坐标": GCJ02,
}
_EPSG_RE = re.compile(r"^(?:epsg\s*:\s*)?(\d{4,6})$")

# CRSs whose lon/lat equal storage (CGCS2000) within centimetres: no transform is applied.
LONLAT_EPSG: Final = frozenset({4326, 4490})


def resolve_crs(text: str) -> CRS | str:
    """Return the pyproj CRS named by ``text`` (EPSG code or name), or the GCJ02 marker."""
    key = str(text).strip().lower()
    named = _NAMED.get(key)
    if named == GCJ02:
        return GCJ02
    if isinstance(named, int):
        return CRS.from_epsg(named)
    match = _EPSG_RE.match(key)
    try:
        if match:
            return CRS.from_epsg(int(match.group(1)))
        # Only PROJ strings and WKT beyond codes: nothing that could name a file or URL.
        if key.startswith("+proj=") or re.match(r"^(geog|proj|geod|comp)(cs|crs)\s*\[", key):
            return CRS.from_user_input(str(text).strip())
    except CRSError:
        pass
    raise InputFileError(
        None,
        [
            FeatureProblem(
                None,
                None,
                "crs",
                f"无法识别的坐标系“{text}”（可用：EPSG:4490、EPSG:4326、EPSG:4549、"
                "cgcs2000、wgs84、gcj02 等）",
            )
        ],
    )


def is_gcj02(crs: CRS | str) -> bool:
    """Return True for the GCJ-02 marker (never compare a pyproj CRS with a string: slow)."""
    return isinstance(crs, str) and crs == GCJ02


def describe_crs(crs: CRS | str) -> str:
    """Return a short label for a CRS, e.g. ``EPSG:4326`` or ``GCJ-02``."""
    if isinstance(crs, str):  # the only string a parsed CRS can be is the GCJ-02 marker
        return GCJ02_LABEL
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(crs.name)


def is_lonlat_storage_equivalent(crs: CRS | str) -> bool:
    """Return True when lon/lat in ``crs`` need no transform to CGCS2000 (EPSG:4326/4490)."""
    return not isinstance(crs, str) and crs.to_epsg() in LONLAT_EPSG


def is_geographic(crs: CRS | str) -> bool:
    """Return True for lon/lat input (GCJ-02 included)."""
    return isinstance(crs, str) or bool(crs.is_geographic)
