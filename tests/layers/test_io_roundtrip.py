"""Reading real-world files and writing them back: formats, encodings, field mapping, GCJ-02."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geopandas as gpd
import pyogrio
import shapely
from shapely.geometry import LineString, Polygon

from layers.io import InputFileError, read_layer, resolve_crs, write_layer
from layers.io.crs_input import GCJ02
from spatial_rules.crs import to_metric
from spatial_rules.gcj02 import wgs84_to_gcj02

X, Y = 121.50, 31.60  # inside Chongming


def pipelines_frame() -> gpd.GeoDataFrame:
    lines = [
        LineString([(X, Y), (X + 0.0123456789, Y + 0.00456789)]),
        LineString([(X + 0.02, Y), (X + 0.03, Y + 0.001), (X + 0.031, Y + 0.002)]),
        LineString([(X + 0.05, Y + 0.01), (X + 0.06, Y + 0.011)]),
    ]
    return gpd.GeoDataFrame(
        {
            "id": ["CM-001", "CM-002", "CM-003"],
            "名称": ["陈家镇中压干管", "城桥镇低压支管", None],
            "权属单位": ["上海燃气崇明有限公司", "上海燃气崇明有限公司", "崇明天然气"],
            "压力级制": ["中压A", None, "次高压B"],
            "设计压力": [0.3, 0.005, None],
            "管径": [315.0, 110.0, 508.0],
            "材质": ["PE", "PE", "钢"],
            "状态": ["在役", "规划", "in_service"],
        },
        geometry=lines,
        crs=4326,
    )


def projects_frame() -> gpd.GeoDataFrame:
    def square(x, y, d=0.004):
        return Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])

    return gpd.GeoDataFrame(
        {
            "id": ["XM-1", "XM-2"],
            "项目名称": ["长兴岛住宅", "燃气管网改造"],
            "项目类型": ["房屋建筑", "燃气工程"],
            "建设单位": ["崇明建设集团", "上海燃气"],
            "施工单位": ["某建筑公司", None],
            "监理单位": ["某监理", "某监理"],
            "乡镇": ["长兴镇", "城桥镇"],
            "开工日期": ["2025-03-01", "2025/4/15"],
            "状态": ["在建", "竣工"],
            "危大工程": ["是", "否"],
            "纳入监管": [None, "true"],
        },
        geometry=[square(X, Y), square(X + 0.02, Y + 0.01)],
        crs=4326,
    )


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> Path:
    path.write_text(frame.to_json(ensure_ascii=False), encoding="utf-8")
    return path


def assert_same_features(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.index) == list(b.index)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )
    # normalize: a Shapefile writer turns polygon rings clockwise, the same polygon
    ga, gb = shapely.normalize(a.geometry.values), shapely.normalize(b.geometry.values)
    assert shapely.equals_exact(ga, gb, tolerance=1e-12).all()
    assert b.crs.to_epsg() == 4490


def test_pipelines_aliases_and_values(tmp_path):
    result = read_layer(write_geojson(pipelines_frame(), tmp_path / "管网.geojson"), "pipelines")
    frame = result.frame
    assert list(frame.index) == [1, 2, 3]
    assert frame.crs.to_epsg() == 4490
    assert list(frame["external_code"]) == ["CM-001", "CM-002", "CM-003"]
    # class filled from the pressure when only the pressure is given
    assert list(frame["pressure_class"]) == ["medium_a", "low", "subhigh_b"]
    assert frame.loc[3, "design_pressure_mpa"] != frame.loc[3, "design_pressure_mpa"]  # NaN kept
    assert list(frame["status"]) == ["in_service", "planned", "in_service"]
    assert frame.loc[1, "owner"] == "上海燃气崇明有限公司"
    assert frame.loc[2, "name"] == "城桥镇低压支管" and frame.loc[3, "name"] is None
    assert (frame.geometry.geom_type == "MultiLineString").all()
    assert result.source_crs == "EPSG:4326"


def test_projects_values(tmp_path):
    result = read_layer(write_geojson(projects_frame(), tmp_path / "p.geojson"), "projects")
    frame = result.frame
    assert list(frame["kind"]) == ["housing", "gas_engineering"]
    assert list(frame["status"]) == ["under_construction", "completed"]
    assert frame.loc[1, "start_date"] == dt.date(2025, 3, 1)
    assert frame.loc[2, "start_date"] == dt.date(2025, 4, 15)
    assert frame.loc[1, "hazardous"] is True and frame.loc[2, "hazardous"] is False
    assert frame.loc[1, "under_supervision"] is None and frame.loc[2, "under_supervision"] is True
    assert frame.loc[2, "contractor"] is None
    assert (frame.geometry.geom_type == "MultiPolygon").all()
    assert list(frame.columns[:2]) == ["registration_code", "name"]


def test_sites_keep_only_present_fields(tmp_path):
    frame = projects_frame()[["id", "项目名称", "geometry"]]
    result = read_layer(write_geojson(frame, tmp_path / "s.geojson"), "sites")
    assert list(result.frame.columns) == ["registration_code", "name", "geometry"]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".csv", ".kml", ".zip"])
@pytest.mark.parametrize("kind", ["pipelines", "projects"])
def test_write_then_read_gives_identical_features(tmp_path, suffix, kind):
    source = pipelines_frame() if kind == "pipelines" else projects_frame()
    first = read_layer(write_geojson(source, tmp_path / "in.geojson"), kind).frame
    target = write_layer(first, tmp_path / f"out{suffix}")
    second = read_layer(target, kind).frame
    assert_same_features(first, second)


def test_geojson_output_is_rfc7946(tmp_path):
    first = read_layer(write_geojson(pipelines_frame(), tmp_path / "in.geojson"), "pipelines").frame
    data = json.loads(write_layer(first, tmp_path / "out.geojson").read_text(encoding="utf-8"))
    assert "crs" not in data
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert (lon, lat) == (X, Y)


def test_csv_output_has_wkt_column(tmp_path):
    first = read_layer(write_geojson(pipelines_frame(), tmp_path / "in.geojson"), "pipelines").frame
    table = pd.read_csv(write_layer(first, tmp_path / "out.csv"), encoding="utf-8-sig")
    assert "wkt" in table.columns and not {"lon", "lat"} & set(table.columns)
    assert table["wkt"][0].startswith("MULTILINESTRING")


def test_write_unknown_extension(tmp_path):
    first = read_layer(write_geojson(pipelines_frame(), tmp_path / "in.geojson"), "pipelines").frame
    with pytest.raises(InputFileError, match="out.dwg"):
        write_layer(first, tmp_path / "out.dwg")


@pytest.mark.parametrize("encoding, cpg, codec", [(None, "GBK", "gbk"), ("utf-8", "UTF-8", "utf-8")])
def test_shapefile_out_encoding_and_cpg(tmp_path, encoding, cpg, codec):
    first = read_layer(write_geojson(projects_frame(), tmp_path / "in.geojson"), "projects").frame
    target = write_layer(first, tmp_path / "out.zip", encoding=encoding)
    with zipfile.ZipFile(target) as archive:
        assert archive.read("out.cpg").decode("ascii") == cpg
        dbf = archive.read("out.dbf")
    name = first["name"].iloc[0]
    assert name.encode(codec) in dbf
    assert_same_features(first, read_layer(target, "projects").frame)


@pytest.mark.parametrize("chinese_crs", ["gcj02", "bd09"])
def test_kml_out_in_chinese_map_coordinates_reads_back(tmp_path, chinese_crs):
    first = read_layer(write_geojson(projects_frame(), tmp_path / "in.geojson"), "projects").frame
    target = write_layer(first, tmp_path / "out.kml", crs=chinese_crs)
    assert "<Placemark><name>" in target.read_text(encoding="utf-8")
    shifted = read_layer(target, "projects").frame  # read as WGS 84: hundreds of metres off
    assert shifted.geometry.iloc[0].hausdorff_distance(first.geometry.iloc[0]) > 0.003
    back = read_layer(target, "projects", crs=chinese_crs).frame
    for a, b in zip(first.geometry, back.geometry, strict=True):
        assert a.hausdorff_distance(b) < 1e-8
    with pytest.raises(InputFileError, match="--crs"):
        write_layer(first, tmp_path / "bad.kml", crs="4549")


@pytest.mark.parametrize("cpg", ["GBK", "936", None])
def test_zipped_shapefile_gbk(tmp_path, cpg):
    source = pipelines_frame()
    expected = read_layer(write_geojson(source, tmp_path / "in.geojson"), "pipelines").frame
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(source, folder / "管网.shp", encoding="GBK")
    dbf = (folder / "管网.dbf").read_bytes()
    assert "陈家镇".encode("gbk") in dbf and "陈家镇".encode() not in dbf
    cpg_file = folder / "管网.cpg"
    if cpg is None:
        cpg_file.unlink()
    else:
        cpg_file.write_text(cpg)
    archive = tmp_path / "管网.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in folder.iterdir():
            zf.write(f, f"data/{f.name}")
    result = read_layer(archive, "pipelines")
    assert_same_features(expected, result.frame)
    assert result.frame.loc[1, "name"] == "陈家镇中压干管"
    if cpg is None:
        assert any("GB18030" in n for n in result.notes)


def test_plain_shapefile_and_encoding_override(tmp_path):
    source = pipelines_frame()
    pyogrio.write_dataframe(source, tmp_path / "p.shp", encoding="GBK")
    (tmp_path / "p.cpg").write_text("UTF-8")  # a wrong .cpg: the override wins
    with pytest.raises(InputFileError, match="UTF-8"):
        read_layer(tmp_path / "p.shp", "pipelines")
    frame = read_layer(tmp_path / "p.shp", "pipelines", encoding="gbk").frame
    assert frame.loc[3, "owner"] == "崇明天然气"


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_encodings(tmp_path, encoding):
    expected = read_layer(write_geojson(pipelines_frame(), tmp_path / "in.geojson"), "pipelines")
    table = pd.DataFrame(pipelines_frame().drop(columns="geometry"))
    table["WKT"] = shapely.to_wkt(pipelines_frame().geometry.values, rounding_precision=-1)
    path = tmp_path / "管网.csv"
    table.to_csv(path, index=False, encoding=encoding)
    result = read_layer(path, "pipelines")
    assert_same_features(expected.frame, result.frame)
    assert any("GB18030" in n for n in result.notes) == (encoding == "gbk")


def test_gbk_geojson(tmp_path):
    path = tmp_path / "gbk.geojson"
    path.write_bytes(pipelines_frame().to_json(ensure_ascii=False).encode("gbk"))
    frame = read_layer(path, "pipelines").frame
    assert frame.loc[1, "name"] == "陈家镇中压干管"


def test_gpkg_layer_choice(tmp_path):
    path = tmp_path / "two.gpkg"
    source = pipelines_frame()
    pyogrio.write_dataframe(source, path, layer="mains")
    pyogrio.write_dataframe(source.iloc[:1], path, layer="services")
    assert len(read_layer(path, "pipelines", layer="services").frame) == 1
    with pytest.raises(InputFileError, match="没有图层“nope”"):
        read_layer(path, "pipelines", layer="nope")


def test_user_field_map_before_aliases(tmp_path):
    frame = pipelines_frame().rename(columns={"管径": "DN_外径", "id": "管线代码"})
    path = write_geojson(frame, tmp_path / "m.geojson")
    with pytest.raises(InputFileError, match="缺少必需的列"):
        read_layer(path, "pipelines")
    result = read_layer(
        path, "pipelines", field_map={"DN_外径": "outer_diameter_mm", "管线代码": "id"}
    )
    assert list(result.frame["outer_diameter_mm"]) == [315.0, 110.0, 508.0]
    assert list(result.frame["external_code"]) == ["CM-001", "CM-002", "CM-003"]


def test_field_map_overrides_alias(tmp_path):
    # 名称 is the built-in alias of name; the user says 名称 is the owner instead.
    frame = pipelines_frame().drop(columns=["权属单位"])
    path = write_geojson(frame, tmp_path / "o.geojson")
    result = read_layer(path, "pipelines", field_map={"名称": "owner"})
    assert result.frame.loc[1, "owner"] == "陈家镇中压干管"
    assert result.frame.loc[1, "name"] is None


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_truncated_shapefile_names(tmp_path):
    first = read_layer(write_geojson(projects_frame(), tmp_path / "in.geojson"), "projects").frame
    plain = first.drop(columns="geometry").copy()
    for column in ("start_date", "supervised_since", "planned_completion_date"):
        plain[column] = plain[column].map(lambda d: d.isoformat() if d else None)
    for column in ("hazardous", "insured", "under_supervision"):
        plain[column] = plain[column].map(lambda b: None if b is None else int(b))
    shp = gpd.GeoDataFrame(plain, geometry=first.geometry.values, crs=4490)
    pyogrio.write_dataframe(shp, tmp_path / "p.shp", encoding="UTF-8")
    result = read_layer(tmp_path / "p.shp", "projects").frame
    assert_same_features(first, result)


def gcj_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    wgs = np.array([[X, Y], [X + 0.01, Y + 0.005]])
    glon, glat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    gcj = LineString(np.column_stack([glon, glat]))
    frame = gpd.GeoDataFrame(
        {"id": ["G-1"], "pressure_class": ["中压A"], "outer_diameter_mm": [200]},
        geometry=[gcj],
        crs=4326,
    )
    return write_geojson(frame, tmp_path / "amap.geojson"), wgs


def test_gcj02_converted(tmp_path):
    path, wgs = gcj_file(tmp_path)
    as_gcj = read_layer(path, "pipelines", crs="gcj02")
    as_wgs = read_layer(path, "pipelines")
    assert as_gcj.source_crs == "GCJ-02"
    got = shapely.get_coordinates(as_gcj.frame.geometry.values)
    raw = shapely.get_coordinates(as_wgs.frame.geometry.values)
    mx, my = to_metric().transform(got[:, 0], got[:, 1])
    ex, ey = to_metric().transform(wgs[:, 0], wgs[:, 1])
    rx, ry = to_metric().transform(raw[:, 0], raw[:, 1])
    assert np.hypot(mx - ex, my - ey).max() < 0.001  # within 1 mm of the true WGS84 point
    shift = np.hypot(rx - mx, ry - my)
    assert (shift > 400).all() and (shift < 550).all()  # the ~470 m GCJ-02 offset


def test_resolve_crs():
    assert resolve_crs("EPSG:4326").to_epsg() == 4326
    assert resolve_crs("4490").to_epsg() == 4490
    assert resolve_crs("epsg:4549").to_epsg() == 4549
    assert resolve_crs("cgcs2000").to_epsg() == 4490
    assert resolve_crs("WGS84").to_epsg() == 4326
    assert resolve_crs("gcj02") == GCJ02
    with pytest.raises(InputFileError, match="火星"):
        resolve_crs("火星2")


def test_projected_crs_override(tmp_path):
    first = read_layer(write_geojson(pipelines_frame(), tmp_path / "in.geojson"), "pipelines").frame
    projected = first.to_crs(4549)
    table = pd.DataFrame(projected.drop(columns="geometry"))
    table["wkt"] = shapely.to_wkt(projected.geometry.values, rounding_precision=-1)
    table.to_csv(tmp_path / "gk.csv", index=False)
    with pytest.raises(InputFileError, match="--crs EPSG:4549"):
        read_layer(tmp_path / "gk.csv", "pipelines")
    result = read_layer(tmp_path / "gk.csv", "pipelines", crs="EPSG:4549")
    assert result.source_crs == "EPSG:4549"
    a = shapely.get_coordinates(first.geometry.values)
    b = shapely.get_coordinates(result.frame.geometry.values)
    assert np.abs(a - b).max() < 1e-8


def test_margin(tmp_path):
    # ~3 km east of the eastern tip: rejected at the default 2 km, accepted at 5 km
    line = {"type": "LineString", "coordinates": [[122.27, 31.45], [122.275, 31.452]]}
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "E-1", "pressure_class": "low", "outer_diameter_mm": 90},
                "geometry": line,
            }
        ],
    }
    path = tmp_path / "edge.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(InputFileError, match="超出崇明区范围"):
        read_layer(path, "pipelines")
    assert len(read_layer(path, "pipelines", margin_m=20_000).frame) == 1


_names = st.text(alphabet="崇明城桥陈家镇长兴横沙abcXYZ-_ 0123456789", min_size=1, max_size=12)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            _names,
            st.sampled_from(["low", "medium_b", "medium_a", "subhigh_a", "high_b"]),
            st.floats(min_value=20, max_value=1500, allow_nan=False),
            st.floats(min_value=0, max_value=0.05),
            st.floats(min_value=0, max_value=0.05),
        ),
        min_size=1,
        max_size=8,
    ),
    suffix=st.sampled_from([".geojson", ".gpkg", ".csv"]),
)
def test_roundtrip_property(tmp_path_factory, rows, suffix):
    folder = tmp_path_factory.mktemp("prop")
    frame = gpd.GeoDataFrame(
        {
            "id": [f"P-{i}" for i in range(len(rows))],
            "name": [r[0].strip() or None for r in rows],
            "pressure_class": [r[1] for r in rows],
            "outer_diameter_mm": [r[2] for r in rows],
        },
        geometry=[LineString([(X + r[3], Y + r[4]), (X + r[4], Y + 0.01 + r[3])]) for r in rows],
        crs=4326,
    )
    first = read_layer(write_geojson(frame, folder / "in.geojson"), "pipelines").frame
    second = read_layer(write_layer(first, folder / f"out{suffix}"), "pipelines").frame
    assert_same_features(first, second)
