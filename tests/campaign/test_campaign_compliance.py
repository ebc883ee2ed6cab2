"""Compliance on a date: duties just before and after their deadlines, hazards, tables."""

from __future__ import annotations

import csv
from datetime import date

import openpyxl
import pytest

from campaign.compliance import (
    DutyStatus,
    StageStatus,
    assess_compliance,
    self_inspection_round,
    stage_progress,
    with_inspection_facts,
)
from campaign.export import write_tables_csv, write_tables_xlsx
from campaign.model import (
    HazardState,
    InspectionKind,
    InspectionRecord,
    PermitState,
    ProjectRecord,
    Zone,
)
from campaign.settings import CampaignSettings
from campaign.statistics import TOTAL_ROW, monthly_statistics

S2026 = CampaignSettings.for_year(2026)
BUILDING = ProjectRecord(id="P1", start_date=date(2026, 1, 10), township="城桥镇", insured=True)


def _one(project, inspections, on, settings=S2026):
    (row,) = assess_compliance([project], inspections, settings, on)
    return row


def _self(day, round_=None, project="P1"):
    return InspectionRecord(project, InspectionKind.SELF, day, round_)


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 5, 30), DutyStatus.PENDING),
        (date(2026, 5, 31), DutyStatus.PENDING),
        (date(2026, 6, 1), DutyStatus.OVERDUE),
    ],
)
def test_first_round_overdue_only_after_31_may(on, expected):
    assert _one(BUILDING, [], on).self_inspections[0].status is expected


def test_round_done_on_the_deadline_day_or_late():
    on_time = _one(BUILDING, [_self(date(2026, 5, 31), 1)], date(2026, 6, 1))
    assert on_time.self_inspections[0].status is DutyStatus.DONE
    late = _one(BUILDING, [_self(date(2026, 6, 1), 1)], date(2026, 6, 1))
    assert late.self_inspections[0].status is DutyStatus.DONE_LATE
    # an inspection dated after the query date does not count yet
    future = _one(BUILDING, [_self(date(2026, 6, 2), 1)], date(2026, 6, 1))
    assert future.self_inspections[0].status is DutyStatus.OVERDUE


def test_round_required_only_for_projects_building_on_the_deadline():
    ended_30_may = ProjectRecord("A", date(2026, 1, 1), date(2026, 5, 30))
    ended_31_may = ProjectRecord("B", date(2026, 1, 1), date(2026, 5, 31))
    starts_1_jun = ProjectRecord("C", date(2026, 6, 1))
    day = date(2026, 6, 1)
    assert _one(ended_30_may, [], day).self_inspections[0].status is DutyStatus.NOT_REQUIRED
    assert _one(ended_31_may, [], day).self_inspections[0].status is DutyStatus.OVERDUE
    assert _one(starts_1_jun, [], day).self_inspections[0].status is DutyStatus.NOT_REQUIRED
    assert _one(starts_1_jun, [], day).self_inspections[1].status is DutyStatus.PENDING


def test_round_inferred_from_date_when_not_stated():
    assert self_inspection_round(_self(date(2026, 5, 31)), S2026) == 1
    assert self_inspection_round(_self(date(2026, 6, 1)), S2026) == 2
    assert self_inspection_round(_self(date(2026, 12, 1)), S2026) == 2
    assert self_inspection_round(_self(date(2026, 12, 1), 1), S2026) == 1
    row = _one(BUILDING, [_self(date(2026, 7, 1))], date(2026, 10, 1))
    assert [d.status for d in row.self_inspections] == [DutyStatus.OVERDUE, DutyStatus.DONE]


def test_leap_day_deadline():
    leap = CampaignSettings.for_year(2028, {"self_inspection_deadlines": ["02-end", "09-30"]})
    project = ProjectRecord("L", date(2028, 1, 1))
    assert (
        _one(project, [], date(2028, 2, 29), leap).self_inspections[0].status is DutyStatus.PENDING
    )
    assert (
        _one(project, [], date(2028, 3, 1), leap).self_inspections[0].status is DutyStatus.OVERDUE
    )
    done = [InspectionRecord("L", InspectionKind.SELF, date(2028, 2, 29))]
    assert _one(project, done, date(2028, 3, 1), leap).self_inspections[0].status is DutyStatus.DONE


