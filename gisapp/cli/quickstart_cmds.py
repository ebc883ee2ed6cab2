"""``gisapp quickstart``: the README's main job on the embedded default."""

from __future__ import annotations

from typing import Annotated

import typer

from gisapp import initial_user
from gisapp.cli.context import cli_access, cli_write_ctx
from gisapp.database import ready_engine
from gisapp.settings import Settings
from gisapp.summary import format_summary
from layers.services.summary import database_summary

SAMPLE_SEED = 20261124
CHANGE_HOW = ("修改方法：登录工作台后点页首的“修改密码”；或 POST /api/auth/password（字段 "
              "current_password、new_password，API 文档 /docs），或 gisapp user password --username "
              "用户名；修改后该文件自动删除。")


def load_sample_if_empty(engine, settings: Settings, seed: int = SAMPLE_SEED) -> bool:
    """Generate the sample data and import it through the normal file path if nothing is stored."""
    from layers.db import session_factory
    from layers.sample import generate_sample
    from layers.services.quickstart import is_empty, load_sample_files

    for action in ("pipeline.import", "project.import"):
        access = cli_access(action)
    if not is_empty(engine):
        return False
    out_dir = settings.data_dir / "sample"
    files = generate_sample(seed=seed, scale="district").write(out_dir, fmt="geojson")
    with session_factory(engine).begin() as session:
        load_sample_files(session, files, cli_write_ctx(settings, access))
    return True


def quickstart(
    seed: Annotated[int, typer.Option(help="示例数据随机种子。")] = SAMPLE_SEED,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="完成后启动 Web 服务。")] = True,
    port: Annotated[int | None, typer.Option(help="服务端口（默认 8000）。")] = None,
    sample: Annotated[bool | None, typer.Option(
        "--sample/--no-sample",
        help="数据库为空时载入合成示例数据。默认仅本地内置 PostGIS 载入；"
             "设置了 DATABASE_URL（外部/生产库）时须显式 --sample。",
    )] = None,
) -> None:
    """启动本地 PostGIS，数据库为空时载入崇明示例数据（合成），筛查并打印概况，然后启动服务。"""
    settings = Settings()
    engine = ready_engine(settings)
    # Synthetic data must never land in a production database by default: only the
    # embedded cluster (no DATABASE_URL) gets it without asking.
    if sample is None:
        sample = settings.database_url is None
    if not sample:
        typer.echo("未载入示例数据（外部数据库默认不载入；如需载入合成示例数据，请加 --sample）。")
    elif load_sample_if_empty(engine, settings, seed=seed):
        typer.echo(f"已载入崇明区合成示例数据（种子 {seed}，非真实管网）。")
    else:
        typer.echo("数据库已有数据，未重新载入示例数据。")
    typer.echo(format_summary(database_summary(engine)))
    _screen_and_report(engine, settings)
    _first_user(engine, settings)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    if serve:
        from gisapp.cli.service_cmds import run_server

        run_server(settings, url, port=port)


def _first_user(engine, settings: Settings) -> None:
    """With no user yet, create a gas office account and say how to log in."""
    from layers.db import session_factory
    from layers.services.quickstart import create_first_user

    cli_access("user.manage")
    with session_factory(engine).begin() as session:
        password = create_first_user(session)
    if password is None:
        pending = initial_user.pending_username(settings.data_dir)
        if pending:  # every start says it again until the password is changed
            typer.echo(f"警告：账号 {pending} 仍在使用初始密码（保存在 "
                       f"{initial_user.credentials_path(settings.data_dir)}）。{CHANGE_HOW}", err=True)
        return
    where = initial_user.write(settings.data_dir, "office", password)
    typer.echo(f"已创建燃气管理所账号 office，初始密码 {password}（另存于 {where}，仅本人可读）。")
    typer.echo(f"请登录后立即修改密码。{CHANGE_HOW}")


def _screen_and_report(engine, settings: Settings) -> None:
    """Run the PostGIS screen with the configured rule set and print the conflict counts."""
    from gisapp.cli.screen_cmds import _summary_lines
    from layers.db import session_factory
    from layers.screening_db import open_conflicts
    from layers.services.features import screen_district

    ctx = cli_write_ctx(settings, cli_access("data.screen"))
    with session_factory(engine).begin() as session:
        new_ids = screen_district(session, ctx).new_conflict_ids
        conflicts = open_conflicts(session, ctx.rule_set.label)
    typer.echo("== 缓冲区分析 ==")
    typer.echo(f"新增冲突 {len(new_ids)} 处（已生成告警与保护手续记录），当前冲突 {len(conflicts)} 处。")
    rows = [(c["project_id"], c["zone"], c["pressure_class"]) for c in conflicts]
    for line in _summary_lines(rows, ctx.rule_set.label):
        typer.echo(line)


def summary() -> None:
    """打印数据库中管道、项目与乡镇的概况。"""
    cli_access("data.export")
    engine = ready_engine(Settings())
    typer.echo(format_summary(database_summary(engine)))
    engine.dispose()


def register(app: typer.Typer) -> None:
    """Attach ``quickstart`` and ``summary``."""
    app.command("quickstart")(quickstart)
    app.command("summary")(summary)
