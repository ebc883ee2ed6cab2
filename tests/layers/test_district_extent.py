"""The served jurisdiction (GISAPP_JURISDICTION) drives the extent checks and their messages."""

from __future__ import annotations

import numpy as np
import pytest

import shapely

from layers import district
from layers.io import validate
from layers.io.single import validate_feature
from tests.factories import site_feature


@pytest.fixture()
def serve():
    yield district.use_jurisdiction
    district.use_jurisdiction("chongming")


def _refusal(feature) -> str:
    with pytest.raises(Exception) as caught:
        validate_feature(feature, "projects", margin_m=2000.0)
    return str(caught.value) + " ".join(str(p) for p in getattr(caught.value, "problems", []))


def test_a_pudong_deployment_takes_pudong_sites_and_names_itself_when_refusing(serve):
    pudong, chongming = site_feature("PD-1", 121.62, 31.20), site_feature("CM-1", 121.55, 31.62)
    assert district.deployment().code == "310151"
    validate_feature(chongming, "projects", margin_m=2000.0)
    assert "崇明区" in _refusal(pudong)

    serve("浦东新区")
    assert district.deployment().code == "310115" and district.district_name() == "浦东新区"
    validate_feature(pudong, "projects", margin_m=2000.0)
    message = _refusal(chongming)
    assert "浦东新区" in message and "崇明区" not in message


def test_the_whole_city_takes_every_district_and_its_extent_is_cached_prepared(serve):
    serve("shanghai")
    points = np.array([[121.55, 31.62], [121.62, 31.20], [121.45, 31.23], [120.0, 30.0]])
    inside = validate.points_inside(points[:, 0], points[:, 1], 2000.0)
    assert inside.tolist() == [True, True, True, False]
    assert district.district_extent_lonlat(2000.0) is district.district_extent_lonlat(2000.0)


def test_unknown_jurisdiction_is_refused_by_the_settings():
    from pydantic import ValidationError

    from gisapp.settings import Settings

    with pytest.raises(ValidationError, match="未知的辖区"):
        Settings(_env_file=None, jurisdiction="火星区")
    assert Settings(_env_file=None, jurisdiction="浦东新区").jurisdiction == "310115"


def test_districts_of_a_layer_agree_with_one_at_a_time():
    from layers.sample import generate_sample

    sample = generate_sample(seed=3, scale="district")
    geoms = [*sample.pipelines.geometry[:300], *sample.projects.geometry[:100],
             shapely.Point(121.62, 31.2), shapely.Point(121.45, 31.23)]
    found = district.districts_of(geoms)
    assert found[-2:] == ["310115", "310106"]
    assert all(f is None or f == district.district_of(g) for f, g in zip(found, geoms, strict=True))
    assert sum(f is None for f in found) < len(found) // 10
