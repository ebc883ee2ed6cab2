"""A construction site given on a page: drawn, pasted as coordinates or WKT, or uploaded.

Every way ends in one EPSG:4490 polygon or a list of problems that name where the
input is wrong (the pasted line, the file's row, the point where a drawn boundary
crosses itself), so the page can show them next to the field. Nothing is stored here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import shapely
from shapely import wkt as shapely_wkt
from shapely.errors import ShapelyError
from shapely.geometry import Polygon, shape

from layers.io.crs_input import describe_crs, is_geographic, resolve_crs
from layers.io.errors import FeatureProblem, InputFileError
from layers.io.reader import read_layer
from layers.io.validate import points_inside, to_storage
from layers.services.errors import InvalidRequestError

# Page choices of the coordinate system of pasted or drawn coordinates.
CRS_CHOICES = {
    "cgcs2000": "CGCS2000 经纬度（EPSG:4490，天地图）",
    "wgs84": "WGS 84 经纬度（EPSG:4326，GPS）",
    "gcj02": "GCJ-02 经纬度（高德、腾讯地图）",
    "4549": "CGCS2000 高斯-克吕格 3 度带 CM 120E（EPSG:4549，米）",
}
MAX_VERTICES = 5000
_PAIR = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,，\s]\s*([-+]?\d+(?:\.\d+)?)\s*$")
_CROSSING = re.compile(r"\[([-+0-9.eE]+)\s+([-+0-9.eE]+)\]")


@dataclass(frozen=True)
class SiteProblem:
    """One problem of a site input: where (line or row, point) and what, in Chinese."""

    field: str
    message: str
    line: int | None = None
    location: tuple[float, float] | None = None  # lon/lat (EPSG:4490) of a crossing

    def as_dict(self) -> dict:
        """Return the problem for a JSON answer."""
        return {"field": self.field, "row": self.line, "message": self.message,
                "location": list(self.location) if self.location else None}


class SiteInputError(InvalidRequestError):
    """A site cannot be used; ``site_problems`` say where."""

    def __init__(self, message: str, problems: list[SiteProblem]):
        super().__init__(message)
        self.site_problems = problems
        self.problems = [FeatureProblem(p.line, None, p.field, p.message) for p in problems]


def _crs(name: object):
    key = str(name or "cgcs2000").strip()
    if key not in CRS_CHOICES:
        raise SiteInputError("坐标系无效", [SiteProblem("crs", f"未知坐标系“{key[:40]}”")])
    return resolve_crs(key)


def _fail(field: str, problems: list[SiteProblem]) -> SiteInputError:
    first = problems[0]
    where = f"第 {first.line} 行：" if first.line else ""
    more = f"（共 {len(problems)} 处问题）" if len(problems) > 1 else ""
    return SiteInputError(f"{FIELD_ZH.get(field, field)}有误：{where}{first.message}{more}", problems)


FIELD_ZH = {"site_text": "场地坐标", "site": "绘制的场地", "site_file": "场地文件", "crs": "坐标系"}


def parse_pasted(text: str, crs_name: str | None, *, margin_m: float) -> Polygon:
    """Return the EPSG:4490 polygon of pasted text: one ``lon,lat`` per line, or WKT."""
    crs = _crs(crs_name)
    body = (text or "").strip()
    if not body:
        raise _fail("site_text", [SiteProblem("site_text", "请粘贴场地坐标（每行一个“经度,纬度”或 WKT）")])
    if re.match(r"^(MULTI)?POLYGON\s*\(", body, re.IGNORECASE):
        try:
            geom = shapely_wkt.loads(body)
        except (ShapelyError, ValueError):
            problem = SiteProblem("site_text", "WKT 无法解析（示例：POLYGON((121.4 31.6, …)))")
            raise _fail("site_text", [problem]) from None
        return _checked(geom, crs, "site_text", margin_m)
    points, problems = [], []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        match = _PAIR.match(line)
        if match is None:
            problems.append(SiteProblem("site_text", f"“{line.strip()[:40]}”不是“经度,纬度”格式", number))
            continue
        points.append((number, float(match.group(1)), float(match.group(2))))
    if problems:
        raise _fail("site_text", problems)
    _check_points_inside(points, crs, margin_m)
    coords = [(x, y) for _, x, y in points]
    if len(coords) > 1 and coords[0] == coords[-1]:
        coords.pop()
    if len(set(coords)) < 3:
        raise _fail("site_text", [SiteProblem("site_text", "场地至少需要 3 个不同的顶点")])
    return _checked(Polygon(coords), crs, "site_text", margin_m)


def _check_points_inside(points: list[tuple[int, float, float]], crs, margin_m: float) -> None:
    """Name each pasted line whose point lies outside the district (+ margin)."""
    if is_geographic(crs):
        def why(x: float, y: float) -> str:
            if -90 <= x <= 90 and -180 <= y <= 180:
                return f"坐标（{x}, {y}）疑似经纬度颠倒，请按“经度,纬度”顺序填写"
            return f"坐标（{x}, {y}）超出经纬度范围，请检查坐标系"

        bad = [SiteProblem("site_text", why(x, y), n)
               for n, x, y in points if not (-180 <= x <= 180 and -90 <= y <= 90)]
        if bad:
            raise _fail("site_text", bad)
    xy = shapely.points([(x, y) for _, x, y in points])
    stored = shapely.get_coordinates(to_storage(np.asarray(xy, dtype=object), crs))
    inside = points_inside(stored[:, 0], stored[:, 1], margin_m)
    problems = []
    for (n, x, y), ok in zip(points, inside, strict=True):
        if not ok:
            flipped = shapely.get_coordinates(
                to_storage(np.asarray([shapely.Point(y, x)], dtype=object), crs))
            swapped = is_geographic(crs) and bool(
                points_inside(flipped[:, 0], flipped[:, 1], margin_m)[0])
            hint = "疑似经纬度颠倒，请按“经度,纬度”顺序" if swapped else (
                f"请检查坐标系（当前按 {describe_crs(crs)}）")
            problems.append(SiteProblem(
                "site_text", f"坐标（{x}, {y}）位于崇明区以外（区界外扩 {margin_m / 1000:g} km）；{hint}", n))
    if problems:
        raise _fail("site_text", problems)


def parse_drawn(geometry: object, *, margin_m: float) -> Polygon:
    """Return the EPSG:4490 polygon of a site drawn on the page's map (GeoJSON, lon/lat)."""
    try:
        geom = shape(geometry)  # type: ignore[arg-type]
    except (AttributeError, KeyError, TypeError, ValueError, ShapelyError):
        raise _fail("site", [SiteProblem("site", "场地几何无法解析（需要 GeoJSON 面）")]) from None
    return _checked(geom, resolve_crs("cgcs2000"), "site", margin_m)


