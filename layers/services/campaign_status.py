"""The campaign's progress on stored data: compliance, statistics, spot-check stage coverage.

``stage_coverage`` is the one count of spot-check coverage per stage: the inspections map
panel, ``/api/campaign/status`` and the monthly report all use it (through
``campaign.compliance.stage_progress`` on the records of ``layers.campaign_loaders``):

- candidates of a stage: the projects under construction on some day of its window
  (started by its end, not completed before its start; see the loaders for projects
  without dates);
- checked: candidates with a spot check counted for that stage (the stage it states,
  else the stage window holding its date), dated on or before the query date;
- quota: at least the settings' share (30 %) of the candidates, rounded up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from campaign.compliance import ProjectCompliance, StageProgress, assess_compliance, stage_progress
from campaign.model import InspectionRecord
from campaign.settings import CampaignSettings
from campaign.statistics import StatisticsTables, monthly_statistics
from layers.campaign_loaders import Portfolio, load_inspection_records, load_portfolio
from layers.services.districts import SEEN_DISTRICT


@dataclass(frozen=True)
class CampaignStatus:
    """Compliance of the stored projects on one date, with the report tables."""

    on: dt.date
    portfolio: Portfolio
    inspections: tuple[InspectionRecord, ...]
    rows: tuple[ProjectCompliance, ...]
    tables: StatisticsTables
    settings: CampaignSettings = field(repr=False)

    @property
    def stages(self) -> list[StageProgress]:
        """Return the spot-check coverage per stage on ``on``."""
        return stage_progress(self.portfolio.projects, self.inspections, self.settings, self.on)


def campaign_status(session: Session, settings: CampaignSettings, on: dt.date) -> CampaignStatus:
    """Return compliance and the monthly statistics tables as of the end of day ``on``."""
    portfolio = load_portfolio(session, year=settings.year, on=on)
    records = load_inspection_records(session, portfolio, on=on)
    rows = assess_compliance(portfolio.projects, records, settings, on)
    tables = monthly_statistics(portfolio.projects, records, settings, on)
    return CampaignStatus(on, portfolio, tuple(records), tuple(rows), tables, settings)


@dataclass(frozen=True)
class StageCoverage:
    """Spot-check coverage of one stage, with how many projects the stored plan picked."""

    progress: StageProgress
    picked: int


def stage_coverage(
    session: Session, settings: CampaignSettings, on: dt.date, *, township: str | None = None
) -> list[StageCoverage]:
    """Return each stage's candidates, quota and checked projects on ``on`` (see the module)."""
    portfolio = load_portfolio(session, year=settings.year, on=on, township=township)
    records = load_inspection_records(session, portfolio, on=on)
    picked = planned_picks(session, settings.year, township=township)
    return [StageCoverage(p, picked.get(p.stage.number, 0))
            for p in stage_progress(portfolio.projects, records, settings, on)]


def planned_picks(session: Session, year: int, *, township: str | None = None) -> dict[int, int]:
    """Return stage -> how many projects (of ``township``, else all) the stored plan picked.

    The plan of the office this transaction sees (``SEEN_DISTRICT``): a district's own.
    """
    rows = session.execute(
        text(
            "SELECT pl.stage, count(*) FROM spot_check_pick k "
            "JOIN spot_check_plan pl ON pl.id = k.plan_id "
            "JOIN construction_project p ON p.id = k.project_id "
            "WHERE pl.year = :year AND (CAST(:tw AS text) IS NULL OR p.township = :tw) "
            f"AND pl.district IS NOT DISTINCT FROM {SEEN_DISTRICT} "
            "GROUP BY pl.stage"
        ),
        {"year": year, "tw": township},
    ).all()
    return {int(stage): int(n) for stage, n in rows}
