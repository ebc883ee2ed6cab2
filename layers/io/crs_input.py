"""Parse the coordinate system a user names for an input file (``--crs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pyproj import CRS
from pyproj.exceptions import CRSError

from layers.io.errors import FeatureProblem, InputFileError
from spatial_rules.local_grid import from_parameters

GCJ02: Final = "gcj02"  # marker: GCJ-02 lon/lat (AMap/Gaode, Tencent), not a pyproj CRS
GCJ02_LABEL: Final = "GCJ-02"
BD09: Final = "bd09"  # marker: BD-09 lon/lat (Baidu Maps)
BD09_LABEL: Final = "BD-09"
LOCAL_PREFIX: Final = "local:"


@dataclass(frozen=True)
class LocalGridCrs:
    """A local grid fitted on control points (``--crs local:NAME``).

    The fit maps local x/y to easting/northing of ``fitted_epsg`` (the projected CRS the
    control points were given in), or of the district's metric CRS when they were
    given in lon/lat (``fitted_epsg`` None).
    """

    name: str
    method: str
    parameters: tuple[tuple[str, float], ...]
    fitted_epsg: int | None = None

    def to_storage(self, x, y):
        """Return CGCS2000 lon/lat of local x, y (metres)."""
        from pyproj import Transformer

        from spatial_rules.crs import from_metric, storage_crs

        east, north = from_parameters(self.method, dict(self.parameters)).apply(x, y)
        if self.fitted_epsg is None:
            return from_metric().transform(east, north)
        return Transformer.from_crs(self.fitted_epsg, storage_crs(), always_xy=True).transform(east, north)

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
    "bd09": BD09,
    "bd-09": BD09,
    "baidu": BD09,
    "百度": BD09,
}
_EPSG_RE = re.compile(r"^(?:epsg\s*:\s*)?(\d{4,6})$")

# CRSs whose lon/lat equal storage (CGCS2000) within centimetres: no transform is applied.
LONLAT_EPSG: Final = frozenset({4326, 4490})


def resolve_crs(text: str) -> CRS | str:
    """Return the pyproj CRS named by ``text`` (EPSG code or name), or the GCJ02 marker."""
    key = str(text).strip().lower()
    named = _NAMED.get(key)
    if named in (GCJ02, BD09):
        return named
    if key.startswith(LOCAL_PREFIX):
        raise InputFileError(None, [FeatureProblem(
            None, None, "crs", f"本地坐标系“{text}”须在连接数据库的命令中使用（gisapp import），"
            "先用 gisapp crs fit 按控制点拟合并保存")])
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
                "cgcs2000、wgs84、gcj02、bd09、local:名称 等）",
            )
        ],
    )


def is_gcj02(crs: CRS | str | LocalGridCrs) -> bool:
    """Return True for the GCJ-02 marker (never compare a pyproj CRS with a string: slow)."""
    return isinstance(crs, str) and crs == GCJ02


def is_bd09(crs: CRS | str | LocalGridCrs) -> bool:
    """Return True for the BD-09 (Baidu) marker."""
    return isinstance(crs, str) and crs == BD09


def describe_crs(crs: CRS | str | LocalGridCrs) -> str:
    """Return a short label for a CRS, e.g. ``EPSG:4326``, ``GCJ-02`` or ``local:城建``."""
    if is_gcj02(crs):
        return GCJ02_LABEL
    if is_bd09(crs):
        return BD09_LABEL
    if isinstance(crs, LocalGridCrs):
        return LOCAL_PREFIX + crs.name
    if isinstance(crs, str):
        return crs
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(crs.name)


def is_lonlat_storage_equivalent(crs: CRS | str | LocalGridCrs) -> bool:
    """Return True when lon/lat in ``crs`` need no transform to CGCS2000 (EPSG:4326/4490)."""
    return isinstance(crs, CRS) and crs.to_epsg() in LONLAT_EPSG


def is_geographic(crs: CRS | str | LocalGridCrs) -> bool:
    """Return True for lon/lat input (GCJ-02 and BD-09 included)."""
    if isinstance(crs, LocalGridCrs):
        return False
    return isinstance(crs, str) or bool(crs.is_geographic)  # strings: the GCJ-02/BD-09 markers