def _checked(geom, crs, field: str, margin_m: float):
    """Check type, size, self-intersection and extent; return the geometry in EPSG:4490."""
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise _fail(field, [SiteProblem(field, "场地须为面（至少 3 个顶点围成）")])
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise _fail(field, [SiteProblem(field, f"顶点过多（最多 {MAX_VERTICES} 个）")])
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise _fail(field, [SiteProblem(field, "坐标含无效数值")])
    stored = to_storage(np.asarray([geom], dtype=object), crs)[0]
    if not stored.is_valid:
        raise _fail(field, [_invalid_problem(stored, field)])
    if stored.area == 0:
        raise _fail(field, [SiteProblem(field, "场地面积为 0（顶点共线）")])
    coords = shapely.get_coordinates(stored)
    outside = ~points_inside(coords[:, 0], coords[:, 1], margin_m)
    if outside.any():
        x, y = coords[np.flatnonzero(outside)[0]]
        raise _fail(field, [SiteProblem(
            field, f"场地有 {int(outside.sum())} 个顶点位于崇明区以外（区界外扩 {margin_m / 1000:g} km），"
                   f"如（{x:.6f}, {y:.6f}）", location=(float(x), float(y)))])
    return stored


def _invalid_problem(geom, field: str) -> SiteProblem:
    reason = shapely.is_valid_reason(geom)
    match = _CROSSING.search(reason)
    location = (float(match.group(1)), float(match.group(2))) if match else None
    if "self-intersection" in reason.lower() or "ring self" in reason.lower():
        where = f"（交叉点约在 经度 {location[0]:.6f}，纬度 {location[1]:.6f}）" if location else ""
        return SiteProblem(field, f"场地边界自相交{where}；请拖动顶点使边界不交叉", location=location)
    return SiteProblem(field, f"场地几何无效（{reason}）", location=location)


def parse_file(path: Path, crs_name: str | None, *, margin_m: float) -> Polygon:
    """Return the one site polygon of an uploaded file (``gisapp import`` formats)."""
    crs = None if not crs_name or crs_name == "auto" else crs_name
    if crs is not None:
        _crs(crs)
    try:
        result = read_layer(path, "sites", crs=crs, margin_m=margin_m, repair=False,
                            max_bytes=50_000_000)
    except InputFileError as err:
        problems = [SiteProblem("site_file", p.message if p.field in (None, "geometry") else
                                f"字段 {p.field}：{p.message}", p.row) for p in err.problems]
        raise _fail("site_file", problems or [SiteProblem("site_file", str(err))]) from None
    geoms = [g for g in result.frame.geometry if g is not None]
    if len(geoms) != 1:
        raise _fail("site_file", [SiteProblem(
            "site_file", f"文件含 {len(geoms)} 个场地；新建项目只能上传 1 个场地（批量登记请用导入功能）")])
    geom = geoms[0]
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return geom
