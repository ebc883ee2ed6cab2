"""District spot-check sampling planner (区级抽查): which projects each stage checks.

Algorithm, for stage k with the inclusive window [s_k, e_k]:

1. Candidates C_k are the projects under construction on some day of the window:
   ``start <= e_k and (end is None or end >= s_k)``. They are ordered by id, so the
   draw does not depend on the order of the input list.
2. The quota is q_k = ceil(quota * |C_k|), computed in decimal so that 14 % of 50 is 7, not 8.
3. Forced coverage F_k: candidates not sampled in stages 1..k-1 whose *last* candidate
   stage is k (no later window overlaps their construction period). All are picked,
   with the reason "强制覆盖：本项目最后一次处于抽查窗口".
4. The remaining max(0, q_k - |F_k|) picks are drawn from C_k minus F_k by weighted
   sampling without replacement (Efraimidis-Spirakis: key = ln(u) / w, the largest keys
   win), u from a numpy Generator seeded with SeedSequence([seed, k]). The weight w is
   the risk weight of ``campaign.risk`` (conflict with a gas range without approved
   procedures, hazardous sub-project, open hazards, not yet inspected, start or
   completion inside the window), times ``resample_weight`` for projects sampled in an
   earlier stage, so that uncovered projects are preferred and forced picks stay few.

Why every project is covered by the end of the last stage: let p be a candidate of at
least one stage and L the last such stage. If p was sampled before L, it is covered.
Otherwise, when stage L is drawn, p is a candidate, unsampled, and L is its last
candidate stage, so step 3 picks it. Forced picks only add to the quota (step 4 tops
up to q_k), and F_k is a subset of C_k, so no stage samples a non-candidate.

Each stage has its own random stream derived from (seed, k), so redrawing stage k with
the same seed and the same earlier plans reproduces it, and earlier stages are never
touched. The guarantee rests on the end dates known when a stage is drawn: if data
change afterwards (a project registered late, or given an earlier end date), a project
may have left the windows unsampled; ``plan_stage`` reports such gaps in ``warnings``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np

from campaign.errors import CampaignError
from campaign.model import ProjectRecord
from campaign.risk import RiskAssessment, assess_risk
from campaign.settings import CampaignSettings, SpotCheckStage

FORCED_REASON = "强制覆盖：本项目最后一次处于抽查窗口"
RANDOM_REASON = "随机抽取"
RISK_REASON_PREFIX = "风险加权抽取："
MAX_IDS_IN_WARNING = 10


@dataclass(frozen=True)
class Pick:
    """One project sampled in one stage, with the reason shown to inspectors."""

    project_id: str
    stage: int
    reason: str
    risk_score: float
    risk_factors: tuple[str, ...]
    forced: bool


@dataclass(frozen=True)
class StagePlan:
    """The drawn sample of one spot-check stage, with the seed that reproduces it."""

    stage: int
    window_start: date
    window_end: date
    seed: int
    quota: float
    candidate_ids: tuple[str, ...]
    quota_needed: int
    picks: tuple[Pick, ...]
    warnings: tuple[str, ...]

    @property
    def picked_ids(self) -> tuple[str, ...]:
        """Return the ids of the sampled projects in pick order."""
        return tuple(pick.project_id for pick in self.picks)

    @property
    def forced_count(self) -> int:
        """Return how many picks were forced by full coverage."""
        return sum(pick.forced for pick in self.picks)

    @property
    def quota_met(self) -> bool:
        """Return whether the stage sampled at least its quota (and had candidates)."""
        return bool(self.candidate_ids) and len(self.picks) >= self.quota_needed


@dataclass(frozen=True)
class CampaignPlan:
    """The spot-check plans of all stages of a year, drawn in order from one seed."""

    year: int
    seed: int
    stages: tuple[StagePlan, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        """Return the stages' warnings, each once, in stage order."""
        return tuple(dict.fromkeys(w for plan in self.stages for w in plan.warnings))

    def sampled_ids(self) -> set[str]:
        """Return the ids sampled in any stage."""
        return {pid for plan in self.stages for pid in plan.picked_ids}


def stage_quota(quota: float, candidates: int) -> int:
    """Return ceil(quota * candidates) without float error (14 % of 50 is 7, not 8)."""
    return math.ceil(Decimal(str(quota)) * candidates)


def candidate_stages(project: ProjectRecord, stages: Iterable[SpotCheckStage]) -> tuple[int, ...]:
    """Return the numbers of the stages whose window overlaps the project's construction."""
    return tuple(s.number for s in stages if project.active_between(s.window_start, s.window_end))


