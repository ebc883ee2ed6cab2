"""Input records of the campaign: projects and inspection records, independent of storage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaign.errors import CampaignError
from vocabulary import PERMIT_SETTLED, HazardState, InspectionKind, PermitState, Zone

# The campaign speaks the shared vocabulary (one enum, one Chinese label per concept).
__all__ = ["HazardState", "InspectionKind", "InspectionRecord", "PermitState", "ProjectRecord", "Zone"]


@dataclass(frozen=True)
class ProjectRecord:
    """One construction project as the campaign sees it; ``end_date`` None = still building."""

    id: str
    start_date: dt.date
    end_date: dt.date | None = None
    township: str | None = None
    hazardous: bool = False  # 危大工程
    zone: Zone | None = None
    permit_status: PermitState | None = None
    open_hazards: int = 0
    inspected: bool = False
    insured: bool = False
    gas_engineering: bool = False
    under_supervision: bool = False  # 纳入监管, meaningful for gas engineering only

    def __post_init__(self) -> None:
        """Reject records that no file reader should ever produce."""
        if self.end_date is not None and self.end_date < self.start_date:
            raise CampaignError(
                f"项目 {self.id} 的竣工日期 {self.end_date} 早于开工日期 {self.start_date}。"
            )
        if self.open_hazards < 0:
            raise CampaignError(f"项目 {self.id} 的未整改隐患数不能为负数。")

    def active_between(self, first: dt.date, last: dt.date) -> bool:
        """Return whether the project is under construction on some day of [first, last]."""
        return self.start_date <= last and (self.end_date is None or self.end_date >= first)

    def active_on(self, day: dt.date) -> bool:
        """Return whether the project is under construction on ``day``."""
        return self.active_between(day, day)

    @property
    def unpermitted_conflict(self) -> bool:
        """Return whether the site reaches a gas range without settled protection procedures.

        Settled = approved, or the office decided none are needed.
        """
        return self.zone is not None and self.permit_status not in PERMIT_SETTLED


@dataclass(frozen=True)
class InspectionRecord:
    """One inspection of a project; a finding, if any, is followed to closed-loop rectification.

    ``round_or_stage`` is the self-inspection round (1, 2) or spot-check stage (1-3);
    None lets the campaign infer it from the date.
    """

    project_id: str
    kind: InspectionKind
    date: dt.date
    round_or_stage: int | None = None
    findings: str = ""
    major_hazard: bool = False
    rectification_state: HazardState | None = None
    rectification_deadline: dt.date | None = None
    # Stored inspections with several problems become one record per problem; the
    # shared id lets statistics count the inspection once.
    inspection_id: str | None = None

    @property
    def has_hazard(self) -> bool:
        """Return whether the inspection recorded a problem to rectify."""
        return (
            bool(self.findings.strip())
            or self.major_hazard
            or self.rectification_state is not None
            or self.rectification_deadline is not None
        )

    @property
    def hazard_open(self) -> bool:
        """Return whether a recorded problem is not yet rectified."""
        return self.has_hazard and self.rectification_state in (None, HazardState.OPEN)
