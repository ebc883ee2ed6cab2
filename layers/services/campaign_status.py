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

from campaign.compliance import (
    ProjectCompliance,
    StageProgress,
    assess_compliance,
    stage_progress,
    stage_progress_of,
)
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


# The loaders' rules (layers.campaign_loaders.load_portfolio: which live projects are
# campaign projects, over which days they are under construction) and the campaign's
# (campaign.compliance.stage_progress: candidates, checked) as one aggregate. At Shanghai
# size the records of 100,000 projects and their 200,000 conflicts took ~3 s to load into
# Python for four counts each; tests/maps/test_stage_coverage.py compares both ways.
# One pass over the projects with a count per stage (the stages are few: a FILTER
# each), rather than a join of every project with every stage (Shanghai: 95 -> 63 ms,
# 31 ms with migration 0025's covering index).
_STAGE_PROJECTS_SQL = """
WITH p AS (
  -- Planned: not started. Completed: from its start to its completion, both needed.
  -- Under way (under construction, suspended): from its start, else 1 January, open-ended.
  SELECT id, CASE WHEN status = 'completed' THEN start_date ELSE coalesce(start_date, :year_start) END
      AS first_day,
    CASE WHEN status = 'completed' THEN planned_completion_date END AS last_day
  FROM construction_project
  WHERE deleted_at IS NULL AND (CAST(:tw AS text) IS NULL OR township = :tw) AND status <> 'planned'
    AND (status <> 'completed' OR (start_date IS NOT NULL AND planned_completion_date IS NOT NULL))),
stages AS (
  SELECT * FROM unnest(CAST(:numbers AS int[]), CAST(:starts AS date[]), CAST(:ends AS date[]))
    WITH ORDINALITY AS s(number, window_start, window_end, position)),
checked AS (
  -- A spot check counts for the stage it states, else the first stage window holding its date.
  SELECT DISTINCT i.project_id, coalesce(i.round_or_stage, (
      SELECT s.number FROM stages s WHERE i.inspected_on BETWEEN s.window_start AND s.window_end
      ORDER BY s.position LIMIT 1)) AS stage
  FROM inspection i WHERE i.kind = 'spot' AND i.inspected_on <= :on)
SELECT {counts}
FROM p LEFT JOIN (SELECT project_id, array_agg(stage) AS stages FROM checked GROUP BY project_id) k
  ON k.project_id = p.id"""


def _stage_coverage_sql(count: int) -> str:
    """The aggregate for ``count`` stages: candidates_i and checked_i, i = 0 .. count - 1."""
    counts = []
    for i in range(count):
        during = (f"p.first_day <= CAST(:end_{i} AS date) "
                  f"AND (p.last_day IS NULL OR p.last_day >= CAST(:start_{i} AS date))")
        counts.append(f"count(*) FILTER (WHERE {during}) AS candidates_{i}")
        counts.append(f"count(*) FILTER (WHERE {during} AND CAST(:number_{i} AS int) = ANY(k.stages)) "
                      f"AS checked_{i}")
    return _STAGE_PROJECTS_SQL.format(counts=", ".join(counts))


def stage_coverage(
    session: Session, settings: CampaignSettings, on: dt.date, *, township: str | None = None
) -> list[StageCoverage]:
    """Return each stage's candidates, quota and checked projects on ``on`` (see the module)."""
    stages = settings.stages
    if not stages:
        return []
    params: dict = {"numbers": [s.number for s in stages], "starts": [s.window_start for s in stages],
                    "ends": [s.window_end for s in stages], "year_start": dt.date(settings.year, 1, 1),
                    "tw": township, "on": on}
    for i, stage in enumerate(stages):
        params.update({f"start_{i}": stage.window_start, f"end_{i}": stage.window_end,
                       f"number_{i}": stage.number})
    row = session.execute(text(_stage_coverage_sql(len(stages))), params).one()
    picked = planned_picks(session, settings.year, township=township)
    return [StageCoverage(stage_progress_of(s, int(row[2 * i]), int(row[2 * i + 1]), settings, on),
                          picked.get(s.number, 0))
            for i, s in enumerate(stages)]


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
