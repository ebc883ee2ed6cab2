"""Bad input files: each must raise InputFileError naming the file, feature/field and problem."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

import geopandas as gpd
import pyogrio
from shapely.geometry import LineString, Polygon

from layers.io import FeatureProblem, InputFileError, read_layer
from spatial_rules.errors import DomainError

X, Y = 121.50, 31.60  # inside Chongming


def line(x: float = X, y: float = Y) -> dict:
    return {"type": "LineString", "coordinates": [[x, y], [x + 0.01, y + 0.005]]}


def square(x: float = X, y: float = Y, d: float = 0.005) -> dict:
    ring = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def pipe(i: int, **overrides) -> dict:
    props = {"id": f"P-{i}", "pressure_class": "中压A", "outer_diameter_mm": 200}
    props.update(overrides)
    return props


def project(i: int, **overrides) -> dict:
    props = {"id": f"J-{i}", "name": f"项目{i}", "kind": "房屋建筑", "status": "在建"}
    props.update(overrides)
    return props


def geojson(path: Path, features: list[tuple[dict, dict | None]]) -> Path:
    fc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def good_pipes(path: Path, n: int = 3) -> Path:
    return geojson(path, [(pipe(i), line(X + i * 0.01)) for i in range(1, n + 1)])


def shapefile_files(folder: Path) -> list[Path]:
    gdf = gpd.GeoDataFrame(
        {"id": ["P-1"], "压力级制": ["中压A"], "管径": [200.0]},
        geometry=[LineString([(X, Y), (X + 0.01, Y)])],
        crs=4490,
    )
    pyogrio.write_dataframe(gdf, folder / "pipes.shp", encoding="GBK")
    return sorted(folder.glob("pipes.*"))


def zip_with(path: Path, extra: dict[str, bytes], *, with_shapefile: bool = True) -> Path:
    folder = path.parent / "shp_src"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if with_shapefile:
            for f in shapefile_files(folder):
                zf.write(f, f.name)
        for name, data in extra.items():
            zf.writestr(name, data)
    return path


# Each case: build(tmp_path) -> (path, read_layer kwargs); expected substrings of str(err).
def case_missing_file(t):
    return t / "nowhere.geojson", {}


def case_unknown_extension(t):
    (t / "pipes.txt").write_text("x")
    return t / "pipes.txt", {}


def case_vrt(t):
    (t / "evil.vrt").write_text(
        "<OGRVRTDataSource><OGRVRTLayer name='p'><SrcDataSource>/etc/passwd"
        "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )
    return t / "evil.vrt", {}


def case_vrt_named_json(t):
    (t / "evil.geojson").write_text("<OGRVRTDataSource></OGRVRTDataSource>")
    return t / "evil.geojson", {}


def case_vsicurl(t):
    return "/vsicurl/http://example.com/pipes.geojson", {}


def case_url(t):
    return "https://example.com/pipes.geojson", {}


def case_zip_traversal(t):
    return zip_with(t / "traversal.zip", {"../../evil.txt": b"x"}), {}


def case_zip_absolute(t):
    return zip_with(t / "absolute.zip", {"/etc/cron.d/evil": b"x"}), {}


def case_zip_bomb(t):
    zeros = b"\0" * 20_000_000
    return zip_with(t / "bomb.zip", {"padding.dbf": zeros}), {"max_bytes": 5_000_000}


def case_zip_nested(t):
    return zip_with(t / "nested.zip", {"inner.zip": b"PK\x05\x06" + b"\0" * 18}), {}


def case_zip_symlink(t):
    path = zip_with(t / "symlink.zip", {})
    info = zipfile.ZipInfo("link.dbf")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    return path, {}


def case_zip_too_many_members(t):
    members = {f"part{i}.txt": b"" for i in range(1001)}
    return zip_with(t / "many.zip", members), {}


def case_zip_without_shp(t):
    return zip_with(t / "noshp.zip", {"readme.txt": b"hello"}, with_shapefile=False), {}


def case_too_large(t):
    return good_pipes(t / "large.geojson"), {"max_bytes": 100}


def case_json_syntax(t):
    path = good_pipes(t / "syntax.geojson")
    text = path.read_text(encoding="utf-8").replace('"features": [', '"features": [\n\n{,', 1)
    path.write_text(text, encoding="utf-8")
    return path, {}


def case_unknown_crs(t):
    return good_pipes(t / "crs.geojson"), {"crs": "EPSG:999999"}


def case_missing_geometry(t):
    return geojson(t / "nogeom.geojson", [(pipe(1), line()), (pipe(2), None)]), {}


def case_bad_wkt(t):
    path = t / "wkt.csv"
    path.write_text(
        "id,pressure_class,outer_diameter_mm,wkt\n"
        f'P-1,中压A,200,"LINESTRING ({X} {Y}, {X + 0.01} {Y})"\n'
        f'P-2,中压A,200,"LINESTRIN ({X} {Y}, {X + 0.01} {Y})"\n',
        encoding="utf-8",
    )
    return path, {}


def case_empty_geometry(t):
    empty = {"type": "LineString", "coordinates": []}
    return geojson(t / "empty.geojson", [(pipe(1), line()), (pipe(2), empty)]), {}


def case_point_for_pipeline(t):
    point = {"type": "Point", "coordinates": [X, Y]}
    return geojson(t / "point.geojson", [(pipe(1), point)]), {}


def case_line_for_sites(t):
    return geojson(t / "sites.geojson", [({"id": "S-1"}, line())]), {"kind": "sites"}


def case_self_intersecting_rejected(t):
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[X, Y], [X + 0.01, Y + 0.01], [X + 0.01, Y], [X, Y + 0.01], [X, Y]]],
    }
    path = geojson(t / "bowtie.geojson", [(project(1), square()), (project(2), bowtie)])
    return path, {"kind": "projects", "repair": False}


def case_swapped(t):
    swapped = {"type": "LineString", "coordinates": [[Y, X], [Y + 0.005, X + 0.01]]}
    return geojson(t / "swapped.geojson", [(pipe(1), line()), (pipe(2), swapped)]), {}


def case_outside(t):
    return geojson(t / "outside.geojson", [(pipe(1), line(120.40, 31.20))]), {}


def case_projected_without_crs(t):
    gk = {"type": "LineString", "coordinates": [[647000.0, 3498000.0], [647100.0, 3498050.0]]}
    return geojson(t / "projected.geojson", [(pipe(1), gk)]), {}


def case_missing_id(t):
    props = pipe(2)
    props["id"] = None
    return geojson(t / "noid.geojson", [(pipe(1), line()), (props, line())]), {}


def case_duplicate_id(t):
    return geojson(t / "dup.geojson", [(pipe(1), line()), (pipe(2), line()), (pipe(1), line())]), {}


def case_missing_pressure(t):
    props = pipe(2, pressure_class=None)
    return geojson(t / "nopressure.geojson", [(pipe(1), line()), (props, line())]), {}


def case_missing_diameter(t):
    props = pipe(5, outer_diameter_mm=None)
    return geojson(
        t / "nodiam.geojson", [(pipe(i), line()) for i in range(1, 5)] + [(props, line())]
    ), {}


def case_bad_number(t):
    return geojson(t / "num.geojson", [(pipe(1, outer_diameter_mm="abc"), line())]), {}


def case_diameter_range(t):
    return geojson(t / "range.geojson", [(pipe(1, outer_diameter_mm=3500), line())]), {}


def case_bad_date(t):
    props = project(1, start_date="2025-13-45")
    return geojson(t / "date.geojson", [(props, square())]), {"kind": "projects"}


def case_bad_enum(t):
    props = project(1, status="在建中")
    return geojson(t / "enum.geojson", [(props, square())]), {"kind": "projects"}


def case_bad_bool(t):
    props = project(1, hazardous="也许")
    return geojson(t / "bool.geojson", [(props, square())]), {"kind": "projects"}


def case_pressure_disagrees(t):
    props = pipe(1, design_pressure_mpa=1.2)
    return geojson(t / "disagree.geojson", [(props, line())]), {}


def case_not_utf8_nor_gbk(t):
    path = t / "binary.csv"
    path.write_bytes(b"id,wkt\nP-1,\xff\xfe\xff LINESTRING\n")
    return path, {}


def case_nan_coordinates(t):
    path = t / "nan.csv"
    path.write_text(
        "id,pressure_class,outer_diameter_mm,wkt\n"
        f'P-1,中压A,200,"LINESTRING ({X} {Y}, {X + 0.01} NaN)"\n',
        encoding="utf-8",
    )
    return path, {}


def case_zero_features(t):
    return geojson(t / "zero.geojson", []), {}


def case_points_csv(t):
    path = t / "points.csv"
    path.write_text(f"id,pressure_class,outer_diameter_mm,lon,lat\nP-1,中压A,200,{X},{Y}\n")
    return path, {}


def case_csv_without_geometry(t):
    path = t / "nogeometry.csv"
    path.write_text("id,pressure_class,outer_diameter_mm\nP-1,中压A,200\n")
    return path, {}


def case_gpkg_many_layers(t):
    path = t / "two.gpkg"
    gdf = gpd.GeoDataFrame(
        {"id": ["P-1"]}, geometry=[LineString([(X, Y), (X + 0.01, Y)])], crs=4490
    )
    pyogrio.write_dataframe(gdf, path, layer="mains")
    pyogrio.write_dataframe(gdf, path, layer="services", append=False)
    return path, {}


def case_shp_without_dbf(t):
    files = shapefile_files(t)
    next(f for f in files if f.suffix == ".dbf").unlink()
    return t / "pipes.shp", {}


def case_field_map_unknown_target(t):
    return good_pipes(t / "map.geojson"), {"field_map": {"outer_diameter_mm": "diameter_inch"}}


def case_project_missing_column(t):
    props = {"id": "J-1", "name": "项目1", "status": "在建"}
    return geojson(t / "nokind.geojson", [(props, square())]), {"kind": "projects"}


def case_polygon_repair_degenerate(t):
    flat = {"type": "Polygon", "coordinates": [[[X, Y], [X + 0.01, Y], [X + 0.02, Y], [X, Y]]]}
    return geojson(t / "flat.geojson", [({"id": "S-1"}, flat)]), {"kind": "sites"}


def case_bad_encoding_name(t):
    return good_pipes(t / "enc.geojson"), {"encoding": "klingon-8"}


def case_negative_pressure(t):
    props = pipe(1, pressure_class=None, design_pressure_mpa=-0.2)
    return geojson(t / "negative.geojson", [(props, line())]), {}


CASES = [
    (case_missing_file, ["nowhere.geojson", "文件不存在"]),
    (case_unknown_extension, ["pipes.txt", "不支持的文件格式", ".txt"]),
    (case_vrt, ["evil.vrt", "不接受 GDAL 虚拟数据集"]),
    (case_vrt_named_json, ["evil.geojson", "与扩展名不符"]),
    (case_vsicurl, ["pipes.geojson", "/vsicurl/", "不接受 GDAL 虚拟路径"]),
    (case_url, ["pipes.geojson", "网址"]),
    (case_zip_traversal, ["traversal.zip", "../../evil.txt", "路径穿越"]),
    (case_zip_absolute, ["absolute.zip", "/etc/cron.d/evil", "绝对路径"]),
    (case_zip_bomb, ["bomb.zip", "padding.dbf", "zip 炸弹", "超过上限"]),
    (case_zip_nested, ["nested.zip", "inner.zip", "嵌套"]),
    (case_zip_symlink, ["symlink.zip", "link.dbf", "符号链接"]),
    (case_zip_too_many_members, ["many.zip", "超过上限 1000"]),
    (case_zip_without_shp, ["noshp.zip", "没有 .shp"]),
    (case_too_large, ["large.geojson", "超过上限"]),
    (case_json_syntax, ["syntax.geojson", "JSON 语法错误", "第 3 行"]),
    (case_unknown_crs, ["crs.geojson", "crs", "EPSG:999999"]),
    (case_missing_geometry, ["nogeom.geojson", "第 2 个要素（id=P-2）字段 geometry：缺少几何"]),
    (case_bad_wkt, ["wkt.csv", "第 2 个要素（id=P-2）字段 wkt", "WKT 无法解析", "LINESTRIN ("]),
    (case_empty_geometry, ["empty.geojson", "第 2 个要素（id=P-2）字段 geometry：几何为空"]),
    (
        case_point_for_pipeline,
        ["point.geojson", "（id=P-1）字段 geometry", "点（Point）", "管道需要线要素"],
    ),
    (case_line_for_sites, ["sites.geojson", "（id=S-1）", "线（LineString）", "需要面要素"]),
    (
        case_self_intersecting_rejected,
        ["bowtie.geojson", "第 2 个要素（id=J-2）", "自相交多边形，已拒绝"],
    ),
    (case_swapped, ["swapped.geojson", "第 2 个要素（id=P-2）", "疑似经纬度颠倒"]),
    (case_outside, ["outside.geojson", "（id=P-1）", "超出崇明区范围", " km"]),
    (
        case_projected_without_crs,
        ["projected.geojson", "（id=P-1）", "疑似投影坐标", "--crs EPSG:45"],
    ),
    (case_missing_id, ["noid.geojson", "第 2 个要素 字段 external_code（列“id”）：缺少管道编号"]),
    (case_duplicate_id, ["dup.geojson", "第 3 个要素（id=P-1）", "编号重复", "第 1 个要素"]),
    (
        case_missing_pressure,
        ["nopressure.geojson", "第 2 个要素（id=P-2）字段 pressure_class", "缺少压力"],
    ),
    (
        case_missing_diameter,
        ["nodiam.geojson", "第 5 个要素（id=P-5）字段 outer_diameter_mm", "缺少管径"],
    ),
    (case_bad_number, ["num.geojson", "（id=P-1）字段 outer_diameter_mm", "值“abc”不是数字"]),
    (
        case_diameter_range,
        ["range.geojson", "（id=P-1）字段 outer_diameter_mm", "3500", "超出范围"],
    ),
    (case_bad_date, ["date.geojson", "（id=J-1）字段 start_date", "2025-13-45", "不是日期"]),
    (case_bad_enum, ["enum.geojson", "（id=J-1）字段 status", "在建中", "不是有效取值"]),
    (case_bad_bool, ["bool.geojson", "（id=J-1）字段 hazardous", "也许"]),
    (
        case_pressure_disagrees,
        ["disagree.geojson", "（id=P-1）字段 pressure_class", "中压A", "1.2 MPa", "不一致"],
    ),
    (case_not_utf8_nor_gbk, ["binary.csv", "不是 UTF-8", "GBK", "第 2 行", "字节偏移"]),
    (case_nan_coordinates, ["nan.csv", "（id=P-1）字段 geometry", "NaN"]),
    (case_zero_features, ["zero.geojson", "没有要素"]),
    (case_points_csv, ["points.csv", "管道需要线要素", "lon/lat", "wkt"]),
    (case_csv_without_geometry, ["nogeometry.csv", "缺少几何列"]),
    (case_gpkg_many_layers, ["two.gpkg", "多个图层", "mains", "services"]),
    (case_shp_without_dbf, ["pipes.shp", "缺少配套文件", ".dbf"]),
    (
        case_field_map_unknown_target,
        ["map.geojson", "outer_diameter_mm", "diameter_inch", "不是已知字段"],
    ),
    (case_project_missing_column, ["nokind.geojson", "字段 kind", "缺少必需的列"]),
    (case_polygon_repair_degenerate, ["flat.geojson", "（id=S-1）字段 geometry", "修复后不再是面"]),
    (case_bad_encoding_name, ["enc.geojson", "klingon-8", "无法识别的文本编码"]),
    (case_negative_pressure, ["negative.geojson", "（id=P-1）字段 design_pressure_mpa", "负数"]),
]


@pytest.mark.parametrize(("build", "expected"), CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, build, expected):
    path, kwargs = build(tmp_path)
    kind = kwargs.pop("kind", "pipelines")
    with pytest.raises(InputFileError) as info:
        read_layer(path, kind, **kwargs)
    err = info.value
    assert isinstance(err, DomainError)
    message = str(err)
    assert message.startswith(f"文件 {Path(str(path)).name}：")
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"
    assert err.problems and all(isinstance(p, FeatureProblem) for p in err.problems)
    assert "Traceback" not in message


def test_all_problems_collected_in_one_pass(tmp_path):
    features = [(pipe(1), line())]
    features += [(pipe(i, outer_diameter_mm=None), line()) for i in range(2, 27)]
    features += [(pipe(27, pressure_class="超超压"), line()), (pipe(28), None)]
    err = _error(geojson(tmp_path / "many.geojson", features))
    rows = {p.row for p in err.problems}
    assert rows == set(range(2, 29))
    assert len(err.problems) == 27
    message = str(err)
    assert "……共 27 处问题" in message
    assert len(message.splitlines()) == 1 + 20 + 1
    by_row = {p.row: p for p in err.problems}
    assert by_row[27].field == "pressure_class" and "超超压" in by_row[27].message
    assert by_row[28].field == "geometry" and by_row[28].feature_id == "P-28"


def test_feature_problem_text():
    assert str(FeatureProblem(5, "P-5", "outer_diameter_mm", "缺少管径")) == (
        "第 5 个要素（id=P-5）字段 outer_diameter_mm：缺少管径"
    )
    assert str(FeatureProblem(None, None, None, "文件为空")) == "文件为空"


def test_repair_false_vs_true(tmp_path):
    bowtie = Polygon([(X, Y), (X + 0.01, Y + 0.01), (X + 0.01, Y), (X, Y + 0.01)])
    path = geojson(
        tmp_path / "b.geojson",
        [(project(1), json.loads(gpd.GeoSeries([bowtie]).to_json())["features"][0]["geometry"])],
    )
    with pytest.raises(InputFileError):
        read_layer(path, "projects", repair=False)
    result = read_layer(path, "projects", repair=True)
    geom = result.frame.geometry.iloc[0]
    assert geom.geom_type == "MultiPolygon" and geom.is_valid and len(geom.geoms) == 2
    assert any("第 1 个要素（id=J-1）：自相交多边形已修复（make_valid）" in n for n in result.notes)


def _error(path: Path, kind: str = "pipelines", **kwargs) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_layer(path, kind, **kwargs)
    return info.value
