"""BD-09/GCJ-02 against an independent implementation; control-point fits recover known grids.

The reference below is written here from the published formulas (scalar ``math``, no
numpy, no code shared with ``spatial_rules``); its inverse is the common approximate
one, used only as a starting point for nothing: inverses are checked by going back
through the reference forward transform.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatial_rules.bd09 import bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, wgs84_to_bd09
from spatial_rules.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from spatial_rules.local_grid import fit

A, EE = 6378245.0, 0.00669342162296594323
X_PI = math.pi * 3000.0 / 180.0
M_PER_DEG_LAT = 110_900.0


def _ref_lat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _ref_lon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def ref_wgs_to_gcj(lon, lat):
    dlat, dlon = _ref_lat(lon - 105.0, lat - 35.0), _ref_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def ref_gcj_to_bd(lon, lat):
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _metres(lon0, lat0, lon1, lat1):
    return math.hypot((lon1 - lon0) * M_PER_DEG_LAT * math.cos(math.radians(lat0)),
                      (lat1 - lat0) * M_PER_DEG_LAT)


# A grid over Chongming and its margin.
POINTS = [(121.1 + i * 0.12, 31.25 + j * 0.07) for i in range(11) for j in range(10)]


@pytest.mark.parametrize("lon, lat", POINTS[::7])
def test_forward_transforms_match_the_reference(lon, lat):
    ours = wgs84_to_gcj02(lon, lat)
    ref = ref_wgs_to_gcj(lon, lat)
    assert _metres(*ref, *map(float, ours)) < 0.005
    ours_bd = gcj02_to_bd09(*ref)
    assert _metres(*ref_gcj_to_bd(*ref), *map(float, ours_bd)) < 0.005
    assert _metres(*ref_gcj_to_bd(*ref), *map(float, wgs84_to_bd09(lon, lat))) < 0.005


def test_inverses_round_trip_through_the_reference_to_5_mm():
    worst_gcj = worst_bd = worst_bd_wgs = 0.0
    for lon, lat in POINTS:
        gcj = ref_wgs_to_gcj(lon, lat)
        bd = ref_gcj_to_bd(*gcj)
        back = gcj02_to_wgs84(*gcj)
        worst_gcj = max(worst_gcj, _metres(lon, lat, float(back[0]), float(back[1])))
        back_gcj = bd09_to_gcj02(*bd)
        worst_bd = max(worst_bd, _metres(*gcj, float(back_gcj[0]), float(back_gcj[1])))
        back_wgs = bd09_to_wgs84(*bd)
        worst_bd_wgs = max(worst_bd_wgs, _metres(lon, lat, float(back_wgs[0]), float(back_wgs[1])))
    assert worst_gcj < 0.005 and worst_bd < 0.005 and worst_bd_wgs < 0.005
    # The offsets are real: BD-09 lies hundreds of metres from WGS 84 on Chongming.
    lon, lat = 121.4, 31.62
    assert 500 < _metres(lon, lat, *map(float, wgs84_to_bd09(lon, lat))) < 1500


def _known_grid(x, y, *, theta_deg=1.3, scale=1.000_042, shift=(-12_345.678, 3_456_789.012)):
    t = math.radians(theta_deg)
    return (scale * (math.cos(t) * x - math.sin(t) * y) + shift[0],
            scale * (math.sin(t) * x + math.cos(t) * y) + shift[1])


def test_similarity_fit_recovers_a_known_grid_to_a_centimetre():
    rng = np.random.default_rng(7)
    local = np.array([(10_000.0, 20_000.0), (14_500.0, 20_300.0), (14_200.0, 26_100.0),
                      (9_800.0, 25_700.0), (12_100.0, 23_050.0)])
    target = np.array([_known_grid(x, y) for x, y in local]) + rng.normal(0, 0.003, (5, 2))
    result = fit(local, target, "similarity")
    assert result.rms_m < 0.01 and len(result.residuals_m) == 5
    assert result.scale == pytest.approx(1.000_042, abs=2e-6)
    assert result.rotation_deg == pytest.approx(1.3, abs=1e-4)  # 3 mm noise over 6 km
    # Points away from the control points land within a centimetre of the truth.
    for x, y in [(11_000.0, 21_000.0), (13_900.0, 25_500.0), (12_000.0, 24_000.0)]:
        got = result.apply(x, y)
        want = _known_grid(x, y)
        assert math.hypot(float(got[0]) - want[0], float(got[1]) - want[1]) < 0.01


def test_affine_fit_and_a_mistyped_point_shows_in_its_residual():
    local = np.array([(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0), (500.0, 400.0)])
    target = np.array([(2.0 * x + 0.1 * y + 5, -0.05 * x + 1.5 * y - 7) for x, y in local])
    exact = fit(local, target, "affine")
    assert exact.rms_m < 1e-6
    assert exact.apply(250.0, 750.0)[0] == pytest.approx(2.0 * 250 + 0.1 * 750 + 5, abs=1e-6)
    target[4] += (0.8, 0.0)  # one point typed 80 cm off
    bad = fit(local, target, "affine")
    assert int(np.argmax(bad.residuals_m)) == 4 and bad.rms_m > 0.1
    with pytest.raises(ValueError):
        fit(local[:3], target[:3], "affine")
    with pytest.raises(ValueError):
        fit([(0, 0)] * 4, [(0, 0)] * 4, "similarity")
