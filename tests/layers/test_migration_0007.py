"""Migration 0007 (rules in force) goes down to 0011 and up again; legacy duplicates close."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from layers.migrate import alembic_config, current_revision

pytestmark = pytest.mark.postgis


def test_downgrade_to_0011_and_upgrade_again(db_engine):
    with db_engine.connect() as conn, conn.begin() as trans:
        command.downgrade(alembic_config(connection=conn), "0011")
        assert current_revision(conn) == "0011"
        # Before 0007 a pair could be open under two rule sets at once.
        conn.execute(text(
            "INSERT INTO construction_project (registration_code, name, kind, status, geom) VALUES "
            "('M7', 'M7', 'housing', 'planned', "
            "ST_Multi(ST_MakeEnvelope(121.4, 31.6, 121.401, 31.601, 4490)))"))
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, geom) VALUES "
            "('G7', 'low', 100, ST_Multi(ST_GeomFromText('LINESTRING(121.4 31.6, 121.41 31.6)', 4490)))"))
        for label, screened in (("shanghai@2018.1", "2026-01-01"), ("gb55009@2021", "2026-02-01")):
            conn.execute(text(
                "INSERT INTO pipeline_conflict (project_id, pipeline_id, rule_set, zone, distance_m, "
                "centreline_distance_m, pressure_class, outer_diameter_mm, protection_range_m, "
                "control_range_m, required_action, last_screened_at) SELECT p.id, g.id, :l, 'control', "
                "1, 1, 'low', 100, 0.7, 6, 'x', CAST(:t AS timestamptz) "
                "FROM construction_project p, gas_pipeline g"),
                {"l": label, "t": screened})
        command.upgrade(alembic_config(connection=conn), "0007")
        assert current_revision(conn) == "0007"
        open_rows = conn.execute(text(
            "SELECT rule_set, found_under, prohibited_activities FROM pipeline_conflict "
            "WHERE closed_at IS NULL")).all()
        assert [tuple(r) for r in open_rows] == [("gb55009@2021", "gb55009@2021", [])]
        trans.rollback()