def test_third_party_for_insured_projects_by_30_november():
    assert _one(BUILDING, [], date(2026, 11, 30)).third_party.status is DutyStatus.PENDING
    assert _one(BUILDING, [], date(2026, 12, 1)).third_party.status is DutyStatus.OVERDUE
    checked = [InspectionRecord("P1", InspectionKind.THIRD_PARTY, date(2026, 11, 30))]
    assert _one(BUILDING, checked, date(2026, 12, 1)).third_party.status is DutyStatus.DONE
    uninsured = ProjectRecord("U", date(2026, 1, 1))
    assert _one(uninsured, [], date(2026, 12, 1)).third_party.status is DutyStatus.NOT_REQUIRED


def test_spot_check_coverage_due_30_november():
    assert _one(BUILDING, [], date(2026, 11, 30)).spot_check.status is DutyStatus.PENDING
    row = _one(BUILDING, [], date(2026, 12, 1))
    assert row.spot_check.status is DutyStatus.OVERDUE
    assert any("区级抽查逾期未完成" in issue for issue in row.issues)
    outside = ProjectRecord("O", date(2026, 1, 1), date(2026, 5, 31))
    assert _one(outside, [], date(2026, 12, 1)).spot_check.status is DutyStatus.NOT_REQUIRED
    spot = InspectionRecord("P1", InspectionKind.SPOT, date(2026, 8, 3))
    row = _one(BUILDING, [spot], date(2026, 12, 1))
    assert row.spot_check.status is DutyStatus.DONE and row.spot_checked_stages == (2,)


def _hazard(deadline, state=HazardState.OPEN, major=False):
    return InspectionRecord(
        "P1", InspectionKind.SPOT, date(2026, 6, 10), 1, "临边防护缺失", major, state, deadline
    )


def test_hazard_overdue_only_after_its_deadline():
    open_major = [_hazard(date(2026, 6, 20), major=True)]
    assert _one(BUILDING, open_major, date(2026, 6, 20)).overdue_hazards == 0
    row = _one(BUILDING, open_major, date(2026, 6, 21))
    assert (row.overdue_hazards, row.overdue_major_hazards) == (1, 1)
    assert any("重大隐患 1 项" in issue for issue in row.issues)
    for state in (HazardState.RECTIFIED, HazardState.VERIFIED):
        assert (
            _one(BUILDING, [_hazard(date(2026, 6, 20), state)], date(2026, 7, 1)).open_hazards == 0
        )
    no_deadline = _one(BUILDING, [_hazard(None)], date(2026, 7, 1))
    assert no_deadline.hazards_without_deadline == 1 and no_deadline.overdue_hazards == 0


def test_supervision_and_permits():
    gas = ProjectRecord("G", date(2026, 3, 1), date(2026, 8, 31), gas_engineering=True)
    assert _one(gas, [], date(2026, 8, 31)).supervision_missing
    assert not _one(gas, [], date(2026, 9, 1)).supervision_missing
    supervised = ProjectRecord("G2", date(2026, 3, 1), gas_engineering=True, under_supervision=True)
    assert not _one(supervised, [], date(2026, 6, 1)).supervision_missing
    conflict = ProjectRecord(
        "Z",
        date(2026, 3, 1),
        date(2026, 8, 31),
        zone=Zone.PROTECTION,
        permit_status=PermitState.APPLIED,
    )
    assert _one(conflict, [], date(2026, 8, 31)).unpermitted_conflict
    assert not _one(conflict, [], date(2026, 9, 1)).unpermitted_conflict
    approved = ProjectRecord(
        "Z2", date(2026, 3, 1), zone=Zone.CONTROL, permit_status=PermitState.APPROVED
    )
    assert not _one(approved, [], date(2026, 6, 1)).unpermitted_conflict
    unknown = ProjectRecord("Z3", date(2026, 3, 1), zone=Zone.CONTROL)
    assert _one(unknown, [], date(2026, 6, 1)).unpermitted_conflict


