"""The migrated database matches the ORM models, and the metric CRS matches pyproj."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from geoalchemy2 import alembic_helpers

from layers.models import Base
from spatial_rules.crs import METRIC_SRID, from_metric, to_metric

pytestmark = pytest.mark.postgis


def _include(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name == "spatial_ref_sys":
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def _include_name(name, type_, parent_names):
    # The public schema and the reference schema of migration 0013 (district areas).
    return name in (None, "gisapp_ref") if type_ == "schema" else True


def test_models_and_migrated_database_do_not_differ(db_engine):
    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": _include, "compare_type": True, "include_schemas": True,
                        "include_name": _include_name}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


@pytest.mark.parametrize("lon,lat", [(121.1139, 31.2575), (121.70, 31.60), (122.2429, 31.8746)])
def test_postgis_metric_crs_equals_pyproj_to_a_millimetre(db_engine, lon, lat):
    with db_engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform("
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :srid) AS p) q"
            ),
            {"lon": lon, "lat": lat, "srid": METRIC_SRID},
        ).one()
    ex, ey = to_metric().transform(lon, lat)
    assert abs(x - ex) < 1e-3 and abs(y - ey) < 1e-3


def test_metric_scale_error_within_1cm_per_10m_across_district():
    # Compare a 10 m east-west step in the metric CRS with the geodesic length.
    from pyproj import Geod

    geod = Geod(ellps="GRS80")
    for lon in (121.11, 121.5, 121.9, 122.25):
        for lat in (31.25, 31.87):
            x, y = to_metric().transform(lon, lat)
            lon2, lat2 = from_metric().transform(x + 10.0, y)
            _, _, true_m = geod.inv(lon, lat, lon2, lat2)
            # Requirement: 1 cm per 10 m; the chosen projection keeps it under 1 mm.
            assert abs(true_m - 10.0) < 0.001


def test_generated_metric_geometry_follows_updates(db_session):
    db_session.execute(
        text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, geom) "
            "VALUES ('T-1', 'low', 110, ST_Multi(ST_GeomFromText("
            "'LINESTRING(121.5 31.6, 121.501 31.6)', 4490)))"
        )
    )
    length_before = db_session.execute(
        text("SELECT ST_Length(geom_m) FROM gas_pipeline WHERE external_code = 'T-1'")
    ).scalar()
    db_session.execute(
        text(
            "UPDATE gas_pipeline SET geom = ST_Multi(ST_GeomFromText("
            "'LINESTRING(121.5 31.6, 121.502 31.6)', 4490)) WHERE external_code = 'T-1'"
        )
    )
    length_after = db_session.execute(
        text("SELECT ST_Length(geom_m) FROM gas_pipeline WHERE external_code = 'T-1'")
    ).scalar()
    assert 90 < length_before < 100
    assert length_after == pytest.approx(2 * length_before, rel=1e-6)
