"""Projects and inspections CSV files of the file-mode CLI, parsed into campaign records."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TypeVar

from campaign.csv_table import MAX_ROWS, CsvRow, read_rows
from campaign.errors import CampaignInputError
from campaign.model import (
    HazardState,
    InspectionKind,
    InspectionRecord,
    PermitState,
    ProjectRecord,
    Zone,
)
from campaign.settings import CampaignSettings
from vocabulary import LabelledEnum

E = TypeVar("E", bound=LabelledEnum)

PROJECT_REQUIRED = ("id", "start_date", "end_date")
PROJECT_OPTIONAL = (
    "township",
    "hazardous",
    "zone",
    "permit_status",
    "open_hazards",
    "inspected",
    "insured",
    "gas_engineering",
    "under_supervision",
)
INSPECTION_REQUIRED = ("project_id", "kind", "date")
INSPECTION_OPTIONAL = (
    "round_or_stage",
    "findings",
    "major_hazard",
    "rectification_state",
    "rectification_deadline",
)
MAX_OPEN_HAZARDS = 10_000



def _aliases(enum: type[E], extra: dict[str, E]) -> dict[str, E]:
    """Return the Chinese labels of ``enum`` (the vocabulary's words) plus older synonyms."""
    return {**{member.label: member for member in enum}, **extra}


# Besides the codes and the vocabulary's labels, files may use older or shorter words.
ZONE_ALIASES = _aliases(Zone, {"保护范围": Zone.PROTECTION, "控制范围": Zone.CONTROL})
PERMIT_ALIASES = _aliases(
    PermitState,
    {
        "已办理": PermitState.APPROVED,
        "办理中": PermitState.APPLIED,
        "被驳回": PermitState.REJECTED,
        "驳回": PermitState.REJECTED,
        "过期": PermitState.EXPIRED,
    },
)
KIND_ALIASES = _aliases(InspectionKind, {"第三方": InspectionKind.THIRD_PARTY, "抽查": InspectionKind.SPOT})
STATE_ALIASES = _aliases(
    HazardState,
    {
        "整改中": HazardState.OPEN,
        "已整改": HazardState.RECTIFIED,
        "已复核": HazardState.VERIFIED,
        "已销项": HazardState.VERIFIED,
    },
)


def read_projects_csv(path: str | Path, *, max_rows: int = MAX_ROWS) -> list[ProjectRecord]:
    """Read a projects CSV (id, start_date, end_date, optional risk columns); ids must be unique."""
    rows = read_rows(
        path,
        required=PROJECT_REQUIRED,
        optional=PROJECT_OPTIONAL,
        id_column="id",
        max_rows=max_rows,
    )
    projects: list[ProjectRecord] = []
    first_row: dict[str, int] = {}
    for row in rows:
        project = _project(row)
        if project.id in first_row:
            raise row.error("id", f"编号 {project.id} 与第 {first_row[project.id]} 行数据重复。")
        first_row[project.id] = row.number
        projects.append(project)
    if not projects:
        raise CampaignInputError(f"文件 {Path(path).name} 只有表头，没有项目数据行。")
    return projects


def read_inspections_csv(
    path: str | Path,
    *,
    project_ids: Collection[str],
    settings: CampaignSettings,
    max_rows: int = MAX_ROWS,
) -> list[InspectionRecord]:
    """Read an inspections CSV; every project_id must be a known project; may have no rows."""
    rows = read_rows(
        path,
        required=INSPECTION_REQUIRED,
        optional=INSPECTION_OPTIONAL,
        id_column="project_id",
        max_rows=max_rows,
    )
    known = set(project_ids)
    return [_inspection(row, known, settings) for row in rows]


def _project(row: CsvRow) -> ProjectRecord:
    project_id = row.required_text("id")
    start = row.date("start_date", required=True)
    end = row.date("end_date", required=False)
    if start is not None and end is not None and end < start:
        raise row.error("end_date", f"竣工日期 {end} 早于开工日期 {start}。")
    return ProjectRecord(
        id=project_id,
        start_date=start,
        end_date=end,
        township=row.text("township") or None,
        hazardous=row.boolean("hazardous"),
        zone=row.choice("zone", Zone, ZONE_ALIASES),
        permit_status=row.choice("permit_status", PermitState, PERMIT_ALIASES),
        open_hazards=row.integer("open_hazards", maximum=MAX_OPEN_HAZARDS) or 0,
        inspected=row.boolean("inspected"),
        insured=row.boolean("insured"),
        gas_engineering=row.boolean("gas_engineering"),
        under_supervision=row.boolean("under_supervision"),
    )


def _inspection(row: CsvRow, known: set[str], settings: CampaignSettings) -> InspectionRecord:
    project_id = row.required_text("project_id")
    if project_id not in known:
        raise row.error("project_id", f"项目编号 {project_id} 不在项目清单中。")
    kind = row.choice("kind", InspectionKind, KIND_ALIASES)
    if kind is None:
        raise row.error("kind", "不能为空，请填写 self、third_party 或 spot。")
    day = row.date("date", required=True)
    if day.year != settings.year:
        raise row.error("date", f"检查日期 {day} 不在活动年度 {settings.year} 年内。")
    limits = {
        InspectionKind.SELF: len(settings.self_inspection_deadlines),
        InspectionKind.SPOT: len(settings.stages),
    }
    round_or_stage = row.integer("round_or_stage", minimum=1, maximum=limits.get(kind))
    deadline = row.date("rectification_deadline", required=False)
    if deadline is not None and deadline < day:
        raise row.error("rectification_deadline", f"整改期限 {deadline} 早于检查日期 {day}。")
    return InspectionRecord(
        project_id=project_id,
        kind=kind,
        date=day,
        round_or_stage=round_or_stage if kind is not InspectionKind.THIRD_PARTY else None,
        findings=row.text("findings"),
        major_hazard=row.boolean("major_hazard"),
        rectification_state=row.choice("rectification_state", HazardState, STATE_ALIASES),
        rectification_deadline=deadline,
    )
