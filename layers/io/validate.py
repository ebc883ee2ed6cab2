"""Geometry checks of an input layer: type, finiteness, validity, CRS plausibility, district extent.

Everything runs on whole arrays (shapely 2 vectorized); Python loops touch only the
features that have a problem.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

import shapely
from pyproj import CRS, Transformer

from layers.district import district_boundary_metric, district_extent_lonlat, district_name
from layers.io.crs_input import (
    LocalGridCrs,
    describe_crs,
    is_bd09,
    is_gcj02,
    is_geographic,
    is_lonlat_storage_equivalent,
)
from layers.io.errors import FeatureProblem
from layers.projection import transform_xy
from spatial_rules.bd09 import bd09_to_wgs84
from spatial_rules.crs import storage_crs, to_metric
from spatial_rules.gauss_kruger import by_epsg, zone_of_easting
from spatial_rules.gcj02 import gcj02_to_wgs84

# shapely type ids
_POINT, _LINE, _RING, _POLYGON, _MPOINT, _MLINE, _MPOLYGON, _COLLECTION = range(8)
TYPE_ZH = {
    _POINT: "点（Point）",
    _LINE: "线（LineString）",
    _RING: "线环（LinearRing）",
    _POLYGON: "面（Polygon）",
    _MPOINT: "多点（MultiPoint）",
    _MLINE: "多线（MultiLineString）",
    _MPOLYGON: "多面（MultiPolygon）",
    _COLLECTION: "几何集合（GeometryCollection）",
}
ACCEPTED_TYPES = {
    "pipelines": (_LINE, _MLINE),
    "projects": (_POLYGON, _MPOLYGON),
    "sites": (_POLYGON, _MPOLYGON),
}
NEEDED_ZH = {
    "pipelines": "管道需要线要素（LineString/MultiLineString）",
    "projects": "项目范围需要面要素（Polygon/MultiPolygon）",
    "sites": "施工范围需要面要素（Polygon/MultiPolygon）",
}
# Projected CRSs seen in Shanghai data, tried in turn to suggest a --crs value.
_SUGGESTED_EPSG = (4549, 4528, 4550, 32651, 3857)


@dataclass
class GeometryCheck:
    """Geometries in EPSG:4490 (None where rejected), problems and repair notes.

    ``crs``: what the coordinates were read in.
    """

    geometry: np.ndarray
    problems: list[FeatureProblem]
    notes: list[str]
    crs: CRS | str | LocalGridCrs | None = None


def _to_storage_fn(crs: CRS | str) -> Callable | None:
    """Return f(x, y) -> (lon, lat) in EPSG:4490 for ``crs``, None when no change is needed."""
    if is_gcj02(crs):
        return gcj02_to_wgs84
    if is_bd09(crs):
        return bd09_to_wgs84
    if isinstance(crs, LocalGridCrs):
        return crs.to_storage
    if is_lonlat_storage_equivalent(crs):
        return None
    transformer = Transformer.from_crs(crs, storage_crs(), always_xy=True)
    return lambda x, y: transformer.transform(x, y)


def to_storage(geoms: np.ndarray, crs: CRS | str) -> np.ndarray:
    """Return geometries converted from ``crs`` (GCJ-02 marker allowed) to EPSG:4490 lon/lat."""
    fn = _to_storage_fn(crs)
    return geoms if fn is None else transform_xy(geoms, fn)


def _metric(storage: np.ndarray) -> np.ndarray:
    """Return EPSG:4490 geometries in the district's metric CRS (metres)."""
    return transform_xy(storage, to_metric().transform)


# The district extent is one prepared GEOS geometry shared by every thread (the API's
# thread pool, ``gisapp screen`` reading two files at once). GEOS prepared geometries are
# not thread-safe: threads testing points against it at once corrupted memory (a crash
# reproduced in a few rounds), even after a warm-up query. One test at a time.
EXTENT_LOCK = threading.Lock()


def points_inside(x: np.ndarray, y: np.ndarray, margin_m: float) -> np.ndarray:
    """Return, per EPSG:4490 lon/lat point, whether it lies in the district + margin_m."""
    extent = district_extent_lonlat(float(margin_m))
    with EXTENT_LOCK:
        return shapely.contains_xy(extent, x, y)


def _all_inside(storage: np.ndarray, margin_m: float) -> np.ndarray:
    """Return, per EPSG:4490 geometry, whether every vertex lies in the district + margin_m."""
    coords, owner = shapely.get_coordinates(storage, return_index=True)
    inside = points_inside(coords[:, 0], coords[:, 1], margin_m)
    outside_count = np.bincount(owner, weights=~inside, minlength=len(storage))
    return outside_count == 0


