"""The metric CRS's written-out PROJ pipelines are what PROJ resolves from the CRSs."""

from __future__ import annotations

import numpy as np

from pyproj import Transformer

from spatial_rules.crs import from_metric, metric_crs, storage_crs, to_metric


def test_the_written_pipelines_are_the_operations_proj_resolves():
    forward = Transformer.from_crs(storage_crs(), metric_crs(), always_xy=True)
    inverse = Transformer.from_crs(metric_crs(), storage_crs(), always_xy=True)
    assert to_metric().definition == forward.definition
    assert from_metric().definition == inverse.definition


def test_the_written_pipelines_transform_as_the_resolved_ones():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(120.8, 122.3, 1000), rng.uniform(30.6, 31.9, 1000)
    forward = Transformer.from_crs(storage_crs(), metric_crs(), always_xy=True)
    x, y = to_metric().transform(lon, lat)
    expected_x, expected_y = forward.transform(lon, lat)
    assert np.array_equal(x, expected_x) and np.array_equal(y, expected_y)
    inverse = Transformer.from_crs(metric_crs(), storage_crs(), always_xy=True)
    back_lon, back_lat = from_metric().transform(x, y)
    expected_lon, expected_lat = inverse.transform(x, y)
    assert np.array_equal(back_lon, expected_lon) and np.array_equal(back_lat, expected_lat)
