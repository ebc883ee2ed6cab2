"""``gisapp campaign``: spot-check plans, inspection records and compliance (files or database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from campaign.compliance import DutyStatus, assess_compliance, stage_progress
from campaign.csv_input import read_inspections_csv, read_projects_csv
from campaign.dates import parse_query_date
from campaign.errors import CampaignError
from campaign.export import write_plan_csv, write_tables_csv, write_tables_xlsx
from campaign.sampling import CampaignPlan, plan_campaign
from campaign.settings import CampaignSettings, settings_for
from campaign.statistics import monthly_statistics
from gisapp.cli.context import cli_access
from gisapp.cli.district_option import (
    DISTRICT_HELP,
    acting_role,
    district_actor,
    parse_district,
    seeing,
)
from layers.services.actors import Actor

campaign_app = typer.Typer(
    help="区级抽查计划、检查记录与年度治理行动进度（文件模式或 --db 数据库模式）。",
    no_args_is_help=True,
)

ProjectsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--projects",
        help="项目 CSV：id、start_date、end_date（空表示在建），可选 township、hazardous、"
        "zone、permit_status、open_hazards 等列。",
    ),
]
DbOpt = Annotated[
    bool, typer.Option("--db", help="使用数据库中的项目、检查记录与已存储的抽查计划。")
]
SettingsOpt = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="活动设置 YAML（覆盖默认的截止日期、抽查窗口等）；省略时用 GISAPP_CAMPAIGN_SETTINGS。",
    ),
]


def register(app: typer.Typer) -> None:
    """Attach the ``campaign`` command group to the main CLI."""
    app.add_typer(campaign_app, name="campaign")


def _settings(year: int, settings_file: Path | None, overrides: dict) -> CampaignSettings:
    """Build the year's settings: ``--settings``, else the configured file, else defaults."""
    return settings_for(year, settings_file or _configured_file(), overrides)


def _configured_file() -> Path | None:
    """Return the campaign settings file of the runtime settings (GISAPP_CAMPAIGN_SETTINGS)."""
    from gisapp.settings import Settings

    return Settings().campaign_settings


@campaign_app.command(
    "plan", help="抽取区级抽查计划：文件模式一次抽取全年三个阶段；--db 模式从数据库抽取并存储一个阶段。"
)
def plan_command(
    projects: ProjectsFileOpt = None,
    year: Annotated[
        int | None,
        typer.Option("--year", help="活动年度，例如 2026（--db 模式默认今年）。"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="输出的抽查计划 CSV（--db 模式可省略）。")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="随机种子；省略时随机生成并记录在计划中。")
    ] = None,
    quota: Annotated[
        str | None, typer.Option("--quota", help="每阶段最低抽查比例，如 0.3 或 30%。")
    ] = None,
    settings_file: SettingsOpt = None,
    db: DbOpt = False,
    stage: Annotated[
        int | None, typer.Option("--stage", help="--db 模式：抽取第几阶段（1、2 或 3）。")
    ] = None,
    redraw: Annotated[
        bool, typer.Option("--redraw", help="--db 模式：重抽已存储的阶段（此前各阶段保持原样）。")
    ] = False,
    district: Annotated[
        str | None, typer.Option("--district", help="--db 模式：" + DISTRICT_HELP)
    ] = None,
) -> None:
    """Draw the spot-check stages of a year (file mode) or one stage from stored data (--db)."""
    overrides = {} if quota is None else {"spot_check_quota": quota}
    if db:
        _refuse_file(projects, "plan")
        if stage is None:
            raise CampaignError("--db 模式须用 --stage 指定抽取第几阶段（1、2 或 3）。")
        code = parse_district(district)
        settings = _settings(year or _this_year(), settings_file, overrides)
        _plan_db(settings, stage, seed, redraw, out, code)
        return
    if projects is None or year is None or out is None:
        raise CampaignError(
            "文件模式须同时指定 --projects、--year 与 --out；从数据库抽取请用 --db --stage N。"
        )
    if stage is not None or redraw:
        raise CampaignError("--stage 与 --redraw 只用于 --db 模式；文件模式一次抽取全部阶段。")
    if district is not None:
        raise CampaignError("--district 只用于 --db 模式（各区的计划按区存储在数据库中）。")
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


