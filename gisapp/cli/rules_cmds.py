"""``gisapp rules``: the rule set versions, and what a change of version does to the stored data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gisapp.cli.errors import CliUsageError
from gisapp.cli.rules_option import ON_HELP, parse_day

app = typer.Typer(help="规则集：版本与施行期；规则变更对已登记项目的影响（试算）。", no_args_is_help=True)

IMPACT_FORMATS = (".csv", ".xlsx")


@app.command("list")
def list_versions() -> None:
    """列出内置规则集的各版本、施行期与依据条文。"""
    from spatial_rules.rulesets import builtin_families
    from vocabulary.clock import today_in_shanghai

    today = today_in_shanghai()
    for family, versions in builtin_families().items():
        typer.echo(f"{family}：")
        for rule_set in versions:
            mark = "（今日施行）" if rule_set.in_force_on(today) else ""
            typer.echo(f"  {rule_set.label}  {rule_set.period_zh}{mark}  {rule_set.title}")
            for topic, citation in rule_set.sources:
                typer.echo(f"      {topic}：{citation}")


@app.command("impact")
def impact(
    from_rules: Annotated[str, typer.Option("--from", help="变更前的规则集（版本、族名或文件）。")],
    to_rules: Annotated[str, typer.Option("--to", help="变更后的规则集（版本、族名或文件）。")],
    on: Annotated[str | None, typer.Option("--on", help=ON_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="明细表：.csv 或 .xlsx（含按乡镇、按压力级制的统计）。")
    ] = None,
    include_completed: Annotated[
        bool, typer.Option("--include-completed", help="把已竣工项目也算进来（切换时它们不重新筛查）。")
    ] = False,
) -> None:
    """试算：数据库中的项目在规则变更后哪些进入、离开范围，或范围、禁止作业发生变化（不写入）。"""
    from gisapp.cli.context import cli_access
    from spatial_rules.rulesets import resolve_rule_set

    cli_access("rules.read")
    day = parse_day(on)
    before = resolve_rule_set(from_rules, day)
    after = resolve_rule_set(to_rules, day)
    if out is not None:
        if out.suffix.lower() not in IMPACT_FORMATS:
            raise CliUsageError(f"--out“{out}”：不支持的格式（支持 .csv、.xlsx）")
        if not out.parent.exists():
            raise CliUsageError(f"--out：输出目录 {out.parent} 不存在")

    from gisapp.database import ready_engine
    from gisapp.settings import Settings
    from layers.db import session_factory
    from layers.services.rules import rule_impact

    engine = ready_engine(Settings())
    try:
        with session_factory(engine)() as session:
            report = rule_impact(session, before, after, include_completed=include_completed)
            session.rollback()
    finally:
        engine.dispose()
    for line in report.summary_lines():
        typer.echo(line)
    if out is not None:
        write_impact(report, out)
        typer.echo(f"明细已写入 {out}")


def write_impact(report, out: Path) -> Path:
    """Write the impact table as CSV (the detail) or XLSX (detail and the two count sheets)."""
    from campaign.export import write_csv, write_tables_xlsx

    # Both writers neutralise cells a spreadsheet would run as formulas.
    if out.suffix.lower() == ".csv":
        return write_csv(report.table, out)
    return write_tables_xlsx(report.sheets(), out)


def register(cli: typer.Typer) -> None:
    """Attach the ``rules`` group."""
    cli.add_typer(app, name="rules")
