"""The in-memory screening engine: hand-made edge cases and a brute-force property test.

All coordinates are metres in the metric CRS; the hand-made cases sit near the
district's false origin (x 500 km, y 3 500 km) so that float spacing is realistic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box

from spatial_rules.errors import DomainError, PressureError
from spatial_rules.pressure import PressureClass, classify_pressure
from spatial_rules.rulesets import load_rule_set
from spatial_rules.screening import (
    Conflict,
    PipelineSet,
    ScreeningInputError,
    ScreeningResult,
    SiteSet,
    screen_sites,
    summarize,
)
from spatial_rules.zones import Zone

X0, Y0 = 500_000.0, 3_500_000.0
SHANGHAI = load_rule_set("shanghai@2018.1")
GB = load_rule_set("gb55009")


def shifted(geom):
    return shapely.transform(geom, lambda xy: xy + np.array([X0, Y0]))


def pipes(*rows):
    """rows: (id, geometry in local metres, pressure class, outer diameter mm)."""
    ids, geoms, classes, diameters = zip(*rows, strict=True)
    return PipelineSet(list(ids), [shifted(g) for g in geoms], list(classes), list(diameters))


def sites(*rows):
    ids, geoms = zip(*rows, strict=True)
    return SiteSet(list(ids), [shifted(g) for g in geoms])


def by_pair(result: ScreeningResult) -> dict[tuple, Conflict]:
    return {(c.site_id, c.pipeline_id): c for c in result.to_records()}


HORIZONTAL = LineString([(-100, 0), (100, 0)])


# --- geometry edge cases -------------------------------------------------------------


def test_site_crossing_a_pipe_is_at_distance_zero():
    result = screen_sites(
        pipes(("G1", HORIZONTAL, "low", 110)), sites(("S1", box(-10, -5, 10, 5))), SHANGHAI
    )
    (conflict,) = result.to_records()
    assert conflict.zone is Zone.PROTECTION
    assert conflict.distance_m == 0.0 and conflict.centreline_distance_m == 0.0
    assert conflict.required_action == SHANGHAI.action_for("protection", "low")


def test_pipe_wholly_inside_a_site_is_at_distance_zero():
    inside = LineString([(-2, 0), (2, 1)])
    result = screen_sites(
        pipes(("G1", inside, "subhigh_a", 219)), sites(("S1", box(-50, -50, 50, 50))), GB
    )
    (conflict,) = result.to_records()
    assert conflict.centreline_distance_m == 0.0
    assert conflict.zone is Zone.PROTECTION


def test_pipe_in_a_courtyard_hole_is_not_at_distance_zero():
    courtyard = Polygon(
        [(-50, -50), (50, -50), (50, 50), (-50, 50)],
        holes=[[(-20, -20), (20, -20), (20, 20), (-20, 20)]],
    )
    pipe = LineString([(-5, 0), (5, 0)])  # 15 m from every side of the hole
    result = screen_sites(pipes(("G1", pipe, "high_a", 508)), sites(("S1", courtyard)), SHANGHAI)
    (conflict,) = result.to_records()
    assert conflict.centreline_distance_m == pytest.approx(15.0, abs=1e-9)
    assert conflict.distance_m == pytest.approx(15.0 - 0.254, abs=1e-9)
    assert conflict.zone is Zone.CONTROL  # 6 m <= 14.746 m < 50 m
    # The same pipe outside the hole's reach of a low-pressure rule: no conflict at all.
    low = screen_sites(pipes(("G1", pipe, "low", 508)), sites(("S1", courtyard)), SHANGHAI)
    assert len(low) == 0


def test_multi_part_site_and_pipe_are_one_feature_each():
    site = MultiPolygon([box(-300, 10, -250, 60), box(0, 3, 40, 40)])
    pipe = MultiLineString([[(-1000, -500), (-900, -500)], [(-100, 0), (100, 0)]])
    result = screen_sites(pipes(("G1", pipe, "medium_b", 160)), sites(("S1", site)), SHANGHAI)
    (conflict,) = result.to_records()
    assert conflict.centreline_distance_m == pytest.approx(3.0, abs=1e-9)
    assert conflict.zone is Zone.CONTROL
    assert conflict.site_y == pytest.approx(Y0 + 3.0) and conflict.pipe_y == pytest.approx(Y0)
    assert 0 <= conflict.site_x - X0 <= 40


def test_curved_pipe_near_a_site_corner():
    radius = 100.0
    angles = np.linspace(0.0, math.pi / 2, 721)
    arc = LineString(np.c_[radius * np.cos(angles), radius * np.sin(angles)])
    corner = (radius + 3.0) / math.sqrt(2.0)  # 3 m outside the arc, on its bisector
    site = box(corner, corner, corner + 30, corner + 30)
    result = screen_sites(pipes(("ARC", arc, "subhigh_b", 114)), sites(("S1", site)), GB)
    (conflict,) = result.to_records()
    # The polyline chords lie inside the true arc by at most the sagitta (~1.2 mm).
    sagitta = radius * (1 - math.cos((math.pi / 2) / 720 / 2))
    assert 3.0 <= conflict.centreline_distance_m <= 3.0 + sagitta + 1e-9
    assert conflict.distance_m == pytest.approx(conflict.centreline_distance_m - 0.057, abs=1e-12)
    assert conflict.zone is Zone.CONTROL  # 1.5 m <= 2.94 m < 15 m
    assert (conflict.site_x, conflict.site_y) == pytest.approx((X0 + corner, Y0 + corner))
    pipe_point = np.array([conflict.pipe_x - X0, conflict.pipe_y - Y0])
    assert np.hypot(*pipe_point) == pytest.approx(radius, abs=sagitta + 1e-9)
    assert pipe_point[0] == pytest.approx(pipe_point[1], abs=0.2)


def test_site_near_several_pipes_of_different_classes():
    site = box(-20, 0, 20, 30)

    def below(gap_m: float, od_mm: float) -> LineString:
        y = -(gap_m + od_mm / 2000.0)
        return LineString([(-50, y), (50, y)])

    network = pipes(
        ("P-low", below(0.5, 89), "low", 89),  # protection (< 0.7)
        ("P-subhigh", below(3.0, 273), "subhigh_a", 273),  # control
        ("P-high", below(30.0, 508), "high_a", 508),  # control (6..50)
        ("P-high-near", below(4.0, 508), "high_b", 508),  # protection (< 6)
        ("P-medium-far", below(7.0, 160), "medium_b", 160),  # outside 6 m
        ("P-ultra-far", below(60.0, 813), "ultra_high", 813),  # outside 50 m
    )
    result = screen_sites(network, sites(("S1", site)), SHANGHAI)
    assert result.pipeline_ids.tolist() == ["P-high", "P-high-near", "P-low", "P-subhigh"]
    zones = dict(zip(result.pipeline_ids.tolist(), result.zones.tolist(), strict=True))
    assert zones == {
        "P-high": "control",
        "P-high-near": "protection",
        "P-low": "protection",
        "P-subhigh": "control",
    }
    np.testing.assert_allclose(result.distance_m, [30.0, 4.0, 0.5, 3.0], atol=1e-9)
    np.testing.assert_array_equal(result.protection_range_m, [6.0, 6.0, 0.7, 0.7])
    np.testing.assert_array_equal(result.control_range_m, [50.0, 50.0, 6.0, 6.0])
    # Under GB 55009 the sub-high pipe (3 m) is still control, the medium one at 7 m is out.
    gb = screen_sites(network, sites(("S1", site)), GB)
    assert by_pair(gb)[("S1", "P-subhigh")].zone is Zone.CONTROL
    assert ("S1", "P-medium-far") not in by_pair(gb)


THRESHOLD_CASES = [
    (rule_set.label, cls, threshold, side)
    for rule_set in (SHANGHAI, GB)
    for cls in PressureClass
    for threshold in sorted(
        {rule_set.ranges_for(cls).protection_m, rule_set.ranges_for(cls).control_m}
    )
    for side in (-1, 1)
]


@pytest.mark.parametrize(("rule_name", "cls", "threshold", "side"), THRESHOLD_CASES)
def test_wall_distance_either_side_of_every_threshold(rule_name, cls, threshold, side):
    rule_set = load_rule_set(rule_name)
    zone_range = rule_set.ranges_for(cls)
    od_mm = 219.0
    gap = threshold + side * 1e-6
    y = od_mm / 2000.0 + gap
    result = screen_sites(
        pipes(("G", HORIZONTAL, cls.value, od_mm)), sites(("S", box(-5, y, 5, y + 20))), rule_set
    )
    if threshold == zone_range.protection_m:
        expected = Zone.PROTECTION if side < 0 else Zone.CONTROL
    else:
        expected = Zone.CONTROL if side < 0 else None
    if expected is None:
        assert len(result) == 0
        return
    (conflict,) = result.to_records()
    assert conflict.zone is expected
    assert conflict.distance_m == pytest.approx(gap, abs=1e-8)
    assert (conflict.protection_range_m, conflict.control_range_m) == (
        zone_range.protection_m,
        zone_range.control_m,
    )


@pytest.mark.parametrize(
    ("pressure_mpa", "gap_m", "shanghai_zone", "gb_zone"),
    [
        (0.4, 0.6, Zone.PROTECTION, Zone.CONTROL),  # medium A: 0.7/6 and 0.5/5
        (0.4, 5.5, Zone.CONTROL, None),
        (1.6, 1.0, Zone.CONTROL, Zone.PROTECTION),  # sub-high A: 0.7/6 and 1.5/15
        (1.6, 10.0, None, Zone.CONTROL),
    ],
)
def test_boundary_pressures_screen_with_lower_class_ranges(
    pressure_mpa, gap_m, shanghai_zone, gb_zone
):
    cls = classify_pressure(pressure_mpa)
    od_mm = 168.0
    y = od_mm / 2000 + gap_m
    network = pipes(("G", HORIZONTAL, cls, od_mm))
    site = sites(("S", box(-5, y, 5, y + 10)))
    for rule_set, expected in ((SHANGHAI, shanghai_zone), (GB, gb_zone)):
        zones = screen_sites(network, site, rule_set).zones.tolist()
        assert zones == ([] if expected is None else [expected.value]), rule_set.name


@pytest.mark.parametrize(
    ("cls", "centreline_m", "wall_zone", "centreline_zone"),
    [
        ("low", 0.9, Zone.PROTECTION, Zone.CONTROL),
        ("high_a", 6.3, Zone.PROTECTION, Zone.CONTROL),
        ("ultra_high", 50.3, Zone.CONTROL, None),
    ],
)
def test_dn1000_wall_distance_decides_the_zone(cls, centreline_m, wall_zone, centreline_zone):
    od_mm = 1016.0
    zone_range = SHANGHAI.ranges_for(cls)
    # Measured from the centreline the site would fall in another zone:
    if centreline_zone is None:
        assert centreline_m >= zone_range.control_m
    else:
        assert zone_range.protection_m <= centreline_m < zone_range.control_m
    site = box(-5, centreline_m, 5, centreline_m + 10)
    result = screen_sites(pipes(("DN1000", HORIZONTAL, cls, od_mm)), sites(("S", site)), SHANGHAI)
    (conflict,) = result.to_records()
    assert conflict.centreline_distance_m == pytest.approx(centreline_m, abs=1e-9)
    assert conflict.distance_m == pytest.approx(centreline_m - 0.508, abs=1e-9)
    assert conflict.zone is wall_zone


def test_wide_pipe_clamps_wall_distance_at_zero():
    site = box(-5, 0.3, 5, 10)  # closer to the centreline than the pipe's radius
    result = screen_sites(pipes(("G", HORIZONTAL, "medium_a", 1016)), sites(("S", site)), GB)
    assert result.distance_m.tolist() == [0.0]
    assert result.centreline_distance_m[0] == pytest.approx(0.3, abs=1e-9)


# --- output shape ---------------------------------------------------------------------


def test_conflict_record_carries_everything_a_report_needs():
    site = box(10, 2, 20, 12)
    result = screen_sites(
        pipes(("G9", HORIZONTAL, "subhigh_b", 219)), sites(("XM-001", site)), SHANGHAI
    )
    (conflict,) = result
    record = conflict.to_dict()
    assert record["site_id"] == "XM-001" and record["pipeline_id"] == "G9"
    assert record["zone"] == "control" and record["pressure_class"] == "subhigh_b"
    assert record["rule_set_name"] == "shanghai"
    assert record["rule_set_version"] == SHANGHAI.version
    assert record["outer_diameter_mm"] == 219.0
    assert record["required_action"] == SHANGHAI.action_for("control", "subhigh_b")
    assert record["rule_set"] == "shanghai@2018.1"
    assert record["prohibited_activities"] == ["blasting"]
    assert record["plan_required_activities"] == [
        "drilling", "excavation", "jacking", "piling", "pipe_laying"]
    assert record["distance_m"] == pytest.approx(2.0 - 0.1095, abs=1e-9)
    assert record["site_y"] == pytest.approx(Y0 + 2) and record["pipe_y"] == pytest.approx(Y0)
    assert record["site_x"] == pytest.approx(record["pipe_x"])
    assert 10 <= record["site_x"] - X0 <= 20
    columns = result.columns()
    assert set(columns) == set(record)
    assert all(len(values) == 1 for values in columns.values())


def test_rows_sorted_by_site_then_pipeline_id_in_natural_order():
    pipe_rows = [
        (9, LineString([(0, 0), (10, 0)]), "low", 60),
        (10, LineString([(0, 1), (10, 1)]), "low", 60),
        (2, LineString([(0, -1), (10, -1)]), "low", 60),
    ]
    site_rows = [(30, box(2, 2, 5, 5)), (4, box(2, -5, 5, -2)), (100, box(-1, -1, 11, 1))]
    result = screen_sites(pipes(*pipe_rows), sites(*site_rows), SHANGHAI)
    pairs = list(zip(result.site_ids.tolist(), result.pipeline_ids.tolist(), strict=True))
    assert pairs == sorted(pairs)
    assert pairs[0][0] == 4 and pairs[-1][0] == 100  # numeric, not text, order
    assert {p for s, p in pairs if s == 100} == {2, 9, 10}


def test_nearest_points_can_be_skipped():
    result = screen_sites(
        pipes(("G", HORIZONTAL, "low", 60)),
        sites(("S", box(0, 1, 5, 5))),
        SHANGHAI,
        nearest_points=False,
    )
    assert len(result) == 1 and np.isnan(result.site_x[0]) and np.isnan(result.pipe_y[0])


def test_empty_inputs_give_an_empty_result():
    no_sites = SiteSet([], [])
    no_pipes = PipelineSet([], [], [], [])
    assert len(screen_sites(pipes(("G", HORIZONTAL, "low", 60)), no_sites)) == 0
    result = screen_sites(no_pipes, sites(("S", box(0, 0, 1, 1))))
    assert len(result) == 0 and result.to_records() == []
    assert summarize(result).total == 0


def test_rule_set_may_be_given_by_name():
    result = screen_sites(pipes(("G", HORIZONTAL, "low", 60)), sites(("S", box(0, 0.6, 5, 5))),
                          "shanghai@2018.1")
    assert result.rule_set.name == "shanghai" and result.zones.tolist() == ["protection"]
    # The family alone means the version in force today: since 2026-03-01, GB 55009 figures.
    today = screen_sites(pipes(("G", HORIZONTAL, "low", 60)), sites(("S", box(0, 0.6, 5, 5))))
    assert today.rule_set.label == "shanghai@2026.1" and today.zones.tolist() == ["control"]
    gb = screen_sites(
        pipes(("G", HORIZONTAL, "low", 60)), sites(("S", box(0, 0.6, 5, 5))), "gb55009"
    )
    assert gb.zones.tolist() == ["control"]


def test_summarize_counts_by_zone_class_and_worst_zone_per_site():
    network = pipes(
        ("A", LineString([(0, 0), (100, 0)]), "low", 60),
        ("B", LineString([(0, 20), (100, 20)]), "high_b", 323),
        ("C", LineString([(0, -30), (100, -30)]), "medium_b", 110),
    )
    site_set = sites(
        ("S1", box(10, -1, 20, 1)),  # crosses A (protection), 18.8 m to B's wall (control)
        ("S2", box(30, 3, 40, 10)),  # 3 m from A (control), ~9.8 m from B (control)
        ("S3", box(50, -28, 60, -25)),  # 2 m from C, ~44.8 m from B (control); A: out
    )
    result = screen_sites(network, site_set, SHANGHAI)
    summary = summarize(result)
    assert summary.total == 6 and summary.site_count == 3 and summary.pipeline_count == 3
    assert summary.by_zone == {"protection": 1, "control": 5}
    assert summary.by_pressure_class["low"] == {"protection": 1, "control": 1}
    assert summary.by_pressure_class["high_b"] == {"protection": 0, "control": 3}
    assert summary.by_pressure_class["medium_b"] == {"protection": 0, "control": 1}
    assert summary.by_pressure_class["ultra_high"] == {"protection": 0, "control": 0}
    assert summary.sites_by_worst_zone == {"protection": 1, "control": 2}
    assert summary.rule_set_label == SHANGHAI.label
    assert summarize(result.to_records()) == summary


# --- input errors ---------------------------------------------------------------------


def test_bad_inputs_raise_domain_errors_naming_feature_and_field():
    line = shifted(HORIZONTAL)
    with pytest.raises(ScreeningInputError, match="管线编号“G1”重复"):
        PipelineSet(["G1", "G1"], [line, line], ["low", "low"], [60, 60])
    with pytest.raises(ScreeningInputError, match="管线 G2：字段 outer_diameter_mm"):
        PipelineSet(["G1", "G2"], [line, line], ["low", "low"], [60, -1])
    with pytest.raises(ScreeningInputError, match="管线 G1：字段 outer_diameter_mm"):
        PipelineSet(["G1"], [line], ["low"], [float("nan")])
    with pytest.raises(PressureError, match="管线 G2：字段 pressure_class"):
        PipelineSet(["G1", "G2"], [line, line], ["low", "very high"], [60, 60])
    with pytest.raises(ScreeningInputError, match="管线 G1：字段 geometry 应为线.*Polygon"):
        PipelineSet(["G1"], [box(0, 0, 1, 1)], ["low"], [60])
    with pytest.raises(ScreeningInputError, match="项目 S2：字段 geometry 应为面.*空值"):
        SiteSet(["S1", "S2"], [box(0, 0, 1, 1), None])
    with pytest.raises(ScreeningInputError, match="项目 S2：字段 geometry 应为面.*非几何对象"):
        SiteSet(["S1", "S2"], [box(0, 0, 1, 1), "POLYGON ((0 0, 1 0, 1 1, 0 0))"])
    with pytest.raises(ScreeningInputError, match="项目 S1：字段 geometry 为空几何"):
        SiteSet(["S1"], [Polygon()])
    with pytest.raises(ScreeningInputError, match="项目几何数量（1）与编号数量（2）"):
        SiteSet(["S1", "S2"], [box(0, 0, 1, 1)])
    with pytest.raises(ScreeningInputError, match="整数或全部为文本"):
        SiteSet([1, "S2"], [box(0, 0, 1, 1), box(0, 0, 1, 1)])
    assert issubclass(ScreeningInputError, DomainError)


# --- brute-force reference and properties --------------------------------------------


def brute_force(network: PipelineSet, site_set: SiteSet, rule_set) -> dict[tuple, tuple]:
    """Every pair, no index: (site_id, pipeline_id) -> (zone, wall distance, centreline)."""
    found = {}
    for site_id, site in zip(site_set.ids.tolist(), site_set.geoms, strict=True):
        for pipe_id, pipe, cls, od in zip(
            network.ids.tolist(),
            network.geoms,
            network.pressure_classes.tolist(),
            network.outer_diameters_mm.tolist(),
            strict=True,
        ):
            centreline = float(shapely.distance(site, pipe))
            wall = max(0.0, centreline - od / 2000.0)
            zone_range = rule_set.ranges_for(cls)
            if wall < zone_range.protection_m:
                zone = "protection"
            elif wall < zone_range.control_m:
                zone = "control"
            else:
                continue
            found[(site_id, pipe_id)] = (zone, wall, centreline)
    return found


DIAMETERS = [32.0, 57.0, 110.0, 219.0, 508.0, 1016.0]
THRESHOLDS = sorted(
    {value for rs in (SHANGHAI, GB) for r in rs.ranges for value in (r.protection_m, r.control_m)}
)
coord = st.floats(0, 120, allow_nan=False, allow_infinity=False)


@st.composite
def polylines(draw):
    n = draw(st.integers(2, 6))
    points = draw(st.lists(st.tuples(coord, coord), min_size=n, max_size=n, unique=True))
    line = LineString(points)
    if draw(st.booleans()):
        other = draw(st.lists(st.tuples(coord, coord), min_size=2, max_size=3, unique=True))
        line = MultiLineString([line, LineString(other)])
    return line


def _random_polygon(draw) -> Polygon:
    x, y = draw(coord), draw(coord)
    w = draw(st.floats(0.5, 40))
    h = draw(st.floats(0.5, 40))
    kind = draw(st.sampled_from(["box", "hull", "courtyard"]))
    if kind == "box":
        return box(x, y, x + w, y + h)
    if kind == "courtyard":
        return Polygon(
            [(x, y), (x + w, y), (x + w, y + h), (x, y + h)],
            holes=[
                [
                    (x + w * 0.25, y + h * 0.25),
                    (x + w * 0.75, y + h * 0.25),
                    (x + w * 0.75, y + h * 0.75),
                    (x + w * 0.25, y + h * 0.75),
                ]
            ],
        )
    points = draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=8))
    hull = shapely.convex_hull(shapely.multipoints(points))
    return hull if isinstance(hull, Polygon) and hull.area > 1e-3 else box(x, y, x + w, y + h)


@st.composite
def site_geometries(draw):
    first = _random_polygon(draw)
    if draw(st.integers(0, 3)) == 0:
        second = _random_polygon(draw)
        if not first.intersects(second):
            return MultiPolygon([first, second])
    return first


@st.composite
def scenarios(draw):
    n_pipes = draw(st.integers(1, 8))
    n_sites = draw(st.integers(1, 6))
    site_geoms = [draw(site_geometries()) for _ in range(n_sites)]
    classes = draw(
        st.lists(st.sampled_from(list(PressureClass)), min_size=n_pipes, max_size=n_pipes)
    )
    diameters = draw(st.lists(st.sampled_from(DIAMETERS), min_size=n_pipes, max_size=n_pipes))
    pipe_geoms = []
    for od_mm in diameters:
        if draw(st.booleans()):
            pipe_geoms.append(draw(polylines()))
            continue
        # Anchored pipe: a horizontal line below a site, its wall a hair from a threshold,
        # so that every run probes the zone edges and the diameter term of the search.
        xmin, ymin, xmax, _ = draw(st.sampled_from(site_geoms)).bounds
        gap = draw(st.sampled_from(THRESHOLDS)) + draw(
            st.sampled_from([-1e-6, 1e-6]) | st.floats(-0.6, 0.6)
        )
        y = ymin - od_mm / 2000.0 - gap
        pipe_geoms.append(LineString([(xmin - 5, y), (xmax + 5, y)]))
    network = PipelineSet(
        [f"G{i}" for i in range(n_pipes)], [shifted(g) for g in pipe_geoms], classes, diameters
    )
    site_set = SiteSet([f"S{i}" for i in range(n_sites)], [shifted(g) for g in site_geoms])
    rule_set = draw(st.sampled_from([SHANGHAI, GB]))
    return network, site_set, rule_set


def _result_table(result: ScreeningResult) -> dict[tuple, tuple]:
    return {
        (site_id, pipe_id): (zone, wall, centreline)
        for site_id, pipe_id, zone, wall, centreline in zip(
            result.site_ids.tolist(),
            result.pipeline_ids.tolist(),
            result.zones.tolist(),
            result.distance_m.tolist(),
            result.centreline_distance_m.tolist(),
            strict=True,
        )
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engine_equals_brute_force_reference(scenario):
    network, site_set, rule_set = scenario
    result = screen_sites(network, site_set, rule_set)
    expected = brute_force(network, site_set, rule_set)
    got = _result_table(result)
    assert set(got) == set(expected)
    for pair, (zone, wall, centreline) in expected.items():
        assert got[pair][0] == zone, pair
        assert abs(got[pair][1] - wall) <= 1e-9, pair
        assert abs(got[pair][2] - centreline) <= 1e-9, pair
    keys = list(zip(result.site_ids.tolist(), result.pipeline_ids.tolist(), strict=True))
    assert keys == sorted(keys)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_input_order_does_not_change_the_result(scenario, rnd):
    network, site_set, rule_set = scenario
    pipe_order = list(range(len(network)))
    site_order = list(range(len(site_set)))
    rnd.shuffle(pipe_order)
    rnd.shuffle(site_order)
    shuffled_network = PipelineSet(
        network.ids[pipe_order],
        network.geoms[pipe_order],
        network.pressure_classes[pipe_order],
        network.outer_diameters_mm[pipe_order],
    )
    shuffled_sites = SiteSet(site_set.ids[site_order], site_set.geoms[site_order])
    a = screen_sites(network, site_set, rule_set).columns()
    b = screen_sites(shuffled_network, shuffled_sites, rule_set).columns()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_threaded_and_serial_runs_agree_on_a_larger_random_set():
    rng = np.random.default_rng(11)
    n_pipes, n_sites = 3000, 900
    starts = rng.uniform(0, 1500, (n_pipes, 2))
    ends = starts + rng.normal(0, 40, (n_pipes, 2))
    network = PipelineSet(
        np.arange(n_pipes),
        shapely.linestrings(np.stack([starts, ends], axis=1)),
        rng.choice([c.value for c in PressureClass], n_pipes),
        rng.choice(DIAMETERS, n_pipes),
    )
    corners = rng.uniform(0, 1500, (n_sites, 2))
    sizes = rng.uniform(20, 120, (n_sites, 2))
    site_set = SiteSet(np.arange(n_sites), shapely.box(*corners.T, *(corners + sizes).T))
    serial = screen_sites(network, site_set, SHANGHAI, workers=1)
    threaded = screen_sites(network, site_set, SHANGHAI, workers=2)
    assert len(serial) > 20_000  # enough pairs for the thread pool to engage
    for name, values in serial.columns().items():
        np.testing.assert_array_equal(values, threaded.columns()[name], err_msg=name)
    # Spot-check against shapely directly for a sample of rows.
    rows = rng.choice(len(serial), 200, replace=False)
    exact = shapely.distance(
        site_set.geoms[serial.site_index[rows]], network.geoms[serial.pipeline_index[rows]]
    )
    np.testing.assert_array_equal(serial.centreline_distance_m[rows], exact)


# --- pipelines of large envelope: indexed by their segments -----------------------------


def _spread_network(rng, n_long: int = 40, n_short: int = 400) -> PipelineSet:
    """Long winding lines, multi-part features spread over the whole area, and short pipes."""
    geoms = []
    for _ in range(n_long):
        steps = rng.normal(0, 60, (rng.integers(20, 120), 2)) + rng.uniform(-30, 30, 2)
        geoms.append(LineString(np.cumsum(steps, axis=0) + rng.uniform(0, 3000, 2)))
    for _ in range(n_long // 2):  # one feature, parts kilometres apart
        starts = rng.uniform(0, 3000, (rng.integers(2, 30), 2))
        ends = starts + rng.normal(0, 25, starts.shape)
        geoms.append(MultiLineString([[tuple(a), tuple(b)] for a, b in zip(starts, ends, strict=True)]))
    starts = rng.uniform(0, 3000, (n_short, 2))
    geoms.extend(shapely.linestrings(np.stack([starts, starts + rng.normal(0, 30, starts.shape)], axis=1)))
    n = len(geoms)
    return PipelineSet(
        [f"P{i:04d}" for i in range(n)],
        [shifted(g) for g in geoms],
        rng.choice([c.value for c in PressureClass], n),
        rng.choice(DIAMETERS, n),
    )


def _spread_sites(rng, n: int = 150) -> SiteSet:
    corners = rng.uniform(0, 3000, (n, 2))
    sizes = rng.uniform(5, 150, (n, 2))
    return SiteSet([f"S{i:03d}" for i in range(n)],
                   [shifted(g) for g in shapely.box(*corners.T, *(corners + sizes).T)])


def test_long_and_spread_out_pipelines_equal_the_brute_force_reference():
    rng = np.random.default_rng(5)
    network, site_set = _spread_network(rng), _spread_sites(rng)
    index = network._index()
    assert len(index.segment_pipe) > 0 and len(index.whole) > 0  # both kinds of entry
    for rule_set in (SHANGHAI, GB):
        result = screen_sites(network, site_set, rule_set)
        expected = brute_force(network, site_set, rule_set)
        got = _result_table(result)
        assert len(got) > 100
        assert set(got) == set(expected)
        for pair, (zone, wall, centreline) in expected.items():
            assert got[pair] == (zone, wall, centreline), pair


@pytest.mark.parametrize("split_m", [0.0, 1e12])
def test_indexing_by_segments_or_whole_pipelines_gives_the_same_columns(monkeypatch, split_m):
    import spatial_rules.screening as screening

    rng = np.random.default_rng(9)
    network, site_set = _spread_network(rng), _spread_sites(rng)
    reference = screen_sites(network, site_set, GB).columns()
    monkeypatch.setattr(screening, "_SPLIT_EXTENT_M", split_m)
    rebuilt = PipelineSet(network.ids, network.geoms, network.pressure_classes, network.outer_diameters_mm)
    index = rebuilt._index()
    assert (len(index.whole) == 0) if split_m == 0.0 else (len(index.segment_pipe) == 0)
    other = screen_sites(rebuilt, site_set, GB).columns()
    for name, values in reference.items():
        np.testing.assert_array_equal(values, other[name], err_msg=name)
