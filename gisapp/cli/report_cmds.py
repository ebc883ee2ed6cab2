"""``gisapp report``: the monthly map report (HTML, PDF, CSV, XLSX) from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gisapp.cli.district_option import DISTRICT_HELP


def report(
    month: Annotated[str, typer.Option("--month", help="报告月份 YYYY-MM，统计截至该月最后一天。")],
    out: Annotated[Path, typer.Option("--out", help="输出目录（不存在时创建）。")],
    township: Annotated[
        str | None, typer.Option("--township", help="只统计一个乡镇，例如 城桥镇。")
    ] = None,
    district: Annotated[str | None, typer.Option("--district", help=DISTRICT_HELP)] = None,
) -> None:
    """生成月度地图报告：离线 HTML、A4 PDF（含静态地图）、各统计表 CSV 与 XLSX。"""
    from gisapp.cli.context import cli_access
    from gisapp.cli.district_option import acting_role, parse_district, seeing
    from gisapp.database import database_url
    from gisapp.settings import Settings
    from layers.db import make_engine, read_only_session
    from layers.services.campaign_plans import judging_settings
    from layers.services.districts import district_name
    from maps.report import build_report, parse_month, prepare_output_dir
    from maps.report.labels import whole_area

    # Cheap checks first, so a typo never waits for the database.
    cli_access("report.read")
    period = parse_month(month)
    code = parse_district(district)
    prepare_output_dir(out)
    settings = Settings()
    # Every version: a conflict found under an earlier version stays in the report, and
    # each row says which version judges it.
    rule_set = None
    engine = make_engine(database_url(settings, start=True), act_as=acting_role(code))
    try:
        # With --district, what /api/reports gives that district's office: its rows alone
        # (row-level security), its own plans' settings, its name on the title and map.
        with read_only_session(engine) as session, seeing(session, code):
            campaign = judging_settings(session, period.year, settings.campaign_settings)
            result = build_report(session, period, out, township=township, rule_set=rule_set,
                                  campaign_settings=campaign, district=code)
    finally:
        engine.dispose()
    scope = township or (district_name(code) if code is not None else whole_area())
    typer.echo(
        f"{period.label_zh}地图报告（{scope}）已生成：月末未关闭冲突 {result.open_conflicts} 处，"
        f"本月新增 {result.new_conflicts} 处。"
    )
    for path in result.files:
        typer.echo(f"  {path}")


def register(app: typer.Typer) -> None:
    """Attach ``report``."""
    app.command("report")(report)