def plan_stage(
    projects: Sequence[ProjectRecord],
    stage: int,
    settings: CampaignSettings,
    seed: int,
    earlier_plans: Sequence[StagePlan] = (),
) -> StagePlan:
    """Draw stage ``stage`` given the plans already drawn for stages 1..stage-1."""
    _check_seed(seed)
    spot_stage = settings.stage(stage)
    by_id = _index(projects)
    _check_earlier(stage, earlier_plans)
    already = {pid for plan in earlier_plans for pid in plan.picked_ids}
    warnings = _unknown_earlier_ids(earlier_plans, by_id)
    warnings += _coverage_gaps(by_id.values(), stage, settings, already)

    candidates = sorted(
        (
            p
            for p in by_id.values()
            if p.active_between(spot_stage.window_start, spot_stage.window_end)
        ),
        key=lambda p: p.id,
    )
    needed = stage_quota(settings.spot_check_quota, len(candidates))
    assessments = {
        p.id: assess_risk(p, spot_stage.window_start, spot_stage.window_end, settings.risk_weights)
        for p in candidates
    }
    forced = [
        p
        for p in candidates
        if settings.full_coverage
        and p.id not in already
        and max(candidate_stages(p, settings.stages)) == stage
    ]
    forced_ids = {p.id for p in forced}
    pool = [p for p in candidates if p.id not in forced_ids]
    weights = np.array(
        [
            assessments[p.id].weight * (settings.resample_weight if p.id in already else 1.0)
            for p in pool
        ]
    )
    drawn = _weighted_without_replacement(
        weights, max(0, needed - len(forced)), np.random.default_rng([seed, stage])
    )

    picks = [_pick(p, stage, assessments[p.id], forced=True) for p in forced]
    picks += [_pick(pool[i], stage, assessments[pool[i].id], forced=False) for i in drawn]
    if not candidates:
        warnings.append(
            f"{spot_stage.label}窗口内没有在建项目，本阶段无法按 "
            f"{settings.spot_check_quota:.0%} 的比例抽查。"
        )
    elif len(picks) < needed:
        warnings.append(
            f"{spot_stage.label}应抽 {needed} 个项目，但只抽到 {len(picks)} 个，未达到比例要求。"
        )
    return StagePlan(
        stage=stage,
        window_start=spot_stage.window_start,
        window_end=spot_stage.window_end,
        seed=seed,
        quota=settings.spot_check_quota,
        candidate_ids=tuple(p.id for p in candidates),
        quota_needed=needed,
        picks=tuple(picks),
        warnings=tuple(warnings),
    )


def plan_campaign(
    projects: Sequence[ProjectRecord], settings: CampaignSettings, seed: int | None = None
) -> CampaignPlan:
    """Draw every stage in order; a fresh seed is generated (and recorded) when none is given."""
    if seed is None:
        seed = secrets.randbelow(2**31)
    plans: list[StagePlan] = []
    for spot_stage in settings.stages:
        plans.append(plan_stage(projects, spot_stage.number, settings, seed, plans))
    return CampaignPlan(year=settings.year, seed=seed, stages=tuple(plans))


def _weighted_without_replacement(
    weights: np.ndarray, count: int, rng: np.random.Generator
) -> list[int]:
    """Return ``count`` indices drawn without replacement with probability ~ weight."""
    if count <= 0 or weights.size == 0:
        return []
    # Efraimidis-Spirakis A-ES: key u**(1/w), compared as ln(u)/w; 1 - random() avoids ln(0).
    keys = np.log1p(-rng.random(weights.size)) / weights
    order = np.argsort(-keys, kind="stable")
    return [int(i) for i in order[:count]]


def _pick(project: ProjectRecord, stage: int, assessment: RiskAssessment, *, forced: bool) -> Pick:
    if forced:
        reason = FORCED_REASON
    elif assessment.factors:
        reason = RISK_REASON_PREFIX + "；".join(assessment.factors)
    else:
        reason = RANDOM_REASON
    return Pick(
        project_id=project.id,
        stage=stage,
        reason=reason,
        risk_score=round(assessment.weight, 3),
        risk_factors=assessment.factors,
        forced=forced,
    )


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CampaignError(f"随机种子必须是非负整数，而不是 {seed!r}。")


def _index(projects: Sequence[ProjectRecord]) -> dict[str, ProjectRecord]:
    by_id: dict[str, ProjectRecord] = {}
    for project in projects:
        if project.id in by_id:
            raise CampaignError(f"项目编号 {project.id} 重复出现，抽查计划要求编号唯一。")
        by_id[project.id] = project
    return by_id


def _check_earlier(stage: int, earlier_plans: Sequence[StagePlan]) -> None:
    numbers = [plan.stage for plan in earlier_plans]
    if numbers != list(range(1, stage)):
        expected = f"第 1 至 {stage - 1} 阶段" if stage > 1 else "无"
        raise CampaignError(
            f"抽取第 {stage} 阶段需要按顺序提供此前各阶段的既有计划（应为：{expected}），"
            f"实际提供的是：{numbers or '无'}。"
        )


def _unknown_earlier_ids(
    earlier_plans: Sequence[StagePlan], by_id: dict[str, ProjectRecord]
) -> list[str]:
    unknown = sorted({pid for plan in earlier_plans for pid in plan.picked_ids} - set(by_id))
    if not unknown:
        return []
    return [f"既有抽查计划中的 {len(unknown)} 个项目不在当前项目清单中：{_ids(unknown)}。"]


def _coverage_gaps(
    projects: Iterable[ProjectRecord], stage: int, settings: CampaignSettings, already: set[str]
) -> list[str]:
    """Warn about projects whose windows all lie before ``stage`` yet were never sampled."""
    if not settings.full_coverage:
        return []
    gaps = sorted(
        p.id
        for p in projects
        if p.id not in already
        and (stages := candidate_stages(p, settings.stages))
        and max(stages) < stage
    )
    if not gaps:
        return []
    return [
        f"覆盖缺口：{len(gaps)} 个项目已不在第 {stage} 阶段及以后的抽查窗口内，"
        f"但此前各阶段未被抽中（多因数据在抽取后变更），需另行安排检查：{_ids(gaps)}。"
    ]


def _ids(ids: Sequence[str]) -> str:
    shown = "、".join(ids[:MAX_IDS_IN_WARNING])
    return shown if len(ids) <= MAX_IDS_IN_WARNING else f"{shown} 等 {len(ids)} 个"
