"""The report's tables as DataFrames with Chinese column names (same in HTML, PDF, CSV, XLSX)."""

from __future__ import annotations

import pandas as pd

from campaign.compliance import DutyStatus, assess_compliance, stage_progress
from campaign.settings import CampaignSettings
from maps.report.data import ReportData
from maps.report.labels import PERMIT_STATUS_ZH, PRESSURE_ZH, TOTAL, ZONE_ZH
from vocabulary import InspectionKind, PermitState, shanghai_date
from vocabulary.activities import Activity


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"


def build_tables(data: ReportData, settings: CampaignSettings) -> dict[str, pd.DataFrame]:
    """Return every table of the report, keyed by its file stem."""
    tables = {
        "conflicts_by_township": conflicts_by_township(data),
        "permit_status": permit_status(data),
        "supervision_coverage": supervision_coverage(data),
        "inspection_progress": inspection_progress(data, settings),
        "spot_check_stages": spot_check_stages(data, settings),
        "conflict_list": conflict_list(data),
    }
    return {"summary": summary(data, tables), **tables}


def _township_names(data: ReportData) -> list[str]:
    return [name for name, _ in data.townships] or ([data.township] if data.township else [])


def conflicts_by_township(data: ReportData) -> pd.DataFrame:
    """Return open conflicts at the month end by township and zone, with the month's new ones."""
    names = _township_names(data)
    extra = sorted(
        {str(t) if t else "未划定乡镇" for t in data.conflicts["township"]} - set(names)
    )
    open_ = data.conflicts.assign(township=data.conflicts["township"].fillna("未划定乡镇"))
    new = data.new_conflicts.assign(township=data.new_conflicts["township"].fillna("未划定乡镇"))
    rows = []
    for name in [*names, *extra]:
        mine = open_[open_["township"] == name]
        rows.append({
            "乡镇": name,
            f"{ZONE_ZH['protection']}冲突": int((mine["zone"] == "protection").sum()),
            f"{ZONE_ZH['control']}冲突": int((mine["zone"] == "control").sum()),
            "月末未关闭冲突合计": len(mine),
            "涉及项目数": int(mine["project_id"].nunique()),  # codes repeat across organisations
            "本月新增冲突": int((new["township"] == name).sum()),
        })
    frame = pd.DataFrame.from_records(rows, columns=[
        "乡镇", f"{ZONE_ZH['protection']}冲突", f"{ZONE_ZH['control']}冲突", "月末未关闭冲突合计",
        "涉及项目数", "本月新增冲突",
    ])
    total = {col: int(frame[col].sum()) for col in frame.columns[1:]}
    total["涉及项目数"] = int(open_["project_id"].nunique())
    return pd.concat([frame, pd.DataFrame([{"乡镇": TOTAL, **total}])], ignore_index=True)


def permit_status(data: ReportData) -> pd.DataFrame:
    """Return the open conflicts at the month end by the current state of their permit."""
    counts = data.conflicts["permit_status"].value_counts()
    total = len(data.conflicts)
    rows = [
        {"办理状态": label, "冲突数": int(counts.get(status, 0)),
         "占比": _rate(int(counts.get(status, 0)), total)}
        for status, label in PERMIT_STATUS_ZH.items()
    ]
    rows.append({"办理状态": TOTAL, "冲突数": total, "占比": _rate(total, total)})
    return pd.DataFrame.from_records(rows, columns=["办理状态", "冲突数", "占比"])


def supervision_coverage(data: ReportData) -> pd.DataFrame:
    """Return gas engineering projects under construction at the month end and how many are supervised."""
    sup = data.supervision.assign(township=data.supervision["township"].fillna("未划定乡镇"))
    names = _township_names(data)
    names += sorted(set(sup["township"]) - set(names))
    rows = []
    for name in names:
        mine = sup[sup["township"] == name]
        active, supervised = int(mine["active"].sum()), int(mine["supervised"].sum())
        rows.append({"乡镇": name, "在建燃气工程": active, "已纳入监管": supervised,
                     "未纳入监管": active - supervised, "覆盖率": _rate(supervised, active)})
    active, supervised = int(sup["active"].sum()), int(sup["supervised"].sum())
    rows.append({"乡镇": TOTAL, "在建燃气工程": active, "已纳入监管": supervised,
                 "未纳入监管": active - supervised, "覆盖率": _rate(supervised, active)})
    return pd.DataFrame.from_records(
        rows, columns=["乡镇", "在建燃气工程", "已纳入监管", "未纳入监管", "覆盖率"]
    )


