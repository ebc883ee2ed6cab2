"""Gauss-Krüger data read with the wrong or no CRS gets the right hint; BD-09 input converts."""

from __future__ import annotations

import json
import re

import pytest

from pyproj import Transformer

from layers.io import read_layer
from layers.io.errors import InputFileError
from spatial_rules.bd09 import wgs84_to_bd09

RING = [(121.40, 31.62), (121.401, 31.62), (121.401, 31.621), (121.40, 31.621), (121.40, 31.62)]


def _site_file(path, ring):
    feature = {"type": "Feature", "properties": {"id": "GK-1", "name": "测试", "kind": "housing",
                                                 "status": "planned"},
               "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path


def _projected(epsg, swap=False):
    t = Transformer.from_crs(4490, epsg, always_xy=True)
    pts = [t.transform(*p) for p in RING]
    return [(y, x) for x, y in pts] if swap else pts


def _refusal(path, crs):
    with pytest.raises(InputFileError) as caught:
        read_layer(path, "projects", crs=crs)
    message = str(caught.value)
    # Never an absurd distance (the largest float, or thousands of km).
    assert "179,769" not in message and not re.search(r"\d{1,3},\d{3}\.\d km", message)
    return message


@pytest.mark.parametrize("epsg, given, expected", [
    (4528, "4549", "--crs EPSG:4528"),  # zone 40 with its prefix read as CM 120E
    (4529, "4549", "--crs EPSG:4529"),  # zone 41 with its prefix: not EPSG:4549
    (4529, "4528", "--crs EPSG:4529"),
    (4550, "4549", "--crs EPSG:4550"),  # CM 123E without prefix read as CM 120E
    (4528, None, "--crs EPSG:4528"),  # no CRS given: suggested by name
    (4549, None, "--crs EPSG:4549"),
])
def test_gauss_kruger_hints(tmp_path, epsg, given, expected):
    path = _site_file(tmp_path / "gk.geojson", _projected(epsg))
    message = _refusal(path, given)
    assert expected in message and "高斯-克吕格" in message
    ok = read_layer(path, "projects", crs=f"EPSG:{epsg}")
    assert ok.frame.geometry.iloc[0].centroid.distance(
        read_layer(_site_file(tmp_path / "ll.geojson", RING), "projects").frame.geometry.iloc[0].centroid
    ) < 1e-8


@pytest.mark.parametrize("given", ["4549", None])
def test_swapped_survey_xy_is_explained(tmp_path, given):
    path = _site_file(tmp_path / "swapped.geojson", _projected(4549, swap=True))
    message = _refusal(path, given)
    assert "X/Y 顺序颠倒" in message and "EPSG:4549" in message


def test_far_data_gets_a_sane_message(tmp_path):
    path = _site_file(tmp_path / "far.geojson", [(x + 3_000_000, y) for x, y in _projected(4549)])
    message = _refusal(path, "4549")
    assert "崇明区" in message


def test_bd09_input_is_converted(tmp_path):
    baidu = [tuple(float(v) for v in wgs84_to_bd09(lon, lat)) for lon, lat in RING]
    path = _site_file(tmp_path / "bd.geojson", baidu)
    read = read_layer(path, "projects", crs="bd09")
    truth = read_layer(_site_file(tmp_path / "ll.geojson", RING), "projects").frame.geometry.iloc[0]
    assert read.source_crs == "BD-09"
    assert read.frame.geometry.iloc[0].hausdorff_distance(truth) < 1e-8  # ~1 mm