def test_stage_progress_states():
    projects = [ProjectRecord(f"P{i}", date(2026, 1, 1)) for i in range(10)]
    spots = [InspectionRecord(f"P{i}", InspectionKind.SPOT, date(2026, 6, 15)) for i in range(3)]
    before = stage_progress(projects, spots, S2026, date(2026, 5, 31))
    assert [p.status for p in before] == [StageStatus.NOT_STARTED] * 3
    early = stage_progress(projects, spots[:2], S2026, date(2026, 7, 31))
    assert (early[0].checked, early[0].quota_needed, early[0].status) == (
        2,
        3,
        StageStatus.IN_PROGRESS,
    )
    missed = stage_progress(projects, spots[:2], S2026, date(2026, 8, 1))
    assert missed[0].status is StageStatus.MISSED
    met = stage_progress(projects, spots, S2026, date(2026, 6, 15))
    assert met[0].status is StageStatus.MET and met[1].status is StageStatus.NOT_STARTED
    stated = [InspectionRecord("P9", InspectionKind.SPOT, date(2026, 8, 2), 1)]
    assert stage_progress(projects, stated, S2026, date(2026, 9, 1))[0].checked == 1


def test_tables_have_chinese_headers_and_export(tmp_path):
    projects = [
        BUILDING,
        ProjectRecord("P2", date(2026, 2, 1), date(2026, 6, 30), township="陈家镇"),
        ProjectRecord("P3", date(2026, 2, 1)),
    ]
    inspections = [
        _self(date(2026, 5, 3), 1),
        InspectionRecord("P2", InspectionKind.SPOT, date(2026, 6, 5), 1, "堆土", True),
    ]
    tables = monthly_statistics(projects, inspections, S2026, date(2026, 6, 30))
    assert list(tables.monthly["月份"]) == [f"2026-{m:02d}" for m in range(1, 7)]
    june = tables.monthly.iloc[-1]
    assert (june["区级抽查次数"], june["发现隐患数"], june["其中重大隐患"]) == (1, 1, 1)
    assert tables.monthly.iloc[4]["自查次数"] == 1
    townships = tables.townships.set_index("乡镇")
    assert townships.loc[TOTAL_ROW, "项目数"] == 3
    assert townships.loc["城桥镇", "第1轮自查已完成"] == 1
    assert townships.loc["未填写乡镇", "第1轮自查逾期未完成"] == 1
    assert list(tables.stages["阶段"]) == [1, 2, 3]
    assert "问题说明" in tables.projects.columns

    paths = write_tables_csv(tables.files(), tmp_path / "out")
    assert {p.name for p in paths} == {"monthly.csv", "townships.csv", "stages.csv", "projects.csv"}
    raw = (tmp_path / "out" / "townships.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(tmp_path / "out" / "townships.csv", encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["乡镇", "项目数", "当前在建"]

    xlsx = write_tables_xlsx(tables.sheets(), tmp_path / "out" / "status.xlsx")
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["月度进展", "乡镇汇总", "抽查阶段", "项目明细"]
    assert book["项目明细"]["A1"].value == "项目编号"
    assert book["项目明细"].max_row == 4


def test_year_before_the_campaign_has_no_months():
    tables = monthly_statistics([BUILDING], [], S2026, date(2025, 12, 31))
    assert tables.monthly.empty and "月份" in tables.monthly.columns


def test_inspection_facts_feed_the_planner():
    other = ProjectRecord("P2", date(2026, 1, 1), open_hazards=4)
    records = [
        _hazard(date(2026, 6, 20)),
        _hazard(date(2026, 6, 20), HazardState.VERIFIED),
        InspectionRecord("P2", InspectionKind.SELF, date(2026, 7, 2)),
    ]
    p1, p2 = with_inspection_facts([BUILDING, other], records, date(2026, 7, 1))
    assert (p1.inspected, p1.open_hazards) == (True, 1)
    assert (p2.inspected, p2.open_hazards) == (False, 0)  # its record is after the date
    assert p1.township == BUILDING.township
