"""Jurisdictions as data: the shipped boundaries, the fitted metric CRS and its scale error."""

from __future__ import annotations

import numpy as np
import pytest

import shapely

from layers.district import district_boundary
from layers.jurisdictions import (
    CITY_CODE,
    MAX_SCALE_ERROR,
    JurisdictionError,
    fit_metric_crs,
    jurisdiction,
    known_codes,
    scale_error,
    worst_scale_error,
)
from spatial_rules.crs import METRIC_PROJ4


def test_sixteen_districts_and_the_city_are_known_by_code_name_and_alias():
    codes = known_codes()
    assert codes[0] == CITY_CODE and len(codes) == 17
    assert jurisdiction("chongming") == jurisdiction("崇明区") == jurisdiction("310151")
    assert jurisdiction("shanghai").name == "上海市"
    assert jurisdiction("浦东新区").code == "310115"


def test_unknown_jurisdiction_is_a_clear_error():
    with pytest.raises(JurisdictionError, match="未知的辖区“北京市”"):
        jurisdiction("北京市")


def test_chongming_fits_the_metric_crs_the_database_already_uses():
    j = jurisdiction("chongming")
    assert f"+lon_0={j.central_meridian:g} " in METRIC_PROJ4
    # The shipped default boundary and the district among the 16 are the same land.
    assert shapely.equals_exact(j.boundary.normalize(), shapely.MultiPolygon(
        list(shapely.get_parts(district_boundary()))).normalize(), tolerance=1e-9)


@pytest.mark.parametrize("code", known_codes())
def test_every_jurisdiction_stays_under_the_scale_error_budget(code):
    j = jurisdiction(code)
    assert j.max_scale_error < MAX_SCALE_ERROR
    # The stored metric SRID (TM 121.7 E) serves the whole of Shanghai as well.
    assert worst_scale_error(j, 121.7) < MAX_SCALE_ERROR


def test_the_city_is_the_union_of_its_districts():
    city = jurisdiction("shanghai")
    total = sum(jurisdiction(c).boundary.area for c in city.districts)
    assert len(city.districts) == 16
    assert city.boundary.area == pytest.approx(total, rel=1e-3)


def test_an_extent_one_projection_cannot_serve_is_refused():
    with pytest.raises(JurisdictionError, match="尺度误差"):
        fit_metric_crs(shapely.box(119.0, 30.0, 122.5, 32.0))


def test_scale_error_matches_the_transverse_mercator_series():
    # k = 1 + (dl cos phi)^2 / 2 to first order: 0.85 degree off the meridian at 31 N.
    lon, lat = np.array([120.85]), np.array([31.0])
    dl = np.radians(0.85) * np.cos(np.radians(31.0))
    assert scale_error(121.7, lon, lat)[0] == pytest.approx(dl**2 / 2, rel=0.02)
