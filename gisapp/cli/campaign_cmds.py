"""``gisapp campaign``: spot-check sampling plans and compliance status from CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from campaign.compliance import DutyStatus, assess_compliance, stage_progress
from campaign.csv_input import read_inspections_csv, read_projects_csv
from campaign.dates import parse_query_date
from campaign.export import write_plan_csv, write_tables_csv, write_tables_xlsx
from campaign.sampling import CampaignPlan, plan_campaign
from campaign.settings import CampaignSettings
from campaign.statistics import monthly_statistics

campaign_app = typer.Typer(
    help="区级抽查计划与年度治理行动进度（文件模式）。", no_args_is_help=True
)

ProjectsOpt = Annotated[
    Path,
    typer.Option(
        "--projects",
        help="项目 CSV：id、start_date、end_date（空表示在建），可选 township、hazardous、"
        "zone、permit_status、open_hazards 等列。",
    ),
]
SettingsOpt = Annotated[
    Path | None,
    typer.Option("--settings", help="活动设置 YAML（覆盖默认的截止日期、抽查窗口等）。"),
]


def register(app: typer.Typer) -> None:
    """Attach the ``campaign`` command group to the main CLI."""
    app.add_typer(campaign_app, name="campaign")


def _settings(year: int, settings_file: Path | None, overrides: dict) -> CampaignSettings:
    """Build the year's settings from the optional YAML file plus command-line overrides."""
    if settings_file is None:
        return CampaignSettings.for_year(year, overrides)
    return CampaignSettings.from_yaml(settings_file, year=year, overrides=overrides)


@campaign_app.command("plan")
def plan_command(
    projects: ProjectsOpt,
    year: Annotated[int, typer.Option("--year", help="活动年度，例如 2026。")],
    out: Annotated[Path, typer.Option("--out", help="输出的抽查计划 CSV。")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="随机种子；省略时随机生成并记录在计划中。")
    ] = None,
    quota: Annotated[
        str | None, typer.Option("--quota", help="每阶段最低抽查比例，如 0.3 或 30%。")
    ] = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Draw the three spot-check stages of a year and write the plan CSV."""
    overrides = {} if quota is None else {"spot_check_quota": quota}
    settings = _settings(year, settings_file, overrides)
    records = read_projects_csv(projects)
    plan = plan_campaign(records, settings, seed)
    write_plan_csv(plan, out)
    _print_plan(plan, len(records), out)


def _print_plan(plan: CampaignPlan, project_count: int, out: Path) -> None:
    typer.echo(f"{plan.year} 年区级抽查计划：共 {project_count} 个项目，随机种子 {plan.seed}。")
    for stage in plan.stages:
        typer.echo(
            f"第{stage.stage}阶段（{stage.window_start} 至 {stage.window_end}）：候选 "
            f"{len(stage.candidate_ids)} 个，应抽不少于 {stage.quota_needed} 个，实抽 "
            f"{len(stage.picks)} 个（其中强制覆盖 {stage.forced_count} 个）。"
        )
    for warning in plan.warnings:
        typer.secho(f"警告：{warning}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"已覆盖 {len(plan.sampled_ids())} 个项目；计划已写入 {out}。")
    typer.echo(f"如需复现，请使用 --seed {plan.seed}。")


@campaign_app.command("status")
def status_command(
    projects: ProjectsOpt,
    inspections: Annotated[
        Path,
        typer.Option(
            "--inspections",
            help="检查记录 CSV：project_id、kind（self/third_party/spot）、date，可选 "
            "round_or_stage、findings、major_hazard、rectification_state、rectification_deadline。",
        ),
    ],
    on: Annotated[str, typer.Option("--date", help="统计日期 YYYY-MM-DD。")],
    out: Annotated[Path, typer.Option("--out", help="输出目录（CSV 与 XLSX）。")],
    year: Annotated[
        int | None, typer.Option("--year", help="活动年度，默认取统计日期所在年度。")
    ] = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Write the compliance tables as of a date (CSV per table and one XLSX workbook)."""
    day = parse_query_date(on, option="--date")
    settings = _settings(year or day.year, settings_file, {})
    records = read_projects_csv(projects)
    checks = read_inspections_csv(
        inspections, project_ids={p.id for p in records}, settings=settings
    )
    tables = monthly_statistics(records, checks, settings, day)
    csv_paths = write_tables_csv(tables.files(), out)
    xlsx_path = write_tables_xlsx(tables.sheets(), out / f"campaign_status_{day}.xlsx")

    rows = assess_compliance(records, checks, settings, day)
    typer.echo(f"截至 {day}：{len(records)} 个项目，{len(checks)} 条检查记录。")
    for index, duty in enumerate(rows[0].duties if rows else ()):
        statuses = [r.duties[index].status for r in rows]
        required = sum(s is not DutyStatus.NOT_REQUIRED for s in statuses)
        done = sum(s in (DutyStatus.DONE, DutyStatus.DONE_LATE) for s in statuses)
        overdue = sum(s is DutyStatus.OVERDUE for s in statuses)
        typer.echo(f"{duty.name}：应完成 {required}，已完成 {done}，逾期未完成 {overdue}。")
    for progress in stage_progress(records, checks, settings, day):
        typer.echo(
            f"第{progress.stage.number}阶段抽查：候选 {progress.candidates}，应抽 "
            f"{progress.quota_needed}，已抽查 {progress.checked}，{progress.status.value}。"
        )
    with_issues = sum(bool(r.issues) for r in rows)
    typer.echo(f"存在逾期或缺失事项的项目：{with_issues} 个。")
    typer.echo(f"已写入 {len(csv_paths)} 个 CSV 与 {xlsx_path}。")
