"""The report's overview map at city scale: townships the simplification emptied are skipped."""

from __future__ import annotations

import pandas as pd

from shapely.geometry import Polygon, box

from maps.report.data import ReportData
from maps.report.period import ReportPeriod
from maps.report.scene import overview_scene


def _data(townships) -> ReportData:
    district = box(0, 0, 10_000, 10_000)
    projects = pd.DataFrame({"code": [], "name": [], "township": [], "state": [], "zone": [], "geom": []})
    return ReportData(
        period=ReportPeriod(2026, 11), township=None, rule_set=None, townships=townships,
        synthetic_townships=True, district=district, focus=district, pipes={}, projects=projects,
        conflicts=pd.DataFrame(), new_conflicts=pd.DataFrame(), closed_in_month=0,
        alerts_in_month=0, alerts_unhandled=0, open_hazards=0, supervision=pd.DataFrame(),
    )


def test_an_emptied_township_gets_no_label_and_the_others_keep_theirs():
    scene = overview_scene(_data([
        ("黄浦区第0001片区", box(0, 0, 5_000, 5_000)),
        ("黄浦区第0002片区", Polygon()),  # a sliver ST_SimplifyPreserveTopology reduced to nothing
        ("黄浦区第0003片区", box(5_000, 5_000, 10_000, 10_000)),
    ]))
    assert [name for _x, _y, name in scene.labels] == ["黄浦区第0001片区", "黄浦区第0003片区"]
