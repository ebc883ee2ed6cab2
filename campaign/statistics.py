"""Monthly statistics tables for the district commission (pandas, Chinese column headers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from campaign.compliance import (
    DutyStatus,
    ProjectCompliance,
    StageProgress,
    assess_compliance,
    stage_progress,
)
from campaign.dates import month_end
from campaign.model import InspectionKind, InspectionRecord, ProjectRecord
from campaign.settings import CampaignSettings

NO_TOWNSHIP = "未填写乡镇"
TOTAL_ROW = "合计"


@dataclass(frozen=True)
class StatisticsTables:
    """The report's tables; ``sheets()`` gives them under their Chinese titles."""

    projects: pd.DataFrame
    townships: pd.DataFrame
    stages: pd.DataFrame
    monthly: pd.DataFrame

    def sheets(self) -> dict[str, pd.DataFrame]:
        """Return the tables keyed by Chinese sheet title, in report order."""
        return {
            "月度进展": self.monthly,
            "乡镇汇总": self.townships,
            "抽查阶段": self.stages,
            "项目明细": self.projects,
        }

    def files(self) -> dict[str, pd.DataFrame]:
        """Return the tables keyed by ASCII file stem (for CSV export)."""
        return {
            "monthly": self.monthly,
            "townships": self.townships,
            "stages": self.stages,
            "projects": self.projects,
        }


def monthly_statistics(
    projects: Sequence[ProjectRecord],
    inspections: Sequence[InspectionRecord],
    settings: CampaignSettings,
    on: date,
) -> StatisticsTables:
    """Return the report tables as of ``on``: progress by month, township, stage and project."""
    rows = assess_compliance(projects, inspections, settings, on)
    return StatisticsTables(
        projects=project_table(rows),
        townships=township_table(rows),
        stages=stage_table(stage_progress(projects, inspections, settings, on)),
        monthly=monthly_table(projects, inspections, settings, on),
    )


def project_table(rows: Sequence[ProjectCompliance]) -> pd.DataFrame:
    """Return one row per project with each duty's status and the issues found."""
    records = []
    for row in rows:
        record: dict[str, object] = {"项目编号": row.project_id, "乡镇": row.township or NO_TOWNSHIP}
        record["当前在建"] = "是" if row.under_construction else "否"
        for duty in row.duties:
            record[duty.name] = duty.status.value
        record["已抽查阶段"] = "、".join(map(str, row.spot_checked_stages))
        record["未整改隐患"] = row.open_hazards
        record["逾期未整改隐患"] = row.overdue_hazards
        record["问题数"] = len(row.issues)
        record["问题说明"] = "；".join(row.issues)
        records.append(record)
    return pd.DataFrame.from_records(records)


def township_table(rows: Sequence[ProjectCompliance]) -> pd.DataFrame:
    """Return counts per township (required, done, overdue per duty) with a total row."""
    groups: dict[str, list[ProjectCompliance]] = {}
    for row in rows:
        groups.setdefault(row.township or NO_TOWNSHIP, []).append(row)
    records = [_township_record(name, groups[name]) for name in sorted(groups)]
    records.append(_township_record(TOTAL_ROW, list(rows)))
    return pd.DataFrame.from_records(records)


def stage_table(progress: Sequence[StageProgress]) -> pd.DataFrame:
    """Return one row per spot-check stage: window, candidates, quota, checked, status."""
    return pd.DataFrame.from_records(
        [
            {
                "阶段": p.stage.number,
                "开始日期": p.stage.window_start.isoformat(),
                "截止日期": p.stage.window_end.isoformat(),
                "候选项目数": p.candidates,
                "应抽数量": p.quota_needed,
                "已抽查数": p.checked,
                "状态": p.status.value,
            }
            for p in progress
        ]
    )


def monthly_table(
    projects: Sequence[ProjectRecord],
    inspections: Sequence[InspectionRecord],
    settings: CampaignSettings,
    on: date,
) -> pd.DataFrame:
    """Return per month of the year up to ``on``: projects building and inspections done."""
    last_month = min(12, max(0, (on.year - settings.year) * 12 + on.month))
    records = []
    checked: set[str] = set()
    for month in range(1, last_month + 1):
        first, last = date(settings.year, month, 1), min(month_end(settings.year, month), on)
        in_month = [r for r in inspections if first <= r.date <= last]
        checked |= {r.project_id for r in in_month if r.kind is InspectionKind.SPOT}
        records.append(
            {
                "月份": f"{settings.year}-{month:02d}",
                "在建项目数": sum(p.active_between(first, last) for p in projects),
                "自查次数": _count(in_month, InspectionKind.SELF),
                "第三方检查次数": _count(in_month, InspectionKind.THIRD_PARTY),
                "区级抽查次数": _count(in_month, InspectionKind.SPOT),
                "发现隐患数": sum(r.has_hazard for r in in_month),
                "其中重大隐患": sum(r.has_hazard and r.major_hazard for r in in_month),
                "累计已抽查项目数": len(checked),
            }
        )
    columns = ["月份", "在建项目数", "自查次数", "第三方检查次数", "区级抽查次数"]
    columns += ["发现隐患数", "其中重大隐患", "累计已抽查项目数"]
    return pd.DataFrame.from_records(records, columns=columns)


def _count(records: Sequence[InspectionRecord], kind: InspectionKind) -> int:
    """Count inspections of a kind; records sharing an inspection id count once."""
    return len({r.inspection_id or id(r) for r in records if r.kind is kind})


def _township_record(name: str, rows: Sequence[ProjectCompliance]) -> dict[str, object]:
    record: dict[str, object] = {
        "乡镇": name,
        "项目数": len(rows),
        "当前在建": sum(r.under_construction for r in rows),
    }
    duty_names = [d.name for d in rows[0].duties] if rows else []
    for index, duty_name in enumerate(duty_names):
        duties = [r.duties[index] for r in rows]
        required = [d for d in duties if d.status is not DutyStatus.NOT_REQUIRED]
        done = [d for d in required if d.status in (DutyStatus.DONE, DutyStatus.DONE_LATE)]
        record[f"{duty_name}应完成"] = len(required)
        record[f"{duty_name}已完成"] = len(done)
        record[f"{duty_name}逾期未完成"] = sum(d.status is DutyStatus.OVERDUE for d in required)
        record[f"{duty_name}完成率"] = f"{len(done) / len(required):.1%}" if required else "—"
    record["燃气工程未纳入监管"] = sum(r.supervision_missing for r in rows)
    record["未办结保护手续"] = sum(r.unpermitted_conflict for r in rows)
    record["逾期未整改隐患"] = sum(r.overdue_hazards for r in rows)
    record["其中重大隐患"] = sum(r.overdue_major_hazards for r in rows)
    return record
