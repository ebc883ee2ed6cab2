"""``gisapp db up|down|status|url``: the embedded PostGIS, or the external one when configured."""

from __future__ import annotations

from typing import Annotated

import typer

from gisapp.database import database_url, local_cluster, prepare_database
from gisapp.settings import Settings

app = typer.Typer(help="管理数据库：未设置 DATABASE_URL 时为本地自管的 PostGIS。", no_args_is_help=True)


def _mask(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("up")
def up(
    readonly_role: Annotated[str | None, typer.Option(
        help="同时创建（或重置）供 QGIS 等桌面 GIS 使用的只读数据库角色，只能读取图层表")] = None,
    readonly_password: Annotated[str | None, typer.Option(
        help="只读角色的密码（不填则随机生成并打印）")] = None,
    district_role: Annotated[list[str] | None, typer.Option(
        "--district-role", help="为该区创建（或重设密码）只读数据库账号，直连 SQL（桌面 GIS）"
        "时只能看到本区数据；区名或行政区划代码，可重复。")] = None,
) -> None:
    """启动本地 PostGIS（首次运行时创建集群和数据库），并迁移到最新结构。"""
    settings = Settings()
    url = database_url(settings, start=True)
    revision = prepare_database(url)
    where = "外部数据库" if settings.database_url else f"本地 PostGIS（{settings.data_dir}）"
    typer.echo(f"数据库已就绪：{where}，结构版本 {revision}，连接 {_mask(url)}")
    if readonly_role is not None:
        from layers.db import make_engine
        from layers.readonly_role import create_readonly_role

        engine = make_engine(url)
        try:
            reader = create_readonly_role(engine, readonly_role, readonly_password)
        finally:
            engine.dispose()
        typer.echo(f"只读角色 {readonly_role} 已就绪（QGIS、psql、ogr2ogr 连接）：{reader}")
    for district in district_role or []:
        _district_role(url, district)


def _district_role(url: str, district: str) -> None:
    """Create a district's read-only role and print how to connect (the password once)."""
    from sqlalchemy.engine import make_url

    from layers.db import make_engine
    from layers.readonly_role import libpq_url
    from layers.services.districts import create_district_role, district_name

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            role, password = create_district_role(conn, district)
    finally:
        engine.dispose()
    where = libpq_url(make_url(url).set(username=role, password=password)
                      .render_as_string(hide_password=False))  # what psql and QGIS take
    code = role.rsplit("_", 1)[-1]
    typer.echo(f"{district_name(code)}只读账号 {role}（只能查看本区数据，密码仅显示这一次）：{where}")


@app.command("down")
def down() -> None:
    """停止本地 PostGIS（数据保留）。"""
    settings = Settings()
    if settings.database_url:
        typer.echo("已设置 DATABASE_URL，使用外部数据库：不做任何操作。")
        return
    stopped = local_cluster(settings).stop()
    typer.echo("本地 PostGIS 已停止。" if stopped else "本地 PostGIS 未在运行。")


@app.command("status")
def status() -> None:
    """显示数据库状态；未运行时退出码为 3。"""
    settings = Settings()
    if settings.database_url:
        url = str(settings.database_url)
        typer.echo(f"外部数据库：{_mask(url)}")
        return
    cluster = local_cluster(settings)
    state = cluster.state()
    if state is None:
        typer.echo(f"本地 PostGIS 尚未创建（数据目录 {cluster.data_dir}）。执行 gisapp db up 创建。")
        raise typer.Exit(3)
    if not cluster.is_running():
        typer.echo(f"本地 PostGIS 已停止（数据目录 {cluster.data_dir}，端口 {state.port}）。")
        raise typer.Exit(3)
    typer.echo(f"本地 PostGIS 运行中：127.0.0.1:{state.port}，数据目录 {cluster.data_dir}")


@app.command("url")
def url(
    sqlalchemy: Annotated[bool, typer.Option(
        "--sqlalchemy", help="打印 SQLAlchemy 形式（postgresql+psycopg2://…）")] = False,
) -> None:
    """打印数据库连接 URL（含密码）：默认 libpq 形式，psql、QGIS、ogr2ogr 可直接使用。"""
    from layers.readonly_role import libpq_url

    found = database_url(Settings())
    if sqlalchemy:
        from sqlalchemy.engine import make_url

        found = make_url(found).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
        typer.echo(found)
        return
    typer.echo(libpq_url(found))
