"""Campaign settings: defaults, overrides, month ends and leap years."""

from __future__ import annotations

from datetime import date

import pytest

from campaign.dates import month_end, resolve_day
from campaign.errors import CampaignSettingsError
from campaign.model import ProjectRecord
from campaign.sampling import candidate_stages
from campaign.settings import CampaignSettings


def test_defaults_follow_the_district_plan():
    s = CampaignSettings.for_year(2026)
    assert s.registration_deadline == date(2026, 5, 31)
    assert s.self_inspection_deadlines == (date(2026, 5, 31), date(2026, 9, 30))
    assert s.third_party_deadline == date(2026, 11, 30)
    assert [(st.window_start, st.window_end) for st in s.stages] == [
        (date(2026, 6, 1), date(2026, 7, 31)),
        (date(2026, 8, 1), date(2026, 9, 30)),
        (date(2026, 10, 1), date(2026, 11, 30)),
    ]
    assert s.spot_check_quota == 0.30
    assert s.coverage_deadline == date(2026, 11, 30)
    assert CampaignSettings.for_year(2031).third_party_deadline == date(2031, 11, 30)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2028, 29), (2027, 28), (2000, 29), (2100, 28), (2024, 29)],
)
def test_february_month_end(year, expected):
    assert month_end(year, 2) == date(year, 2, expected)
    s = CampaignSettings.for_year(year, {"registration_deadline": "02-end"})
    assert s.registration_deadline == date(year, 2, expected)
    assert resolve_day("2月底", year, field="x") == date(year, 2, expected)


def test_feb_29_only_in_leap_years():
    assert resolve_day("02-29", 2028, field="x") == date(2028, 2, 29)
    with pytest.raises(CampaignSettingsError, match="02-end") as err:
        resolve_day("02-29", 2027, field="registration_deadline")
    assert "registration_deadline" in str(err.value) and "2027" in str(err.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("05-31", date(2026, 5, 31)),
        ("5/31", date(2026, 5, 31)),
        ("04-end", date(2026, 4, 30)),
        ("12-END", date(2026, 12, 31)),
        ("5月31日", date(2026, 5, 31)),
        ("2026-05-31", date(2026, 5, 31)),
        (date(2026, 5, 31), date(2026, 5, 31)),
    ],
)
def test_day_specs(spec, expected):
    assert resolve_day(spec, 2026, field="x") == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("04-31", "只有 30 天"),
        ("13-01", "月份 13"),
        ("tomorrow", "无法识别"),
        ("2025-05-31", "2026"),
    ],
)
def test_bad_day_specs(spec, fragment):
    with pytest.raises(CampaignSettingsError, match=fragment):
        resolve_day(spec, 2026, field="third_party_deadline")


def test_windows_are_inclusive_of_both_end_days_in_a_leap_february():
    s = CampaignSettings.for_year(
        2028,
        {
            "spot_check_stages": [
                {"start": "02-01", "end": "02-end"},
                {"start": "03-01", "end": "03-31"},
            ]
        },
    )
    assert s.stages[0].window_end == date(2028, 2, 29)
    ends_on_29th = ProjectRecord("A", date(2027, 12, 1), date(2028, 2, 29))
    starts_on_29th = ProjectRecord("B", date(2028, 2, 29), None)
    ends_on_28th = ProjectRecord("C", date(2027, 12, 1), date(2028, 2, 28))
    starts_on_1st = ProjectRecord("D", date(2028, 3, 1), date(2028, 3, 1))
    ends_before = ProjectRecord("E", date(2027, 12, 1), date(2028, 1, 31))
    assert candidate_stages(ends_on_29th, s.stages) == (1,)
    assert candidate_stages(starts_on_29th, s.stages) == (1, 2)
    assert candidate_stages(ends_on_28th, s.stages) == (1,)
    assert candidate_stages(starts_on_1st, s.stages) == (2,)
    assert candidate_stages(ends_before, s.stages) == ()