@campaign_app.command(
    "status", help="统计截至某日的自查、第三方检查、抽查、监管、保护手续与隐患整改情况（CSV 与 XLSX）。"
)
def status_command(
    on: Annotated[str, typer.Option("--date", help="统计日期 YYYY-MM-DD。")],
    out: Annotated[Path, typer.Option("--out", help="输出目录（CSV 与 XLSX）。")],
    projects: ProjectsFileOpt = None,
    inspections: Annotated[
        Path | None,
        typer.Option(
            "--inspections",
            help="检查记录 CSV：project_id、kind（self/third_party/spot）、date，可选 "
            "round_or_stage、findings、major_hazard、rectification_state、rectification_deadline。",
        ),
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="活动年度，默认取统计日期所在年度。")
    ] = None,
    settings_file: SettingsOpt = None,
    db: DbOpt = False,
    district: Annotated[
        str | None, typer.Option("--district", help="--db 模式：" + DISTRICT_HELP)
    ] = None,
) -> None:
    """Write the compliance tables as of a date from CSV files or stored data (--db)."""
    day = parse_query_date(on, option="--date")
    code: str | None = None
    if db:
        _refuse_file(projects, "status")
        _refuse_file(inspections, "status", option="--inspections")
        code = parse_district(district)
        cli_access("campaign.status")
        # With --district: what /api/campaign/status gives that district's office (its
        # projects and inspections, judged by its own stored plan's settings).
        status = _with_db(lambda session: _stored_status(session, year or day.year,
                                                         settings_file, day), code)
        settings = status.settings
        records, checks, tables = status.portfolio.projects, status.inspections, status.tables
        _print_skipped(status.portfolio.skipped)
    else:
        if district is not None:
            raise CampaignError("--district 只用于 --db 模式（各区的项目与检查记录按区存储在数据库中）。")
        settings = _settings(year or day.year, settings_file, {})
        if projects is None or inspections is None:
            raise CampaignError(
                "文件模式须同时指定 --projects 与 --inspections；从数据库统计请用 --db。"
            )
        records = read_projects_csv(projects)
        checks = read_inspections_csv(
            inspections, project_ids={p.id for p in records}, settings=settings
        )
        tables = monthly_statistics(records, checks, settings, day)
    csv_paths = write_tables_csv(tables.files(), out)
    xlsx_path = write_tables_xlsx(tables.sheets(), out / f"campaign_status_{day}.xlsx")

    rows = assess_compliance(records, checks, settings, day)
    typer.echo(f"截至 {day}{_office(code)}：{len(records)} 个项目，{len(checks)} 条检查记录。")
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


@campaign_app.command("record", help="在数据库中记录一次检查（自查、第三方检查或区级抽查）及发现的隐患。")
def record_command(
    project: Annotated[str, typer.Option("--project", help="项目编号（registration_code）。")],
    kind: Annotated[
        str, typer.Option("--kind", help="检查类型：self 自查、third_party 第三方检查、spot 区级抽查。")
    ],
    on: Annotated[str, typer.Option("--date", help="检查日期 YYYY-MM-DD，不能晚于今天。")],
    round_or_stage: Annotated[
        int | None, typer.Option("--round", help="自查轮次 1–2 或抽查阶段 1–3；第三方检查不填。")
    ] = None,
    findings: Annotated[str | None, typer.Option("--findings", help="检查情况说明。")] = None,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="检查单位。")
    ] = None,
    project_organisation: Annotated[
        str | None, typer.Option("--project-organisation",
                                 help="项目所属单位（编号在单位内唯一；多个单位用同一编号时必填）。")
    ] = None,
    hazards: Annotated[
        list[str] | None,
        typer.Option("--hazard", help="发现的隐患（可重复）；以“重大:”开头表示重大隐患。"),
    ] = None,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="隐患整改期限 YYYY-MM-DD（适用于全部 --hazard）。")
    ] = None,
) -> None:
    """Record an inspection of a stored project from the command line."""
    from layers.services.inspections import (
        NewHazard,
        NewInspection,
        project_id_for_code,
        record_inspection,
    )

    items = [
        NewHazard(item.removeprefix(MAJOR_PREFIX), item.startswith(MAJOR_PREFIX), deadline)
        for item in hazards or ()
    ]
    if deadline is not None and not items:
        raise CampaignError("--deadline 只与 --hazard 一起使用。")
    new = NewInspection(kind, round_or_stage, on, organisation, findings, items)

    def write(session):
        return record_inspection(session, project_id_for_code(session, project, project_organisation),
                                 Actor.cli(), new)

    stored = _with_db(write)
    round_text = f"第 {stored['round_or_stage']} 轮/阶段" if stored["round_or_stage"] else ""
    typer.echo(
        f"已记录项目 {stored['project_code']} 于 {stored['inspected_on']} 的{stored['kind_zh']}"
        f"{round_text}（检查记录 {stored['id']}，隐患 {len(stored['hazards'])} 项）。"
    )


