"""What each project still owes the campaign on a given date: overdue and missing duties.

Rules (the district work plan; days from ``CampaignSettings``, windows inclusive):

- Self-inspection round r is due on its deadline for every project under construction
  on that day. An inspection counts for round r when it states round r, or states no
  round and falls on or before deadline r but after deadline r-1 (an unstated one after
  the last deadline counts for the last round). Done after the deadline is "逾期完成".
- Third-party inspection is due by its deadline for insured projects under construction
  on some day from 1 January to that deadline.
- Spot check: every project that is a candidate of some stage (under construction
  during its window) must be checked by the end of the last stage; per stage, the
  number of checked candidates is compared with the quota.
- Gas engineering projects under construction must be under supervision (纳入监管).
- A project reaching a protection or control range needs approved protection procedures
  unless it has been completed.
- A problem still open after its rectification deadline is overdue; an open problem
  without a deadline breaks the closed loop and is reported too.

Only inspections dated on or before the query date count; a duty whose deadline is
after that date is "未到期" (not yet due) unless already done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from campaign.model import InspectionKind, InspectionRecord, ProjectRecord
from campaign.sampling import candidate_stages, stage_quota
from campaign.settings import CampaignSettings, SpotCheckStage


class DutyStatus(StrEnum):
    """State of one duty of a project on the query date (values are the Chinese labels)."""

    DONE = "已完成"
    DONE_LATE = "逾期完成"
    OVERDUE = "逾期未完成"
    PENDING = "未到期"
    NOT_REQUIRED = "不适用"


class StageStatus(StrEnum):
    """State of a spot-check stage's quota on the query date."""

    NOT_STARTED = "未开始"
    IN_PROGRESS = "进行中"
    MET = "已达标"
    MISSED = "未达标"


@dataclass(frozen=True)
class Duty:
    """One duty of a project: its name, due date, status and the day it was first done."""

    name: str
    due: date
    status: DutyStatus
    done_on: date | None = None


@dataclass(frozen=True)
class ProjectCompliance:
    """A project's duties and open problems on the query date."""

    project_id: str
    township: str | None
    under_construction: bool
    self_inspections: tuple[Duty, ...]
    third_party: Duty
    spot_check: Duty
    spot_checked_stages: tuple[int, ...]
    supervision_missing: bool
    unpermitted_conflict: bool
    open_hazards: int
    overdue_hazards: int
    overdue_major_hazards: int
    hazards_without_deadline: int

    @property
    def duties(self) -> tuple[Duty, ...]:
        """Return all dated duties in order."""
        return (*self.self_inspections, self.third_party, self.spot_check)

    @property
    def issues(self) -> tuple[str, ...]:
        """Return the Chinese descriptions of what is overdue or missing."""
        issues = [
            f"{d.name}逾期未完成（应于 {d.due} 前）"
            for d in self.duties
            if d.status is DutyStatus.OVERDUE
        ]
        if self.supervision_missing:
            issues.append("燃气工程在建但未纳入监管")
        if self.unpermitted_conflict:
            issues.append("涉及燃气管道保护或控制范围但未办结保护手续")
        if self.overdue_hazards:
            major = f"（其中重大隐患 {self.overdue_major_hazards} 项）" * bool(
                self.overdue_major_hazards
            )
            issues.append(f"{self.overdue_hazards} 项隐患超过整改期限仍未整改{major}")
        if self.hazards_without_deadline:
            issues.append(f"{self.hazards_without_deadline} 项未整改隐患未设整改期限")
        return tuple(issues)


@dataclass(frozen=True)
class StageProgress:
    """How far a spot-check stage has got against its quota on the query date."""

    stage: SpotCheckStage
    candidates: int
    quota_needed: int
    checked: int
    status: StageStatus


def self_inspection_round(record: InspectionRecord, settings: CampaignSettings) -> int:
    """Return the round a self-inspection counts for: as stated, else inferred from its date."""
    if record.round_or_stage is not None:
        return record.round_or_stage
    deadlines = settings.self_inspection_deadlines
    return next((i for i, d in enumerate(deadlines, start=1) if record.date <= d), len(deadlines))


def spot_check_stage(record: InspectionRecord, settings: CampaignSettings) -> int | None:
    """Return the stage a spot check counts for: as stated, else the window holding its date."""
    if record.round_or_stage is not None:
        return record.round_or_stage
    return next(
        (s.number for s in settings.stages if s.window_start <= record.date <= s.window_end), None
    )


def assess_compliance(
    projects: Sequence[ProjectRecord],
    inspections: Iterable[InspectionRecord],
    settings: CampaignSettings,
    on: date,
) -> list[ProjectCompliance]:
    """Return each project's duties and open problems as of the end of day ``on``."""
    by_project: dict[str, list[InspectionRecord]] = defaultdict(list)
    for record in inspections:
        if record.date <= on:
            by_project[record.project_id].append(record)
    return [_project(p, by_project.get(p.id, []), settings, on) for p in projects]


