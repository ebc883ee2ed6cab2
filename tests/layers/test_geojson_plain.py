"""Plain GeoJSON read without GDAL: the same raw table as GDAL's reading, or GDAL's reading."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import shapely

import layers.io.geojson_plain as geojson_plain
from layers.io.geojson_plain import read_plain_geojson, read_plain_geojson_file
from layers.io.normalize import map_columns
from layers.io.raw import _read_geojson
from layers.io.reader import droppable_fields
from layers.sample import generate_sample
from layers.screen_files import PIPELINE_FIELDS, conflicts_frame, screen_files, write_conflicts
from spatial_rules.rulesets import load_rule_set


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_sample(seed=11).write(tmp_path_factory.mktemp("plain"), fmt="geojson")


def _screen_pick(columns: list[str]) -> list[str]:
    dropped = droppable_fields("pipelines", PIPELINE_FIELDS)
    mapping = map_columns(columns, "pipelines", None)[0]
    return [c for c in columns if c in mapping and mapping[c] not in dropped]


def _assert_same_table(plain, gdal, columns=None):
    assert plain is not None
    assert plain.columns == gdal.columns
    assert plain.crs == gdal.crs
    assert plain.problems == gdal.problems == []
    assert plain.notes == gdal.notes
    names = list(plain.attributes.columns)
    assert names == (columns or list(gdal.attributes.columns))
    for name in names:
        pd.testing.assert_series_equal(plain.attributes[name], gdal.attributes[name], check_dtype=True)
    assert (shapely.get_type_id(plain.geometry) == shapely.get_type_id(gdal.geometry)).all()
    assert shapely.equals_exact(plain.geometry, gdal.geometry, tolerance=0).all()


@pytest.mark.parametrize("pick", [None, _screen_pick])
def test_sample_pipelines_read_as_gdal_reads_them(sample, pick):
    path = Path(sample["pipelines"])
    gdal = _read_geojson(path, None)
    plain = read_plain_geojson(path.read_bytes(), pick)
    chosen = None if pick is None else pick(gdal.columns)
    if chosen is not None:
        gdal.attributes = gdal.attributes[chosen]
    _assert_same_table(plain, gdal, chosen)



def test_a_mapped_file_reads_as_its_bytes(sample, tmp_path):
    path = Path(sample["pipelines"])
    from_file = read_plain_geojson_file(path, _screen_pick)
    from_bytes = read_plain_geojson(path.read_bytes(), _screen_pick)
    assert from_file is not None and from_bytes is not None
    assert from_file.columns == from_bytes.columns
    pd.testing.assert_frame_equal(from_file.attributes, from_bytes.attributes)
    assert shapely.equals_exact(from_file.geometry, from_bytes.geometry, tolerance=0).all()
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    assert read_plain_geojson_file(empty, None) is None
    bom = tmp_path / "bom.geojson"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_plain_geojson_file(bom, None) is None

def _collection(features, **top):
    return json.dumps({"type": "FeatureCollection", **top, "features": features}).encode()


def _feature(geometry, **properties):
    return {"type": "Feature", "properties": properties, "geometry": geometry}


LINE = {"type": "LineString", "coordinates": [[121.5, 31.6], [121.51, 31.61], [121.52, 31.6]]}
MULTI_LINE = {"type": "MultiLineString",
              "coordinates": [[[121.5, 31.6], [121.51, 31.61]], [[121.6, 31.6], [121.6, 31.7]]]}
SQUARE = [[121.5, 31.6], [121.6, 31.6], [121.6, 31.7], [121.5, 31.7], [121.5, 31.6]]
HOLE = [[121.52, 31.62], [121.53, 31.62], [121.53, 31.63], [121.52, 31.62]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}
MULTI_POLYGON = {"type": "MultiPolygon",
                 "coordinates": [[SQUARE, HOLE], [[[p[0] + 1, p[1]] for p in SQUARE]]]}


def test_mixed_types_holes_nulls_and_numbers_read_as_gdal_reads_them(tmp_path):
    data = _collection(
        [
            _feature(LINE, code="A", od=110, mpa=0.4, note=None, empty=None),
            _feature(MULTI_LINE, code="B", od=219, mpa=None, note="x", empty=None),
            _feature(POLYGON, code="C", od=32, mpa=1, note=None, empty=None),
            _feature(MULTI_POLYGON, code="D", od=57, mpa=2.5, note="y", empty=None),
        ],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
    )
    path = tmp_path / "mixed.geojson"
    path.write_bytes(data)
    _assert_same_table(read_plain_geojson(data, None), _read_geojson(path, None))



def test_dates_and_booleans_read_as_gdal_reads_them(tmp_path):
    data = _collection(
        [
            _feature(LINE, code="A", start="2026-03-01", since=None, flag=True, maybe=None),
            _feature(POLYGON, code="B", start="2025-12-31", since="2024-02-29", flag=False,
                     maybe=True),
            _feature(LINE, code="C", start=None, since=None, flag=True, maybe=False),
        ]
    )
    path = tmp_path / "typed.geojson"
    path.write_bytes(data)
    plain = read_plain_geojson(data, None)
    _assert_same_table(plain, _read_geojson(path, None))
    assert str(plain.attributes["start"].dtype).startswith("datetime64")
    assert plain.attributes["flag"].dtype == bool


def test_sample_projects_read_as_gdal_reads_them(sample):
    path = Path(sample["projects"])
    _assert_same_table(read_plain_geojson(path.read_bytes(), None), _read_geojson(path, None))

def test_a_file_without_crs_member_is_wgs84_as_gdal_says(tmp_path):
    data = _collection([_feature(LINE, code="A")])
    path = tmp_path / "plain.geojson"
    path.write_bytes(data)
    _assert_same_table(read_plain_geojson(data, None), _read_geojson(path, None))



def test_features_without_properties_read_as_gdal_reads_them(tmp_path):
    data = _collection(
        [{"type": "Feature", "geometry": LINE}, {"type": "Feature", "properties": None, "geometry": POLYGON}]
    )
    path = tmp_path / "bare.geojson"
    path.write_bytes(data)
    _assert_same_table(read_plain_geojson(data, None), _read_geojson(path, None))


def test_the_parsed_tree_is_freed_before_the_collector_runs_again():
    import gc

    data = _collection([_feature(LINE, code=f"A{i}") for i in range(2_000)])
    young: list[int] = []

    def watch(phase, info):
        if phase == "start":
            # The tree's dicts and lists (the result's geometries are tracked too).
            young.append(sum(type(o) in (dict, list) for o in gc.get_objects(generation=0)))

    gc.callbacks.append(watch)
    try:
        assert read_plain_geojson(data, None) is not None
    finally:
        gc.callbacks.remove(watch)
    assert gc.isenabled()
    # No pass of the collector met the 2,000 features' dicts and lists: freed while it
    # was off, they never cost a scan (a city-size file's tree cost 0.45 s).
    assert all(n < 2_000 for n in young), young

@pytest.mark.parametrize(
    "features",
    [
        [{**_feature(LINE, code="A"), "id": 7}],  # GDAL turns a top-level id into the FID
        [_feature({"type": "Point", "coordinates": [121.5, 31.6]}, code="A")],
        [_feature(None, code="A")],
        [_feature({"type": "LineString", "coordinates": [[121.5, 31.6, 3.0], [121.6, 31.6, 3.0]]})],
        [_feature({"type": "LineString", "coordinates": [["121.5", "31.6"], ["121.6", "31.6"]]})],
        [_feature({"type": "LineString", "coordinates": [[121.5, 31.6]]})],
        [_feature({"type": "LineString", "coordinates": []})],
        [_feature({"type": "Polygon", "coordinates": [SQUARE[:-1]]})],  # ring not closed
        [_feature(LINE, flag=True), _feature(LINE, flag=1)],  # GDAL: an integer, not a boolean
        [_feature(LINE, code="A"), _feature(LINE, code=12)],  # text and numbers in one column
        # Dates GDAL types by rules of its own: other forms, times, text among dates.
        [_feature(LINE, day="2026-03-01"), _feature(LINE, day="2026/03/02")],
        [_feature(LINE, day="2026-03-01T10:00:00")],
        [_feature(LINE, day="2026-3-1")],
        [_feature(LINE, day="2026-02-30")],
        [_feature(LINE, at="10:30")],
        [_feature(LINE, day="2026-03-01"), _feature(LINE, day="")],
        [_feature(LINE, day="2026-03-01"), _feature(LINE, day="next week")],
        [_feature(LINE, nested={"a": 1})],
        [_feature(LINE, a=1), _feature(LINE, b=2, a=3)],  # GDAL merges key orders its own way
        [_feature(LINE, a=1, b=2), _feature(LINE, a=1)],
        [_feature(LINE, items=[1, 2])],
        [{"type": "Feature", "properties": "text", "geometry": LINE}],
        [],
    ],
)
def test_anything_not_plain_goes_to_gdal(features):
    assert read_plain_geojson(_collection(features), None) is None


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + _collection([_feature(LINE, code="A")]),
        json.dumps({"type": "FeatureCollection", "features": [_feature(LINE, name="崇明")]},
                   ensure_ascii=False).encode("gbk"),
        b'{"type": "FeatureCollection", "features": [',
        _collection([_feature(LINE, code="A")]).replace(b"121.5", b"NaN"),
        json.dumps(_feature(LINE, code="A")).encode(),  # a lone Feature
        _collection([_feature(LINE)], crs={"type": "link", "properties": {"href": "x"}}),
        _collection([_feature(LINE)], crs={"type": "name", "properties": {"name": "EPSG:no"}}),
    ],
)
def test_other_encodings_syntax_errors_and_odd_crs_go_to_gdal(data):
    assert read_plain_geojson(data, None) is None


def test_screen_of_geojson_files_writes_the_same_csv_with_and_without_gdal(sample, tmp_path, monkeypatch):
    rule_set = load_rule_set("shanghai")

    def screen_to(out: Path) -> bytes:
        screening = screen_files(sample["pipelines"], sample["projects"], rule_set)
        write_conflicts(conflicts_frame(screening), out)
        return out.read_bytes()

    plain = screen_to(tmp_path / "plain.csv")
    monkeypatch.setattr(geojson_plain, "read_plain_geojson", lambda data, pick: None)
    gdal = screen_to(tmp_path / "gdal.csv")
    assert plain == gdal
    assert plain.count(b"\r\n") > 50  # the sample has conflicts
