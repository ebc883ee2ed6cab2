"""Risk factors of a project within a spot-check window, and the sampling weight they give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from campaign.model import ProjectRecord, Zone


@dataclass(frozen=True)
class RiskWeights:
    """Weight added per risk factor; a project's weight is ``base`` plus its factors."""

    base: float = 1.0
    protection_conflict: float = 4.0  # highest: site in the protection range, no permit
    control_conflict: float = 2.0
    hazardous: float = 2.0
    per_open_hazard: float = 1.0
    max_counted_hazards: int = 3  # a long hazard list should not crowd out everything else
    not_inspected: float = 1.0
    starts_in_window: float = 1.0
    ends_in_window: float = 1.0


@dataclass(frozen=True)
class RiskAssessment:
    """A project's sampling weight in one window and the Chinese names of its factors."""

    weight: float
    factors: tuple[str, ...]


def assess_risk(
    project: ProjectRecord, window_start: date, window_end: date, weights: RiskWeights
) -> RiskAssessment:
    """Return the weight and risk factors of ``project`` for the window [start, end]."""
    weight = weights.base
    factors: list[str] = []
    if project.unpermitted_conflict and project.zone is Zone.PROTECTION:
        weight += weights.protection_conflict
        factors.append(f"位于燃气管道{Zone.PROTECTION.label}且未办结保护手续")
    elif project.unpermitted_conflict:
        weight += weights.control_conflict
        factors.append(f"位于燃气管道{Zone.CONTROL.label}且未办结保护手续")
    if project.hazardous:
        weight += weights.hazardous
        factors.append("含危大工程")
    if project.open_hazards > 0:
        weight += weights.per_open_hazard * min(project.open_hazards, weights.max_counted_hazards)
        factors.append(f"存在 {project.open_hazards} 项未整改隐患")
    if not project.inspected:
        weight += weights.not_inspected
        factors.append("尚未接受检查")
    if window_start <= project.start_date <= window_end:
        weight += weights.starts_in_window
        factors.append("本阶段内开工")
    if project.end_date is not None and window_start <= project.end_date <= window_end:
        weight += weights.ends_in_window
        factors.append("本阶段内竣工")
    return RiskAssessment(weight=weight, factors=tuple(factors))