def with_inspection_facts(
    projects: Sequence[ProjectRecord], inspections: Iterable[InspectionRecord], on: date
) -> list[ProjectRecord]:
    """Return the projects with ``inspected`` and ``open_hazards`` taken from records up to ``on``.

    Feeds the sampling planner from the inspection records; other fields are kept.
    """
    inspected: set[str] = set()
    open_hazards: dict[str, int] = defaultdict(int)
    for record in inspections:
        if record.date <= on:
            inspected.add(record.project_id)
            open_hazards[record.project_id] += record.hazard_open
    return [
        replace(
            p,
            inspected=p.inspected or p.id in inspected,
            open_hazards=open_hazards.get(p.id, 0),
        )
        for p in projects
    ]


def stage_progress(
    projects: Sequence[ProjectRecord],
    inspections: Iterable[InspectionRecord],
    settings: CampaignSettings,
    on: date,
) -> list[StageProgress]:
    """Return, per spot-check stage, candidates, quota and candidates checked by ``on``."""
    checked: dict[int, set[str]] = defaultdict(set)
    for record in inspections:
        if record.kind is InspectionKind.SPOT and record.date <= on:
            number = spot_check_stage(record, settings)
            if number is not None:
                checked[number].add(record.project_id)
    progress = []
    for stage in settings.stages:
        candidates = {
            p.id for p in projects if p.active_between(stage.window_start, stage.window_end)
        }
        done = len(candidates & checked[stage.number])
        progress.append(stage_progress_of(stage, len(candidates), done, settings, on))
    return progress


def stage_progress_of(
    stage: SpotCheckStage, candidates: int, checked: int, settings: CampaignSettings, on: date
) -> StageProgress:
    """Return a stage's progress from its counts of candidates and of candidates checked."""
    needed = stage_quota(settings.spot_check_quota, candidates)
    if on < stage.window_start:
        status = StageStatus.NOT_STARTED
    elif candidates and checked >= needed:
        status = StageStatus.MET
    elif on <= stage.window_end:
        status = StageStatus.IN_PROGRESS
    else:
        status = StageStatus.MISSED
    return StageProgress(stage, candidates, needed, checked, status)


def _project(
    project: ProjectRecord,
    records: list[InspectionRecord],
    settings: CampaignSettings,
    on: date,
) -> ProjectCompliance:
    selfs = [r for r in records if r.kind is InspectionKind.SELF]
    rounds = tuple(
        _duty(
            f"第{number}轮自查",
            deadline,
            project.active_on(deadline),
            [r.date for r in selfs if self_inspection_round(r, settings) == number],
            on,
        )
        for number, deadline in enumerate(settings.self_inspection_deadlines, start=1)
    )
    year_start = date(settings.year, 1, 1)
    third_party = _duty(
        InspectionKind.THIRD_PARTY.label,
        settings.third_party_deadline,
        project.insured and project.active_between(year_start, settings.third_party_deadline),
        [r.date for r in records if r.kind is InspectionKind.THIRD_PARTY],
        on,
    )
    spots = [r for r in records if r.kind is InspectionKind.SPOT]
    spot = _duty(
        InspectionKind.SPOT.label,
        settings.coverage_deadline,
        bool(candidate_stages(project, settings.stages)),
        [r.date for r in spots],
        on,
    )
    open_hazards = [r for r in records if r.hazard_open]
    overdue = [
        r for r in open_hazards if r.rectification_deadline and r.rectification_deadline < on
    ]
    finished = project.end_date is not None and project.end_date < on
    return ProjectCompliance(
        project_id=project.id,
        township=project.township,
        under_construction=project.active_on(on),
        self_inspections=rounds,
        third_party=third_party,
        spot_check=spot,
        spot_checked_stages=tuple(
            sorted({s for r in spots if (s := spot_check_stage(r, settings)) is not None})
        ),
        supervision_missing=project.gas_engineering
        and project.active_on(on)
        and not project.under_supervision,
        unpermitted_conflict=project.unpermitted_conflict and not finished,
        open_hazards=len(open_hazards),
        overdue_hazards=len(overdue),
        overdue_major_hazards=sum(r.major_hazard for r in overdue),
        hazards_without_deadline=sum(r.rectification_deadline is None for r in open_hazards),
    )


def _duty(name: str, due: date, required: bool, done_dates: list[date], on: date) -> Duty:
    if not required:
        return Duty(name, due, DutyStatus.NOT_REQUIRED)
    done_on = min(done_dates, default=None)
    if done_on is not None:
        return Duty(name, due, DutyStatus.DONE if done_on <= due else DutyStatus.DONE_LATE, done_on)
    return Duty(name, due, DutyStatus.OVERDUE if on > due else DutyStatus.PENDING)
