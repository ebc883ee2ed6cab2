"""The PostGIS engine gives the same pairs, zones and distances (to 1 mm) as the in-memory one.

Geometry is made in the metric CRS, stored as CGCS2000 lon/lat like every real row,
and both engines work from what is stored: the PostGIS engine from ``geom_m``, the
in-memory engine from the stored lon/lat projected with pyproj.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon

from layers.screening_db import open_conflicts, screen_db
from spatial_rules.crs import from_metric, to_metric
from spatial_rules.pressure import PressureClass, classify_pressure
from spatial_rules.rulesets import load_rule_set
from spatial_rules.screening import PipelineSet, SiteSet, screen_sites
from vocabulary.activities import ALL_ACTIVITIES_MASK, Activity, activities_mask, canonical_activities

pytestmark = pytest.mark.postgis
X0, Y0 = 480_000.0, 3_497_000.0  # near 城桥镇, metric CRS


def _lonlat(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(from_metric().transform(xy[:, 0], xy[:, 1])))


def _metric(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(to_metric().transform(xy[:, 0], xy[:, 1])))


def _store(session, pipes, sites):
    """Insert pipes [(code, geom_m, class, od_mm, status)] and sites [(code, geom_m)]."""
    for code, geom, cls, od, status in pipes:
        multi = geom if geom.geom_type.startswith("Multi") else MultiLineString([geom])
        session.execute(
            text(
                "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, status, geom) "
                "VALUES (:c, :cls, :od, :st, ST_GeomFromText(:wkt, 4490))"
            ),
            {
                "c": code,
                "cls": cls,
                "od": od,
                "st": status,
                "wkt": shapely.to_wkt(_lonlat(multi), rounding_precision=-1),
            },
        )
    for code, geom, *declared in sites:
        multi = geom if geom.geom_type.startswith("Multi") else MultiPolygon([geom])
        session.execute(
            text(
                "INSERT INTO construction_project (registration_code, name, kind, status, activities, geom) "
                "VALUES (:c, :c, 'housing', 'under_construction', :acts, ST_GeomFromText(:wkt, 4490))"
            ),
            {"c": code, "wkt": shapely.to_wkt(_lonlat(multi), rounding_precision=-1),
             "acts": declared[0] if declared else None},
        )


def _memory_result(session, rule_set):
    pipes = session.execute(
        text(
            "SELECT external_code, ST_AsBinary(geom), pressure_class, outer_diameter_mm FROM gas_pipeline "
            "WHERE deleted_at IS NULL AND status <> 'abandoned'"
        )
    ).all()
    sites = session.execute(
        text("SELECT registration_code, ST_AsBinary(geom), activities FROM construction_project "
             "WHERE deleted_at IS NULL")
    ).all()
    pipe_set = PipelineSet(
        ids=[p[0] for p in pipes],
        geoms=[_metric(shapely.from_wkb(bytes(p[1]))) for p in pipes],
        pressure_classes=[p[2] for p in pipes],
        outer_diameters_mm=[p[3] for p in pipes],
    )
    site_set = SiteSet(
        ids=[s[0] for s in sites], geoms=[_metric(shapely.from_wkb(bytes(s[1]))) for s in sites],
        activity_masks=[activities_mask(Activity(c) for c in s[2].split(",")) if s[2] else
                        ALL_ACTIVITIES_MASK for s in sites],
    )
    result = screen_sites(pipe_set, site_set, rule_set)
    return {
        (r.site_id, r.pipeline_id): (r.zone.value, r.distance_m, ",".join(r.prohibited_activities),
                                     ",".join(r.plan_required_activities), r.required_action,
                                     f"{r.rule_set_name}@{r.rule_set_version}")
        for r in result.to_records()
    }


def _db_result(session, rule_set):
    screen_db(session, rule_set)
    return {
        (c["site_id"], c["pipeline_id"]): (c["zone"], c["distance_m"], c["prohibited_activities"],
                                           c["plan_required_activities"], c["required_action"],
                                           c["rule_set"])
        for c in open_conflicts(session, rule_set.label)
    }


def _assert_same(memory, db):
    assert set(memory) == set(db)
    for key, (zone, distance, *judged) in memory.items():
        assert db[key][0] == zone, key
        assert abs(db[key][1] - distance) < 1e-3, key
        # Activities, the composed action and the version agree to the character.
        assert list(db[key][2:]) == judged, key


def _square(cx, cy, half):
    return Polygon(
        [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    )


EDGE_PIPES = [
    ("HP-1", LineString([(X0 - 500, Y0), (X0 + 500, Y0)]), "high_a", 610.0, "in_service"),
    (
        "MP-1",
        LineString([(X0 - 500, Y0 + 100), (X0 + 500, Y0 + 100)]),
        classify_pressure(0.4).value,
        160.0,
        "in_service",
    ),
    (
        "SH-1",
        LineString([(X0 - 500, Y0 + 200), (X0 + 500, Y0 + 200)]),
        classify_pressure(1.6).value,
        323.9,
        "in_service",
    ),
    ("DN1000", LineString([(X0 - 500, Y0 - 300), (X0 + 500, Y0 - 300)]), "subhigh_a", 1016.0, "in_service"),
    (
        "ARC",
        LineString(
            [(X0 + 300 + 40 * math.cos(a), Y0 + 400 + 40 * math.sin(a)) for a in np.linspace(0, math.pi, 60)]
        ),
        "medium_b",
        110.0,
        "in_service",
    ),
    (
        "MULTI",
        MultiLineString(
            [[(X0 - 400, Y0 + 600), (X0 - 300, Y0 + 600)], [(X0 - 200, Y0 + 600), (X0 - 100, Y0 + 600)]]
        ),
        "low",
        32.0,
        "in_service",
    ),
    ("YARD", LineString([(X0 + 195, Y0 + 1000), (X0 + 205, Y0 + 1000)]), "low", 32.0, "in_service"),
    ("OLD", LineString([(X0 - 500, Y0 + 800), (X0 + 500, Y0 + 800)]), "medium_a", 110.0, "abandoned"),
]
EDGE_SITES = [
    ("crossing", _square(X0, Y0, 20)),
    (
        "courtyard",
        Polygon(
            _square(X0 + 200, Y0 + 1000, 30).exterior.coords,
            [_square(X0 + 200, Y0 + 1000, 10).exterior.coords],
        ),
    ),
    ("near-hp-48m", _square(X0 - 200, Y0 - 48.305 - 10 - 0.1, 10)),
    (
        "mp-6m-outside",
        Polygon(
            [
                (X0 + 400, Y0 + 100 + 0.08 + 6.01),
                (X0 + 420, Y0 + 100 + 0.08 + 6.01),
                (X0 + 420, Y0 + 130),
                (X0 + 400, Y0 + 130),
            ]
        ),
    ),
    (
        "mp-0.69m",
        Polygon(
            [
                (X0 - 450, Y0 + 100 + 0.08 + 0.69),
                (X0 - 430, Y0 + 100 + 0.08 + 0.69),
                (X0 - 430, Y0 + 120),
                (X0 - 450, Y0 + 120),
            ]
        ),
    ),
    (
        "dn1000-wall",
        Polygon(
            [
                (X0, Y0 - 300 + 0.508 + 0.65),
                (X0 + 20, Y0 - 300 + 0.508 + 0.65),
                (X0 + 20, Y0 - 270),
                (X0, Y0 - 270),
            ]
        ),
    ),
    ("arc-corner", _square(X0 + 300, Y0 + 400, 36)),
    ("multi-site", MultiPolygon([_square(X0 - 350, Y0 + 610, 5), _square(X0 + 450, Y0 + 150, 5)])),
    ("by-abandoned", _square(X0, Y0 + 805, 3)),
    ("far-away", _square(X0 + 5000, Y0 + 5000, 10)),
]


@pytest.mark.parametrize("rules", ["shanghai@2018.1", "shanghai@2026.1", "gb55009"])
def test_engines_agree_on_hand_made_edge_cases(db_session, rules):
    rule_set = load_rule_set(rules)
    _store(db_session, EDGE_PIPES, EDGE_SITES)
    memory = _memory_result(db_session, rule_set)
    db = _db_result(db_session, rule_set)
    _assert_same(memory, db)
    assert ("crossing", "HP-1") in db and db[("crossing", "HP-1")][:2] == ("protection", 0.0)
    assert not any(site == "by-abandoned" for site, _ in db)
    assert not any(site == "far-away" for site, _ in db)


def test_shanghai_figures_on_edge_cases(db_session):
    rule_set = load_rule_set("shanghai@2018.1")
    _store(db_session, EDGE_PIPES, EDGE_SITES)
    db = _db_result(db_session, rule_set)
    assert db[("mp-0.69m", "MP-1")][0] == "protection"  # 0.69 m < 0.7 m from the wall
    assert ("mp-6m-outside", "MP-1") not in db  # 6.01 m from the wall
    # DN1000: 1.158 m from the centreline but 0.65 m from the wall -> protection
    assert db[("dn1000-wall", "DN1000")][0] == "protection"
    assert db[("near-hp-48m", "HP-1")][0] == "control"
    # The pipe lies in the courtyard hole: 5 m to the hole's ring, not 0.
    assert db[("courtyard", "YARD")][0] == "control"
    assert db[("courtyard", "YARD")][1] == pytest.approx(5.0 - 0.016, abs=1e-3)


coords = st.floats(min_value=-300, max_value=300, allow_nan=False)


@st.composite
def portfolios(draw):
    pipes = []
    for i in range(draw(st.integers(1, 6))):
        n = draw(st.integers(2, 5))
        pts = [(X0 + draw(coords), Y0 + draw(coords)) for _ in range(n)]
        line = LineString(pts)
        if line.length == 0:
            line = LineString([pts[0], (pts[0][0] + 1.0, pts[0][1])])
        cls = draw(st.sampled_from(list(PressureClass))).value
        od = draw(st.sampled_from([32.0, 110.0, 160.0, 323.9, 610.0, 1016.0]))
        pipes.append((f"P{i}", line, cls, od, "in_service"))
    sites = []
    for j in range(draw(st.integers(1, 6))):
        cx, cy = X0 + draw(coords), Y0 + draw(coords)
        w, h = draw(st.floats(2, 80)), draw(st.floats(2, 80))
        declared = draw(st.one_of(st.none(), st.sets(st.sampled_from(list(Activity)), min_size=1)))
        sites.append((f"S{j}", Polygon([(cx, cy), (cx + w, cy), (cx + w, cy + h), (cx, cy + h)]),
                      canonical_activities(declared)))
    return pipes, sites


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(portfolio=portfolios(),
       rules=st.sampled_from(["shanghai@2018.1", "shanghai@2026.1", "gb55009"]))
def test_engines_agree_on_random_portfolios(db_session, portfolio, rules):
    pipes, sites = portfolio
    rule_set = load_rule_set(rules)
    savepoint = db_session.begin_nested()
    try:
        _store(db_session, pipes, sites)
        _assert_same(_memory_result(db_session, rule_set), _db_result(db_session, rule_set))
    finally:
        savepoint.rollback()


def test_incremental_screen_opens_updates_and_closes(db_session):
    rule_set = load_rule_set("shanghai@2018.1")
    _store(db_session, EDGE_PIPES[:1], [])
    full = screen_db(db_session, rule_set)
    assert full.in_range == 0
    _store(db_session, [], [("new-site", _square(X0, Y0 + 30, 5))])
    site_id = db_session.execute(
        text("SELECT id FROM construction_project WHERE registration_code = 'new-site'")
    ).scalar_one()
    first = screen_db(db_session, rule_set, project_ids=[site_id])
    assert len(first.new_conflict_ids) == 1 and first.closed == 0
    again = screen_db(db_session, rule_set, project_ids=[site_id])
    assert again.new_conflict_ids == [] and again.updated == 1  # exactly one conflict per pair
    # The site moves out of range: the conflict is closed, not deleted.
    db_session.execute(
        text("UPDATE construction_project SET geom = ST_GeomFromText(:wkt, 4490) WHERE id = :id"),
        {"wkt": shapely.to_wkt(_lonlat(MultiPolygon([_square(X0, Y0 + 500, 5)]))), "id": site_id},
    )
    moved = screen_db(db_session, rule_set, project_ids=[site_id])
    assert moved.closed == 1 and moved.new_conflict_ids == []
    rows = (
        db_session.execute(
            text("SELECT closed_at IS NOT NULL FROM pipeline_conflict WHERE project_id = :id"),
            {"id": site_id},
        )
        .scalars()
        .all()
    )
    assert rows == [True]
    # A pipeline change re-screens from the pipeline side.
    pipe_id = db_session.execute(
        text("SELECT id FROM gas_pipeline WHERE external_code = 'HP-1'")
    ).scalar_one()
    db_session.execute(
        text("UPDATE gas_pipeline SET geom = ST_GeomFromText(:wkt, 4490) WHERE id = :id"),
        {
            "wkt": shapely.to_wkt(_lonlat(MultiLineString([[(X0 - 500, Y0 + 500), (X0 + 500, Y0 + 500)]]))),
            "id": pipe_id,
        },
    )
    by_pipe = screen_db(db_session, rule_set, pipeline_ids=[pipe_id])
    assert len(by_pipe.new_conflict_ids) == 1
