"""Migration 0005: the metric SRID has no authority, and foreign keys have indexes."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from layers.migrate import alembic_config, current_revision
from spatial_rules.crs import METRIC_SRID, to_metric

pytestmark = pytest.mark.postgis

# Written out here, not imported from the migration, so the test checks the migration.
INDEXED_BY_0005 = {
    ("alert", "project_id"),
    ("alert", "pipeline_id"),
    ("outbox_message", "alert_id"),
    ("pipeline_conflict", "project_id"),
    ("spot_check_pick", "project_id"),
    ("api_token", "user_id"),
    ("evidence_file", "inspection_id"),
    ("evidence_file", "hazard_id"),
    ("construction_project", "import_batch_id"),
    ("gas_pipeline", "import_batch_id"),
}
# Users are deactivated, never deleted; every service write inserts an audit row.
LEFT_UNINDEXED = {("audit_log", "user_id")}

# Foreign keys whose first column leads no full (non-partial) index: deleting a
# referenced row then scans the whole child table.
UNINDEXED_FKS = text(
    "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
    "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace "
    "AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid "
    "AND i.indkey[0] = c.conkey[1] AND i.indpred IS NULL)"
)
AUTHORITY = text("SELECT auth_name, auth_srid FROM spatial_ref_sys WHERE srid = :srid")


def _unindexed(conn) -> set[tuple[str, str]]:
    return {tuple(row) for row in conn.execute(UNINDEXED_FKS)}


def test_metric_srid_has_no_authority_and_still_matches_pyproj(database_url):
    # A new backend: PostGIS caches PROJ objects per backend, so an old one proves nothing.
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(AUTHORITY, {"srid": METRIC_SRID}).one() == (None, None)
            for lon, lat in [(121.1139, 31.2575), (121.70, 31.60), (122.2429, 31.8746)]:
                x, y = conn.execute(
                    text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform("
                         "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :srid) AS p) q"),
                    {"lon": lon, "lat": lat, "srid": METRIC_SRID},
                ).one()
                ex, ey = to_metric().transform(lon, lat)
                assert abs(x - ex) < 1e-3 and abs(y - ey) < 1e-3
    finally:
        engine.dispose()


def test_every_foreign_key_but_audit_user_leads_an_index(db_engine):
    with db_engine.connect() as conn:
        assert _unindexed(conn) == LEFT_UNINDEXED


def test_downgrade_to_0004_and_upgrade_again(db_engine):
    # DDL is transactional in PostgreSQL: the round trip is rolled back afterwards.
    with db_engine.connect() as conn, conn.begin() as trans:
        command.downgrade(alembic_config(connection=conn), "0004")
        assert current_revision(conn) == "0004"
        assert conn.execute(AUTHORITY, {"srid": METRIC_SRID}).one() == ("GISAPP", METRIC_SRID)
        assert _unindexed(conn) == INDEXED_BY_0005 | LEFT_UNINDEXED

        command.upgrade(alembic_config(connection=conn), "0005")
        assert current_revision(conn) == "0005"
        assert conn.execute(AUTHORITY, {"srid": METRIC_SRID}).one() == (None, None)
        assert _unindexed(conn) == LEFT_UNINDEXED
        trans.rollback()
