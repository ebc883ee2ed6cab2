"""The Shanghai-size sample: every district, the sizes the issue asks for, features where they belong."""

from __future__ import annotations

import numpy as np
import pytest

import shapely

from layers.district import district_of
from layers.jurisdictions import CITY_CODE, jurisdiction
from layers.sample import generate_sample
from spatial_rules.crs import metric_crs


@pytest.fixture(scope="module")
def shanghai():
    return generate_sample(seed=7, scale="shanghai")


def test_sizes_and_every_district(shanghai):
    assert 680_000 <= len(shanghai.pipelines) <= 720_000
    km = shanghai.pipelines.to_crs(metric_crs()).length.sum() / 1000
    assert 34_000 <= km <= 36_000
    assert len(shanghai.projects) == 100_000
    assert shanghai.projects["registration_code"].is_unique
    assert shanghai.pipelines["external_code"].is_unique
    districts = {code.split("-")[1] for code in shanghai.pipelines["external_code"]}
    assert districts == set(jurisdiction(CITY_CODE).districts)
    assert set(shanghai.pipelines["pressure_class"]) == {"low", "medium_a", "subhigh_b"}


def test_features_lie_in_their_district_and_townships_are_named_from_it(shanghai):
    rng = np.random.default_rng(1)
    for k in rng.integers(0, len(shanghai.pipelines), 200):
        row = shanghai.pipelines.iloc[int(k)]
        assert district_of(row.geometry) == row["external_code"].split("-")[1]
    for k in rng.integers(0, len(shanghai.projects), 200):
        row = shanghai.projects.iloc[int(k)]
        name = jurisdiction(district_of(shapely.centroid(row.geometry))).name
        assert row["township"].startswith(name) and row["township"] in set(shanghai.townships["name"])
    assert shanghai.townships["code"].is_unique and shanghai.townships.geometry.is_valid.all()
