"""``gisapp calendar`` (the office's holidays and adjusted working days) and ``gisapp org``
(organisations' contacts and group robots)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from gisapp.database import ready_engine
from gisapp.settings import Settings

calendar_app = typer.Typer(help="工作日历：补充法定节假日与调休（先于日历库更新时使用）。",
                           no_args_is_help=True)
org_app = typer.Typer(help="单位联系方式与企业微信、钉钉群机器人。", no_args_is_help=True)


def _session():
    from layers.db import session_factory

    engine = ready_engine(Settings())
    return engine, session_factory(engine)


@calendar_app.command("add")
def calendar_add(
    day: Annotated[str, typer.Argument(help="日期 YYYY-MM-DD。")],
    workday: Annotated[bool, typer.Option("--workday/--holiday", help="调休上班日或节假日。")],
    name: Annotated[str | None, typer.Option("--name", help="说明，如“春节”。")] = None,
) -> None:
    """登记一天为节假日或调休上班日（覆盖日历库）。"""
    from gisapp.cli.errors import CliUsageError
    from layers.services.workdays import set_day

    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError as exc:
        raise CliUsageError(f"日期“{day}”不是有效日期（格式 YYYY-MM-DD）") from exc
    engine, sessions = _session()
    with sessions.begin() as session:
        set_day(session, parsed, workday, name)
    engine.dispose()
    typer.echo(f"已登记 {parsed.isoformat()} 为{'调休上班日' if workday else '节假日'}。")


@calendar_app.command("load")
def calendar_load(path: Annotated[Path, typer.Argument(help="YAML 文件：- {day: 2027-01-01, workday: false, "
                                                            "name: 元旦}")]) -> None:
    """从 YAML 文件登记多天（全部有效才保存）。"""
    from layers.services.workdays import load_days_file

    engine, sessions = _session()
    with sessions.begin() as session:
        count = load_days_file(session, path)
    engine.dispose()
    typer.echo(f"已登记 {count} 天。")


@calendar_app.command("due")
def calendar_due(
    days: Annotated[int, typer.Argument(min=0, max=200, help="工作日数。")],
    start: Annotated[str | None, typer.Option("--from", help="起算日期，默认今天（上海时间）。")] = None,
) -> None:
    """计算若干个工作日后的日期（检验日历）。"""
    from gisapp.cli.errors import CliUsageError
    from layers.services.workdays import calendar_gaps, due_date
    from vocabulary import today_in_shanghai

    try:
        begin = dt.date.fromisoformat(start) if start else today_in_shanghai()
    except ValueError as exc:
        raise CliUsageError(f"--from “{start}” 不是有效日期（格式 YYYY-MM-DD）") from exc
    engine, sessions = _session()
    with sessions.begin() as session:
        due = due_date(session, begin, days)
    engine.dispose()
    typer.echo(f"{begin.isoformat()} 起 {days} 个工作日后：{due.isoformat()}")
    gaps = calendar_gaps(range(begin.year, due.year + 1))
    if gaps:
        years = "、".join(map(str, gaps))
        typer.echo(f"注意：日历库尚无 {years} 年的节假日安排，按周一至周五及已登记日期计算。")


@org_app.command("set")
def org_set(
    name: Annotated[str, typer.Argument(help="单位名称（权属单位须与管道的 owner 一致）。")],
    kind: Annotated[str, typer.Option("--kind", help="builder 或 utility。")],
    contact_person: Annotated[str | None, typer.Option("--contact-person")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    emergency_phone: Annotated[str | None, typer.Option("--emergency-phone")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    address: Annotated[str | None, typer.Option("--address")] = None,
    wecom_webhook_url: Annotated[
        str | None, typer.Option("--wecom-webhook", help="企业微信群机器人地址。")] = None,
    dingtalk_webhook_url: Annotated[
        str | None, typer.Option("--dingtalk-webhook", help="钉钉群机器人地址。")] = None,
    dingtalk_secret: Annotated[str | None, typer.Option("--dingtalk-secret", help="钉钉加签密钥。")] = None,
) -> None:
    """登记或修改单位的联系方式与群机器人（未给出的项保持不变）。"""
    from gisapp.cli.context import cli_access
    from layers.services.organisations import set_organisation

    given = {k: v for k, v in {
        "contact_person": contact_person, "phone": phone, "emergency_phone": emergency_phone,
        "email": email, "address": address, "wecom_webhook_url": wecom_webhook_url,
        "dingtalk_webhook_url": dingtalk_webhook_url, "dingtalk_secret": dingtalk_secret}.items()
        if v is not None}
    engine, sessions = _session()
    with sessions.begin() as session:
        org = set_organisation(session, cli_access("organisation.write"), name, kind, given)
    engine.dispose()
    typer.echo(f"已保存单位 {org['name']}（{org['kind']}）。")


def register(cli: typer.Typer) -> None:
    """Add ``calendar`` and ``org`` to the CLI."""
    cli.add_typer(calendar_app, name="calendar")
    cli.add_typer(org_app, name="org")