def test_default_window_edges():
    s = CampaignSettings.for_year(2026)
    assert candidate_stages(ProjectRecord("A", date(2026, 1, 1), date(2026, 5, 31)), s.stages) == ()
    assert candidate_stages(ProjectRecord("B", date(2026, 1, 1), date(2026, 6, 1)), s.stages) == (
        1,
    )
    assert candidate_stages(ProjectRecord("C", date(2026, 7, 31), None), s.stages) == (1, 2, 3)
    assert candidate_stages(ProjectRecord("D", date(2026, 11, 30), None), s.stages) == (3,)
    assert candidate_stages(ProjectRecord("E", date(2026, 12, 1), None), s.stages) == ()


def test_overrides_quota_and_percent():
    assert CampaignSettings.for_year(2026, {"spot_check_quota": "40%"}).spot_check_quota == 0.4
    assert CampaignSettings.for_year(2026, {"spot_check_quota": 0.5}).spot_check_quota == 0.5


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"quota": 0.3}, "允许的设置项"),
        ({"spot_check_quota": 0}, "spot_check_quota"),
        ({"spot_check_quota": 1.5}, "spot_check_quota"),
        ({"spot_check_quota": "abc"}, "不是数字"),
        ({"spot_check_quota": True}, "spot_check_quota"),
        ({"self_inspection_deadlines": ["09-30", "05-31"]}, "严格递增"),
        ({"self_inspection_deadlines": []}, "非空"),
        (
            {
                "spot_check_stages": [
                    {"start": "06-01", "end": "08-31"},
                    {"start": "08-01", "end": "09-30"},
                ]
            },
            "重叠",
        ),
        ({"spot_check_stages": [{"start": "07-31", "end": "06-01"}]}, "早于开始日期"),
        ({"spot_check_stages": [{"start": "06-01"}]}, "start 和 end"),
        ({"full_coverage": "yes"}, "true 或 false"),
        ({"year": 2027}, "不一致"),
    ],
)
def test_bad_overrides_are_named(overrides, fragment):
    with pytest.raises(CampaignSettingsError, match=fragment):
        CampaignSettings.for_year(2026, overrides)


def test_bad_year():
    with pytest.raises(CampaignSettingsError, match="年度"):
        CampaignSettings.for_year(1999)
    with pytest.raises(CampaignSettingsError, match="缺少年度"):
        CampaignSettings.from_mapping({})


def test_yaml_file(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text(
        "year: 2028\nregistration_deadline: 02-end\nspot_check_quota: 35%\n"
        "self_inspection_deadlines: ['02-29', '09-30']\n",
        encoding="utf-8",
    )
    s = CampaignSettings.from_yaml(path)
    assert s.year == 2028
    assert s.registration_deadline == date(2028, 2, 29)
    assert s.self_inspection_deadlines[0] == date(2028, 2, 29)
    assert s.spot_check_quota == 0.35
    assert (
        CampaignSettings.from_yaml(path, overrides={"spot_check_quota": 0.5}).spot_check_quota
        == 0.5
    )
    path.write_text("year: 2027\nself_inspection_deadlines: ['02-29', '09-30']\n", encoding="utf-8")
    with pytest.raises(CampaignSettingsError, match="campaign.yaml") as err:
        CampaignSettings.from_yaml(path)
    assert "self_inspection_deadlines[1]" in str(err.value)
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(CampaignSettingsError, match="映射"):
        CampaignSettings.from_yaml(path, year=2026)
    path.write_text("year: [unclosed\n", encoding="utf-8")
    with pytest.raises(CampaignSettingsError, match="YAML"):
        CampaignSettings.from_yaml(path)
    with pytest.raises(CampaignSettingsError, match="无法读取"):
        CampaignSettings.from_yaml(tmp_path / "missing.yaml", year=2026)


def test_settings_are_immutable():
    s = CampaignSettings.for_year(2026)
    with pytest.raises(AttributeError):
        s.spot_check_quota = 0.5  # type: ignore[misc]
