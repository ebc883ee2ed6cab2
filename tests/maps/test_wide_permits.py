"""The permits map of a wide view (zoom 10 and below) reads the worst sites from the index of
migration 0025 and the rest by id: the same sites, states and order as the plain query
of a closer view, whatever the limit, bounding box or township filter."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.importer import import_layer
from layers.sample import generate_sample
from layers.screening_db import screen_db
from maps import layers_data
from maps.layers_data import parse_bbox
from spatial_rules.rulesets import load_rule_set

pytestmark = pytest.mark.postgis


@pytest.fixture()
def mixed_states(db_engine, clean_db):
    """The district sample screened, its permits in every state, new alerts on some sites."""
    sample = generate_sample(seed=11, scale="district")
    with session_factory(db_engine).begin() as session:
        for kind in ("pipelines", "projects"):
            frame = getattr(sample, kind).copy()
            frame.index = range(1, len(frame) + 1)
            import_layer(session, kind, frame, source_name=f"wide-{kind}", source_sha256="0" * 64,
                         source_crs="EPSG:4490")
        screen_db(session, load_rule_set("shanghai"))
        # Permit states spread over the conflicts (some left without a permit row: not
        # started), and a new alert on the conflicts of every fourth project.
        session.execute(text("""
INSERT INTO permit (conflict_id, status, reason, approved_until)
SELECT id, (ARRAY['not_started', 'rejected', 'applied', 'approved', 'not_required'])[1 + id % 5],
  CASE WHEN id % 5 = 4 THEN '无需办理' END, CASE WHEN id % 5 = 3 THEN DATE '2099-01-01' END
FROM pipeline_conflict WHERE id % 7 <> 0
ON CONFLICT (conflict_id) DO NOTHING"""))
        session.execute(text("""
INSERT INTO alert (conflict_id, project_id, pipeline_id, zone, message)
SELECT id, project_id, pipeline_id, zone, '新冲突' FROM pipeline_conflict WHERE project_id % 4 = 1"""))
    with db_engine.connect() as conn:
        counts = conn.execute(text(
            "SELECT count(*) FILTER (WHERE alerts_new > 0), count(*) FILTER (WHERE permit_rank IS NOT NULL), "
            "count(DISTINCT permit_rank), (SELECT count(*) FROM construction_project) FROM project_map_state"
        )).one()
    assert counts[0] > 0 and counts[1] > counts[0] and counts[2] >= 4 and counts[3] > counts[1]
    return db_engine


def _read(engine, bbox: str, zoom: int, limit: int, township: str | None = None) -> tuple:
    """(truncated, [(id, properties)...]) of the permits map's projects."""
    with session_factory(engine).begin() as session:
        body = json.loads(layers_data.projects_geojson(session, parse_bbox(bbox), zoom, "permits",
                                                       township=township, limit=limit))
    return body["truncated"], [(f["id"], f["properties"]) for f in body["features"]]


WHOLE = "121.0,31.3,122.2,32.0"


@pytest.mark.parametrize("limit", [1, 7, 60, 100_000])
def test_a_wide_view_shows_what_the_plain_query_shows(mixed_states, limit):
    wide = _read(mixed_states, WHOLE, 9, limit)
    plain = _read(mixed_states, WHOLE, 11, limit)
    assert wide == plain
    assert wide[1] and len(wide[1]) <= limit
    # The worst first: a new alert, then the permit states in their severity order.
    alerts = [p["alert"] for _, p in wide[1]]
    assert alerts == sorted(alerts, reverse=True)


def test_a_wide_view_of_part_of_the_district_or_one_township(mixed_states):
    with mixed_states.connect() as conn:
        west, south, east, north = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM construction_project) x")).one()
        township = conn.execute(text(
            "SELECT township FROM construction_project WHERE township IS NOT NULL "
            "GROUP BY township ORDER BY count(*) DESC LIMIT 1")).scalar_one()
    half = f"{west},{south},{(west + east) / 2},{north}"
    for limit in (5, 40, 100_000):
        assert _read(mixed_states, half, 10, limit) == _read(mixed_states, half, 12, limit)
        by_township = _read(mixed_states, WHOLE, 8, limit, township)
        assert by_township == _read(mixed_states, WHOLE, 11, limit, township)
        assert by_township[1]


def test_the_wide_view_reads_the_index(mixed_states):
    """The planner takes migration 0025's index for the sites that come first."""
    with mixed_states.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT project_id FROM project_map_state k "
            "WHERE k.alerts_new > 0 OR k.permit_rank IS NOT NULL "
            "ORDER BY (k.alerts_new = 0), k.permit_rank, k.project_id LIMIT 10")))
    assert "ix_project_map_state_permit_order" in plan
