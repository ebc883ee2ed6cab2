"""``gisapp crs fit|list``: local grids tied to CGCS2000 by control points."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gisapp.database import ready_engine
from gisapp.settings import Settings

crs_app = typer.Typer(help="本地坐标系（城建坐标等）：按控制点拟合并保存，导入时用 --crs local:名称。",
                      no_args_is_help=True)


@crs_app.command("fit")
def fit(
    name: Annotated[str, typer.Option("--name", help="保存的名称，导入时写 --crs local:名称")],
    points: Annotated[Path, typer.Option(
        "--points", help="控制点 CSV：point, local_x, local_y, east, north（每行一点，至少 3 对）")],
    method: Annotated[str, typer.Option(help="similarity（四参数）或 affine（六参数）")] = "similarity",
    target_crs: Annotated[str, typer.Option(help="east/north 所在的国家坐标系")] = "EPSG:4549",
    max_rms: Annotated[float, typer.Option(help="允许的拟合中误差（米），超过则不保存")] = 0.05,
    replace: Annotated[bool, typer.Option("--replace", help="同名时覆盖")] = False,
) -> None:
    """按控制点拟合本地坐标系到 CGCS2000 的转换，报告每点残差；中误差超限则拒绝。"""
    from gisapp.cli.context import cli_access
    from layers.db import session_factory
    from layers.services.local_grids import fit_control_points, save_grid

    cli_access("local_grid.write")
    report = fit_control_points(points, name, method=method, target_crs=target_crs, max_rms_m=max_rms)
    engine = ready_engine(Settings())
    try:
        with session_factory(engine).begin() as session:
            save_grid(session, report, "gisapp crs fit", replace=replace)
    finally:
        engine.dispose()
    grid = report.fit
    kind = "四参数相似变换" if grid.method == "similarity" else "六参数仿射变换"
    typer.echo(f"本地坐标系 {name} 已保存（{kind}，"
               f"控制点 {len(report.points)} 个，中误差 {grid.rms_m:.4f} m，"
               f"尺度 {grid.scale:.8f}，旋转 {grid.rotation_deg:.6f}°）。")
    for point, residual in zip(report.points, grid.residuals_m, strict=True):
        typer.echo(f"  {point}：残差 {residual:.4f} m")
    typer.echo(f"导入时使用：--crs local:{name}")


@crs_app.command("list")
def list_() -> None:
    """列出已保存的本地坐标系。"""
    from layers.db import session_factory
    from layers.services.local_grids import list_grids

    engine = ready_engine(Settings())
    try:
        with session_factory(engine).begin() as session:
            grids = list_grids(session)
    finally:
        engine.dispose()
    if not grids:
        typer.echo("尚无本地坐标系（用 gisapp crs fit 拟合保存）。")
    for g in grids:
        typer.echo(f"local:{g['name']}  {g['method']}  控制点 {g['points']} 个  中误差 {g['rms_m']:.4f} m")


def register(app: typer.Typer) -> None:
    """Attach ``crs`` to the main CLI."""
    app.add_typer(crs_app, name="crs")
