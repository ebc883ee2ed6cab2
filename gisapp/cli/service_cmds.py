"""``gisapp serve``, ``gisapp user create`` and ``gisapp user password``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gisapp.database import ready_engine
from gisapp.settings import Settings

user_app = typer.Typer(help="管理服务用户。", no_args_is_help=True)


@user_app.command("create")
def create(
    username: Annotated[str, typer.Option("--username", help="用户名。")],
    role: Annotated[str, typer.Option(
        "--role", help="角色：gas_office、builder、inspector、admin、utility。")],
    organisation: Annotated[
        str | None, typer.Option("--organisation",
                                 help="所属单位（建设单位与管道权属单位必填；"
                                      "权属单位须与管道的 owner 一致）。")
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="接收通知的电子邮件地址。")] = None,
    password: Annotated[str | None, typer.Option(
        "--password", help="密码（10–256 个字符；会出现在进程列表中，宜改用提示或 --password-stdin）。"
    )] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="从标准输入读取一行作为密码。")] = False,
    district: Annotated[
        str | None, typer.Option("--district", help="所辖区（行政区划代码或区名，如 310151、崇明区）；"
                                 "不填为本部署的整个辖区。")
    ] = None,
) -> None:
    """创建用户（密码以 Argon2id 哈希保存；不给 --password 时在终端提示输入）。"""
    from gisapp.cli.context import cli_access
    from gisapp.cli.passwords import read_password
    from layers.db import session_factory
    from layers.services.permissions import ROLE_ZH
    from layers.services.users import add_user

    access = cli_access("user.manage")
    password = read_password(password, password_stdin)
    engine = ready_engine(Settings())
    with session_factory(engine).begin() as session:
        user = add_user(session, access.actor, username, password, role, organisation, email,
                        district=district, via="cli")
    engine.dispose()
    typer.echo(f"已创建用户 {user['username']}（{ROLE_ZH[user['role']]}）。")


@user_app.command("password")
def password_cmd(
    username: Annotated[str, typer.Option("--username", help="用户名。")],
    password: Annotated[str | None, typer.Option(
        "--password", help="新密码（会出现在进程列表中，建议改用提示输入或 --password-stdin）。")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="从标准输入读取一行作为新密码。")] = False,
) -> None:
    """在服务器上为用户设置新密码（该用户的全部令牌随即失效；初始密码文件随之删除）。"""
    from gisapp import initial_user
    from gisapp.cli.context import cli_access
    from gisapp.cli.passwords import read_password
    from layers.db import session_factory
    from layers.services.users import set_password_of

    access = cli_access("user.manage")
    new = read_password(password, password_stdin, prompt="新密码")
    settings = Settings()
    engine = ready_engine(settings)
    try:
        with session_factory(engine).begin() as session:
            revoked = set_password_of(session, access.actor, username, new)["tokens_revoked"]
    finally:
        engine.dispose()
    removed = initial_user.forget(settings.data_dir, username)
    typer.echo(f"已为用户 {username} 设置新密码，{revoked} 个令牌已失效"
               + ("；初始密码文件已删除。" if removed else "。"))


def serve(
    host: Annotated[str | None, typer.Option(help="监听地址（默认 127.0.0.1）。")] = None,
    port: Annotated[int | None, typer.Option(help="端口（默认 8000）。")] = None,
    load_sample: Annotated[bool, typer.Option(help="数据库为空时载入示例数据。")] = False,
    workers: Annotated[int, typer.Option(min=1, max=32, help="工作进程数（默认 1）。")] = 1,
) -> None:
    """启动 Web 服务（API 文档见 /docs），使用本地 PostGIS 或 DATABASE_URL。"""
    settings = Settings()
    engine = ready_engine(settings)
    url = engine.url.render_as_string(hide_password=False)
    if load_sample:
        from gisapp.cli.context import cli_access
        from gisapp.cli.quickstart_cmds import load_sample_if_empty

        cli_access("project.import")

        if load_sample_if_empty(engine, settings):
            typer.echo("已载入崇明区合成示例数据。")
    engine.dispose()
    run_server(settings, url, host=host, port=port, workers=workers)


def run_server(settings: Settings, url: str, *, host: str | None = None, port: int | None = None,
               workers: int = 1) -> None:
    """Serve the app on ``url`` until interrupted."""
    import uvicorn

    from gisapp import http_protocol
    from gisapp.api.app import create_app

    host = host or settings.host
    port = port or settings.port
    typer.echo(f"工作台（登录） http://{host}:{port}/ ，地图 http://{host}:{port}/maps/ ，"
               f"API 文档 http://{host}:{port}/docs （Ctrl+C 停止）")
    # Request headers within a deadline and a size (slowloris), keep-alive bounded.
    protocol, keep_alive, max_header = (http_protocol.protocol_name(), settings.keep_alive_s,
                                        settings.max_header_bytes)
    if workers > 1:
        # Worker processes build their own app (and set the header limits) from the environment.
        os.environ["DATABASE_URL"] = url
        uvicorn.run("gisapp.api.main:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", http=protocol, timeout_keep_alive=keep_alive,
                    h11_max_incomplete_event_size=max_header)
        return
    http_protocol.configure_from(settings)
    app = create_app(settings, database_url=url, server=True)
    uvicorn.run(app, host=host, port=port, log_level="info", http=protocol,
                timeout_keep_alive=keep_alive, h11_max_incomplete_event_size=max_header)


permits_app = typer.Typer(help="燃气管道保护手续。", no_args_is_help=True)


@permits_app.command("expire")
def expire(
    date: Annotated[
        str | None, typer.Option("--date", help="按此日期判断（YYYY-MM-DD），默认今天（上海时间）。")
    ] = None,
) -> None:
    """将有效期已过的已审批手续标记为已过期（建议每日运行一次）。"""
    import datetime as dt

    from gisapp.cli.context import cli_access
    from gisapp.cli.errors import CliUsageError
    from layers.db import session_factory
    from layers.services.permits import expire_due

    access = cli_access("permit.to.expired")
    try:
        today = dt.date.fromisoformat(date) if date else None
    except ValueError as exc:
        raise CliUsageError(f"--date “{date}” 不是有效日期（格式 YYYY-MM-DD）") from exc
    engine = ready_engine(Settings())
    with session_factory(engine).begin() as session:
        expired = expire_due(session, today, actor=access.actor)
    engine.dispose()
    typer.echo(f"已过期手续 {len(expired)} 项。")


def register(app: typer.Typer) -> None:
    """Attach ``serve``, ``user`` and ``permits``."""
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
    app.add_typer(permits_app, name="permits")