def _farthest_km(metric: np.ndarray) -> np.ndarray:
    """Return, per geometry, the distance of its farthest vertex from the district, in km."""
    coords, owner = shapely.get_coordinates(metric, return_index=True)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        distance = shapely.distance(district_boundary_metric(), shapely.points(coords))
    farthest = np.zeros(len(metric))
    np.maximum.at(farthest, owner, np.nan_to_num(distance, nan=np.inf))
    return farthest / 1000.0


def _swap_xy(geoms: np.ndarray) -> np.ndarray:
    """Return geometries with x and y exchanged (lat/lon written as lon/lat)."""
    return transform_xy(geoms, _swapped)


def _swapped(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return y, x


def _suggest_crs(sample: object) -> str:
    """Return a --crs suggestion for a projected-looking geometry, by trying common CRSs."""
    from layers.io.crs_detect import detect

    found = detect(np.array([sample], dtype=object))
    if found is not None:
        swap = "，并把东坐标（Y）放在前面" if found.swapped else ""
        return f"EPSG:{found.crs.epsg}{swap}（{found.explain()}）"
    for epsg in _SUGGESTED_EPSG:
        try:
            storage = to_storage(np.array([sample], dtype=object), CRS.from_epsg(epsg))
            if _all_inside(storage, 2000.0)[0]:
                return f"EPSG:{epsg}"
        except Exception:  # a candidate that cannot project this point is just skipped
            continue
    return "EPSG:4549"


class _Collector:
    """Collects problems per row, naming each feature's id."""

    def __init__(self, ids: list[str | None]) -> None:
        self.ids = ids
        self.problems: list[FeatureProblem] = []

    def add(self, rows: Iterable[int | np.integer], message: str | Callable[[int], str]) -> None:
        for i in rows:
            text = message(int(i)) if callable(message) else message
            self.problems.append(FeatureProblem(int(i) + 1, self.ids[i], "geometry", text))


def check_geometry(
    geoms: np.ndarray,
    crs: CRS | str,
    kind: str,
    ids: list[str | None],
    *,
    margin_m: float,
    repair: bool,
    crs_assumed: bool,
    unparsed_rows: frozenset[int] = frozenset(),
) -> GeometryCheck:
    """Check geometries given in ``crs`` and return them in EPSG:4490, promoted to Multi*."""
    geoms = np.asarray(geoms, dtype=object).copy()
    out = _Collector(ids)
    notes: list[str] = []
    missing = shapely.is_missing(geoms)
    # Rows whose geometry could not be parsed were reported by the reader already.
    out.add(
        np.flatnonzero(missing & ~np.isin(np.arange(len(geoms)) + 1, list(unparsed_rows))),
        "缺少几何",
    )
    ok = ~missing
    empty = ok & shapely.is_empty(geoms)
    out.add(np.flatnonzero(empty), "几何为空")
    ok &= ~empty
    type_id = shapely.get_type_id(geoms)
    wrong = ok & ~np.isin(type_id, ACCEPTED_TYPES[kind])
    out.add(
        np.flatnonzero(wrong),
        lambda i: f"几何类型为 {TYPE_ZH.get(type_id[i], '未知')}，{NEEDED_ZH[kind]}",
    )
    ok &= ~wrong
    coords, owner = shapely.get_coordinates(geoms[ok], return_index=True)
    rows_ok = np.flatnonzero(ok)
    bad_rows = np.unique(rows_ok[owner[~np.isfinite(coords).all(axis=1)]])
    out.add(bad_rows, "坐标含 NaN 或无穷大")
    ok[bad_rows] = False
    if is_geographic(crs):
        xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
        xabs, yabs = np.maximum(np.abs(xmin), np.abs(xmax)), np.maximum(np.abs(ymin), np.abs(ymax))
        # Lat/lon written in swapped order stays for the extent check, which names it.
        swapped_lonlat = (yabs <= 180) & (xabs <= 90)
        projected = ok & ((xabs > 180) | (yabs > 90)) & ~swapped_lonlat
        if projected.any():
            first = np.flatnonzero(projected)[0]
            hint = _suggest_crs(geoms[first])
            how = f"按 {describe_crs(crs)} 经纬度读取"
            declared = f"文件未声明坐标系，{how}" if crs_assumed else how
            out.add(
                np.flatnonzero(projected),
                lambda i: (
                    f"坐标值（{xmin[i]:.1f}, {ymin[i]:.1f}）超出经纬度范围，"
                    f"疑似投影坐标（{declared}），请用 --crs 指定坐标系：--crs {hint}"
                ),
            )
            ok &= ~projected
    if kind == "pipelines":
        zero = ok & (shapely.length(geoms) == 0)
        out.add(np.flatnonzero(zero), "线长度为 0（所有点重合）")
        ok &= ~zero
    else:
        _repair_polygons(geoms, ok, out, notes, repair)
    storage = np.full(len(geoms), None, dtype=object)
    storage[ok] = to_storage(geoms[ok], crs)
    _check_extent(geoms, storage, ok, crs, margin_m, out)
    result = np.full(len(geoms), None, dtype=object)
    result[ok] = promote_multi(storage[ok], kind)
    return GeometryCheck(result, out.problems, notes, crs)


def _repair_polygons(
    geoms: np.ndarray, ok: np.ndarray, out: _Collector, notes: list[str], repair: bool
) -> None:
    """Repair (make_valid, polygonal parts only) or reject invalid polygons, in place."""
    invalid = np.flatnonzero(ok & ~shapely.is_valid(geoms))
    for i in invalid:
        reason = shapely.is_valid_reason(geoms[i])
        what = (
            "自相交多边形" if "self-intersection" in reason.lower() else f"无效多边形（{reason}）"
        )
        if not repair:
            out.add([i], f"{what}，已拒绝（可开启修复 repair）")
            ok[i] = False
            continue
        fixed = _polygonal_part(shapely.make_valid(geoms[i]))
        if fixed is None:
            out.add([i], f"{what}，修复后不再是面，已拒绝")
            ok[i] = False
            continue
        geoms[i] = fixed
        label = f"（id={out.ids[i]}）" if out.ids[i] else ""
        notes.append(f"第 {i + 1} 个要素{label}：{what}已修复（make_valid）")


def _polygonal_part(geom):
    """Return the polygons of a geometry as one (Multi)Polygon, or None when there are none."""
    parts = shapely.get_parts(geom)
    while any(p.geom_type in ("GeometryCollection", "MultiPolygon") for p in parts):
        parts = np.concatenate([shapely.get_parts(p) for p in parts])
    polygons = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _check_extent(
    source: np.ndarray,
    storage: np.ndarray,
    ok: np.ndarray,
    crs: CRS | str,
    margin_m: float,
    out: _Collector,
) -> None:
    """Reject features beyond margin_m of the district; detect swapped lat/lon; in place."""
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return
    inside = _all_inside(storage[rows], margin_m)
    outside = rows[~inside]
    if outside.size == 0:
        return
    far_km = _farthest_km(_metric(storage[outside]))
    swapped = np.zeros(outside.size, dtype=bool)
    if is_geographic(crs):
        swapped_storage = to_storage(_swap_xy(source[outside]), crs)
        swapped = _all_inside(swapped_storage, margin_m)
    hint = "" if is_geographic(crs) else _projected_hint(source[outside], crs, margin_m)
    for k, i in enumerate(outside):
        if swapped[k]:
            message = (
                f"疑似经纬度颠倒（坐标写成了 纬度, 经度），交换后位于{district_name()}内；"
                "请改为 经度, 纬度 顺序"
            )
        else:
            where = "" if hint else f"{distance_text(far_km[k])}；"
            message = (
                f"坐标超出{district_name()}范围（边界外扩 {margin_m / 1000:g} km），"
                f"{where}{hint or '请检查坐标系（--crs）'}"
            )
        out.add([i], message)
        ok[i] = False


def distance_text(km: float) -> str:
    """Return how far outside the district a feature lies, never an absurd figure."""
    if not np.isfinite(km) or km > 500:
        return f"远在{district_name()}之外（按此坐标系换算不到合理位置）"
    return f"最远处距区界约 {km:,.1f} km"


def _projected_hint(source: np.ndarray, crs, margin_m: float) -> str:
    """Return what the coordinates of features read in a projected ``crs`` really look like."""
    from layers.io.crs_detect import detect

    given = describe_crs(crs)
    coords = shapely.get_coordinates(source)
    found = detect(source, margin_m)
    if found is not None and found.swapped:
        return (f"疑似 {found.explain()}；请把东坐标（Y）放在前面再导入"
                + ("" if found.crs.epsg == getattr(crs, "to_epsg", lambda: None)()
                   else f"，并使用 --crs EPSG:{found.crs.epsg}"))
    if found is not None:
        return f"按 {given} 读取不对：{found.explain()}；请使用 --crs EPSG:{found.crs.epsg}"
    zone = zone_of_easting(float(np.nanmedian(coords[:, 0]))) if len(coords) else None
    declared = by_epsg(crs.to_epsg() or 0) if hasattr(crs, "to_epsg") else None
    if zone is not None and (declared is None or declared.epsg != zone.epsg):
        return f"东坐标带有带号 {zone.zone}，应按 {zone.label} 读取（--crs EPSG:{zone.epsg}）"
    return ""


def promote_multi(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Return geometries as MultiLineString (pipelines) or MultiPolygon (projects, sites)."""
    single = shapely.get_type_id(geoms) == (_LINE if kind == "pipelines" else _POLYGON)
    build = shapely.multilinestrings if kind == "pipelines" else shapely.multipolygons
    result = geoms.copy()
    if single.any():
        result[single] = build(geoms[single].reshape(-1, 1))
    return result