def inspection_progress(data: ReportData, settings: CampaignSettings) -> pd.DataFrame:
    """Return each campaign duty's figures at the month end against its deadline."""
    on = data.period.last_day
    assessed = assess_compliance(data.campaign_projects, data.inspections, settings, on)
    names = [f"第{n}轮自查" for n in range(1, len(settings.self_inspection_deadlines) + 1)]
    names += [InspectionKind.THIRD_PARTY.label, InspectionKind.SPOT.label]
    labels = {InspectionKind.SPOT.label: f"{InspectionKind.SPOT.label}全覆盖"}
    deadlines = [*settings.self_inspection_deadlines, settings.third_party_deadline,
                 settings.coverage_deadline]
    rows = []
    for name, deadline in zip(names, deadlines, strict=True):
        duties = [d for p in assessed for d in p.duties if d.name == name]
        count = {status: sum(d.status is status for d in duties) for status in DutyStatus}
        due = len(duties) - count[DutyStatus.NOT_REQUIRED]
        done = count[DutyStatus.DONE] + count[DutyStatus.DONE_LATE]
        rows.append({
            "事项": labels.get(name, name),
            "截止日期": deadline.isoformat(),
            "是否已到截止日期": "已到期" if on >= deadline else f"未到期（剩 {(deadline - on).days} 天）",
            "应完成项目数": due,
            "已完成": done,
            "其中逾期完成": count[DutyStatus.DONE_LATE],
            "逾期未完成": count[DutyStatus.OVERDUE],
            "未完成（未到期）": count[DutyStatus.PENDING],
            "完成率": _rate(done, due),
        })
    return pd.DataFrame.from_records(rows, columns=[
        "事项", "截止日期", "是否已到截止日期", "应完成项目数", "已完成", "其中逾期完成",
        "逾期未完成", "未完成（未到期）", "完成率",
    ])


def spot_check_stages(data: ReportData, settings: CampaignSettings) -> pd.DataFrame:
    """Return each district spot-check stage: candidates, quota, planned and checked projects."""
    progress = stage_progress(
        data.campaign_projects, data.inspections, settings, data.period.last_day
    )
    rows = [
        {
            "阶段": f"第{p.stage.number}阶段",
            "抽查窗口": f"{p.stage.window_start} 至 {p.stage.window_end}",
            "截止日期": p.stage.window_end.isoformat(),
            "候选项目数": p.candidates,
            f"应抽查数（不少于{settings.spot_check_quota:.0%}）": p.quota_needed,
            "计划抽取数": data.planned_picks.get(p.stage.number, 0),
            "已抽查数": p.checked,
            "抽查比例": _rate(p.checked, p.candidates),
            "状态": p.status.value,
        }
        for p in progress
    ]
    return pd.DataFrame.from_records(rows)


def conflict_list(data: ReportData) -> pd.DataFrame:
    """Return one row per conflict open at the month end, most severe first."""
    c = data.conflicts
    return pd.DataFrame({
        "序号": range(1, len(c) + 1),
        "项目编号": c["project_code"],
        "项目名称": c["project_name"],
        "所属单位": c["project_organisation"].fillna(""),  # a code may repeat across organisations
        "乡镇": c["township"].fillna("未划定乡镇"),
        "管道编号": c["pipeline_code"],
        "压力级制": [PRESSURE_ZH.get(v, v) for v in c["pressure_class"]],
        "所在范围": [ZONE_ZH[z] for z in c["zone"]],
        "距管壁外缘（米）": [round(float(v), 2) for v in c["distance_m"]],
        "保护范围（米）": [float(v) for v in c["protection_range_m"]],
        "控制范围（米）": [float(v) for v in c["control_range_m"]],
        "保护手续": [PERMIT_STATUS_ZH.get(s, s) for s in c["permit_status"]],
        "首次发现": [shanghai_date(t).isoformat() for t in c["first_detected_at"]],
        "规则集版本": list(c["rule_set"]),
        "禁止的作业": [_labels(v) for v in c["prohibited_activities"]],
        "须商定保护方案的作业": [_labels(v) for v in c["plan_required_activities"]],
    })


def _labels(codes) -> str:
    """Return activity codes as Chinese names (vocabulary.activities), or a dash."""
    return "、".join(Activity(code).label for code in codes) if codes else "—"


def summary(data: ReportData, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the headline figures of the month."""
    c = data.conflicts
    not_started = int((c["permit_status"] == "not_started").sum())
    sup = tables["supervision_coverage"].iloc[-1]
    rows = [
        ("报告月份", data.period.label_zh),
        ("统计截至", f"{data.period.last_day} 24:00（北京时间）"),
        ("范围", data.township or data.area),
        ("月末未关闭冲突", len(c)),
        (f"其中{ZONE_ZH['protection']}", int((c["zone"] == "protection").sum())),
        (f"其中{ZONE_ZH['control']}", int((c["zone"] == "control").sum())),
        ("涉及项目数", int(c["project_id"].nunique())),
        ("本月新增冲突", len(data.new_conflicts)),
        ("本月关闭冲突（月前发现）", data.closed_in_month),
        (f"{PermitState.NOT_STARTED.label}保护手续的冲突", not_started),
        ("本月新增告警", data.alerts_in_month),
        ("月末待处理告警", data.alerts_unhandled),
        ("在建燃气工程纳入监管率", sup["覆盖率"]),
        ("月末未整改隐患", data.open_hazards),
        ("规则集", data.rule_set or "全部"),
    ]
    return pd.DataFrame.from_records([(k, str(v)) for k, v in rows], columns=["指标", "数值"])