MAJOR_PREFIX = "重大:"


def _this_year() -> int:
    from vocabulary import today_in_shanghai

    return today_in_shanghai().year


def _stored_status(session, year: int, settings_file: Path | None, day):
    """The campaign status of stored data: ``--settings`` if given, else as the API judges."""
    from layers.services.campaign_plans import judging_settings
    from layers.services.campaign_status import campaign_status

    settings = (settings_for(year, settings_file) if settings_file is not None
                else judging_settings(session, year, _configured_file()))
    return campaign_status(session, settings, day)


def _office(district: str | None) -> str:
    """Return "（崇明区）" for a district's answer, "" for the whole jurisdiction's."""
    from layers.services.districts import district_name

    return f"（{district_name(district)}）" if district is not None else ""


def _refuse_file(path: Path | None, command: str, option: str = "--projects") -> None:
    if path is not None:
        raise CampaignError(f"gisapp campaign {command} 的 --db 模式不读取文件，请去掉 {option}。")


def _with_db(work, district: str | None = None):
    """Run ``work(session)`` in one committed transaction on the configured database.

    ``district``: the transaction sees that district alone, as its office's API requests do.
    """
    from gisapp.database import ready_engine
    from gisapp.settings import Settings
    from layers.db import session_factory

    engine = ready_engine(Settings(), act_as=acting_role(district))
    try:
        with session_factory(engine).begin() as session, seeing(session, district):
            return work(session)
    finally:
        engine.dispose()


def _print_skipped(skipped) -> None:
    if skipped:
        shown = "；".join(skipped[:10]) + (f" 等 {len(skipped)} 个" if len(skipped) > 10 else "")
        typer.secho(f"提示：{len(skipped)} 个项目未纳入统计：{shown}。", err=True)


def _plan_db(settings, stage: int, seed: int | None, redraw: bool, out: Path | None,
             district: str | None = None) -> None:
    from layers.services.campaign_plans import draw_stage
    from layers.services.districts import district_name

    # The district office's own plan (stored with its district), drawn from its projects.
    actor = district_actor(district)
    drawn = _with_db(
        lambda session: draw_stage(session, settings, stage, actor, seed=seed, redraw=redraw),
        district,
    )
    plan = drawn.plan
    verb = "重新抽取" if drawn.replaced else "抽取"
    office = district_name(district) if district is not None else ""
    typer.echo(
        f"已{verb}并存储{office} {settings.year} 年{settings.stage(stage).label}区级抽查计划"
        f"（随机种子 {plan.seed}）：共 {len(drawn.portfolio.projects)} 个项目。"
    )
    for earlier in drawn.earlier:
        typer.echo(
            f"第{earlier.stage}阶段（已存储，保持原样）：候选 {earlier.candidates} 个，应抽不少于 "
            f"{earlier.quota_needed} 个，实抽 {len(earlier.picks)} 个。"
        )
    typer.echo(
        f"第{plan.stage}阶段（{plan.window_start} 至 {plan.window_end}）：候选 "
        f"{len(plan.candidate_ids)} 个，应抽不少于 {plan.quota_needed} 个，实抽 "
        f"{len(plan.picks)} 个（其中强制覆盖 {plan.forced_count} 个）。"
    )
    for pick in plan.picks:
        typer.echo(f"  {pick.project_id}：{pick.reason}（风险分 {pick.risk_score}）")
    _print_skipped(drawn.portfolio.skipped)
    for warning in plan.warnings:
        typer.secho(f"警告：{warning}", fg=typer.colors.YELLOW, err=True)
    if out is not None:
        stages = (*(e.as_stage_plan(settings) for e in drawn.earlier), plan)
        write_plan_csv(CampaignPlan(settings.year, plan.seed, stages), out)
        typer.echo(f"第 1 至 {plan.stage} 阶段的计划已写入 {out}。")
    typer.echo(f"如需复现，请使用 --seed {plan.seed}。")
