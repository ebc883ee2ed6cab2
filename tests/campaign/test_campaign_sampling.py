"""Invariants of the district spot-check sampling planner."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.errors import CampaignError
from campaign.model import PermitState, ProjectRecord, Zone
from campaign.sampling import (
    FORCED_REASON,
    RANDOM_REASON,
    RISK_REASON_PREFIX,
    candidate_stages,
    plan_campaign,
    plan_stage,
    stage_quota,
)
from campaign.settings import CampaignSettings


@st.composite
def portfolios(draw):
    """A year, a quota and up to 40 projects spread over the year and the one before."""
    year = draw(st.integers(2024, 2030))
    count = draw(st.integers(0, 40))
    origin = date(year - 1, 6, 1)
    projects = []
    for index in range(count):
        start = origin + timedelta(days=draw(st.integers(0, 560)))
        open_ended = draw(st.booleans())
        end = None if open_ended else start + timedelta(days=draw(st.integers(0, 300)))
        projects.append(
            ProjectRecord(
                id=f"P{index:03d}",
                start_date=start,
                end_date=end,
                hazardous=draw(st.booleans()),
                zone=draw(st.sampled_from([None, Zone.PROTECTION, Zone.CONTROL])),
                permit_status=draw(st.sampled_from([None, *PermitState])),
                open_hazards=draw(st.integers(0, 5)),
                inspected=draw(st.booleans()),
            )
        )
    quota = draw(st.integers(1, 100)) / 100
    return projects, CampaignSettings.for_year(year, {"spot_check_quota": quota})


def _window_ids(projects, stage):
    return {p.id for p in projects if p.active_between(stage.window_start, stage.window_end)}


@settings(max_examples=60, deadline=None)
@given(portfolios(), st.integers(0, 2**31 - 1))
def test_plan_invariants(portfolio, seed):
    projects, campaign = portfolio
    plan = plan_campaign(projects, campaign, seed)
    assert plan.seed == seed
    assert [s.stage for s in plan.stages] == [1, 2, 3]
    sampled_before: set[str] = set()
    for stage_plan, stage in zip(plan.stages, campaign.stages, strict=True):
        candidates = _window_ids(projects, stage)
        assert set(stage_plan.candidate_ids) == candidates
        picked = stage_plan.picked_ids
        assert len(picked) == len(set(picked)), "duplicate within a stage"
        assert set(picked) <= candidates, "picked a project outside its window"
        # quota: integer arithmetic, no float rounding
        hundredths = round(campaign.spot_check_quota * 100)
        needed = -(-hundredths * len(candidates) // 100)
        assert stage_plan.quota_needed == needed
        assert len(picked) >= needed
        if candidates:
            assert stage_plan.quota_met
        else:
            assert any("没有在建项目" in w for w in stage_plan.warnings)
        # forced picks are exactly the unsampled candidates whose last window this is
        forced = {p.project_id for p in stage_plan.picks if p.forced}
        expected_forced = {
            p.id
            for p in projects
            if p.id in candidates
            and p.id not in sampled_before
            and max(candidate_stages(p, campaign.stages)) == stage.number
        }
        assert forced == expected_forced
        sampled_before |= set(picked)
    every_candidate = set().union(*(_window_ids(projects, s) for s in campaign.stages))
    assert every_candidate <= plan.sampled_ids(), "full coverage violated"
    assert not any("覆盖缺口" in w for w in plan.warnings)


@settings(max_examples=30, deadline=None)
@given(portfolios(), st.integers(0, 2**31 - 1), st.randoms(use_true_random=False))
def test_plan_is_reproducible_and_independent_of_input_order(portfolio, seed, shuffler):
    projects, campaign = portfolio
    first = plan_campaign(projects, campaign, seed)
    shuffled = list(projects)
    shuffler.shuffle(shuffled)
    assert plan_campaign(shuffled, campaign, seed) == first
    for number in (1, 2, 3):
        redrawn = plan_stage(projects, number, campaign, seed, first.stages[: number - 1])
        assert redrawn == first.stages[number - 1]


@settings(max_examples=30, deadline=None)
@given(portfolios(), st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_redrawing_a_later_stage_keeps_earlier_stages_and_coverage(portfolio, seed, other):
    projects, campaign = portfolio
    plan = plan_campaign(projects, campaign, seed)
    stage1 = plan.stages[0]
    new2 = plan_stage(projects, 2, campaign, other, [stage1])
    new3 = plan_stage(projects, 3, campaign, other, [stage1, new2])
    assert plan.stages[0] == stage1  # the earlier plan object is untouched
    assert plan_stage(projects, 1, campaign, seed) == stage1
    covered = set(stage1.picked_ids) | set(new2.picked_ids) | set(new3.picked_ids)
    every_candidate = set().union(*(_window_ids(projects, s) for s in campaign.stages))
    assert every_candidate <= covered


def _open_ended(count: int, year: int = 2026) -> list[ProjectRecord]:
    return [ProjectRecord(id=f"Q{i:03d}", start_date=date(year, 1, 1)) for i in range(count)]


def test_different_seeds_give_different_plans():
    projects = _open_ended(200)
    campaign = CampaignSettings.for_year(2026)
    plans = {plan_campaign(projects, campaign, seed).stages[0].picked_ids for seed in range(10)}
    assert len(plans) >= 9


def test_high_risk_project_is_drawn_more_often():
    low = _open_ended(9)
    high = ProjectRecord(
        id="RISK",
        start_date=date(2026, 1, 1),
        hazardous=True,
        zone=Zone.PROTECTION,
        permit_status=PermitState.APPLIED,
    )
    campaign = CampaignSettings.for_year(2026, {"spot_check_quota": 0.1})
    counts: dict[str, int] = {}
    for seed in range(300):
        (pick,) = plan_stage([*low, high], 1, campaign, seed).picks
        counts[pick.project_id] = counts.get(pick.project_id, 0) + 1
    assert counts.get("RISK", 0) > 2 * max(v for k, v in counts.items() if k != "RISK")


def test_reasons_name_the_risk_factors_or_say_random_or_forced():
    quiet = [replace(p, inspected=True) for p in _open_ended(5)]
    finishing = ProjectRecord(
        id="END", start_date=date(2026, 3, 1), end_date=date(2026, 7, 31), hazardous=True
    )
    campaign = CampaignSettings.for_year(2026, {"spot_check_quota": 1.0})
    stage1 = plan_stage([*quiet, finishing], 1, campaign, seed=3)
    reasons = {p.project_id: p.reason for p in stage1.picks}
    assert reasons["END"] == FORCED_REASON
    assert all(reasons[p.id] == RANDOM_REASON for p in quiet)
    risky = replace(quiet[0], id="HZD", hazardous=True, open_hazards=2, inspected=False)
    stage1 = plan_stage([*quiet, risky], 1, campaign, seed=3)
    reason = {p.project_id: p.reason for p in stage1.picks}["HZD"]
    assert reason.startswith(RISK_REASON_PREFIX)
    assert "含危大工程" in reason and "2 项未整改隐患" in reason and "尚未接受检查" in reason


def test_stage_quota_has_no_float_error():
    assert stage_quota(0.3, 10) == 3
    assert stage_quota(0.3, 11) == 4
    assert stage_quota(0.3, 0) == 0
    assert stage_quota(0.7, 10) == 7
    assert stage_quota(1.0, 7) == 7
    # in binary floating point 0.14 * 50 is 7.000000000000001
    assert stage_quota(0.14, 50) == 7
    assert stage_quota(0.28, 25) == 7


def test_empty_stage_warns_in_chinese():
    projects = [ProjectRecord(id="A", start_date=date(2026, 1, 1), end_date=date(2026, 3, 1))]
    plan = plan_campaign(projects, CampaignSettings.for_year(2026), seed=1)
    assert len(plan.warnings) == 3
    assert all("没有在建项目" in w for w in plan.warnings)
    assert not any(stage.quota_met for stage in plan.stages)


def test_data_change_after_a_stage_is_reported_as_coverage_gap():
    projects = _open_ended(20)
    campaign = CampaignSettings.for_year(2026)
    stage1 = plan_stage(projects, 1, campaign, seed=11)
    missed = next(p for p in projects if p.id not in stage1.picked_ids)
    # the project turns out to have finished in July: stage 1 was its last window
    changed = [replace(p, end_date=date(2026, 7, 15)) if p.id == missed.id else p for p in projects]
    stage2 = plan_stage(changed, 2, campaign, seed=11, earlier_plans=[stage1])
    gaps = [w for w in stage2.warnings if "覆盖缺口" in w]
    assert len(gaps) == 1 and missed.id in gaps[0]


def test_earlier_plans_must_be_complete_and_ordered():
    projects = _open_ended(5)
    campaign = CampaignSettings.for_year(2026)
    plan = plan_campaign(projects, campaign, seed=2)
    with pytest.raises(CampaignError, match="第 1 至 2 阶段"):
        plan_stage(projects, 3, campaign, 2, [plan.stages[1]])
    with pytest.raises(CampaignError, match="重复"):
        plan_stage([*projects, projects[0]], 1, campaign, 2)
    with pytest.raises(CampaignError, match="随机种子"):
        plan_stage(projects, 1, campaign, -1)


def test_generated_seed_is_recorded_and_reproduces():
    projects = [
        ProjectRecord(id=f"R{i}", start_date=date(2026, 1, 1) + timedelta(days=i * 7))
        for i in range(30)
    ]
    campaign = CampaignSettings.for_year(2026)
    plan = plan_campaign(projects, campaign)
    assert plan_campaign(projects, campaign, plan.seed) == plan
