"""``gisapp screen``: buffer analysis of sites against pipeline ranges, from files or the database."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from campaign.export import to_spreadsheet_csv
from gisapp.cli.context import cli_access, cli_write_ctx
from gisapp.cli.data_cmds import parse_field_map
from gisapp.cli.errors import CliUsageError
from gisapp.cli.rules_option import ON_HELP, RULES_HELP, rules_from_options
from gisapp.settings import Settings
from spatial_rules.pressure import PressureClass
from vocabulary import ZONE_ORDER


@contextmanager
def _bulk_gc() -> Iterator[None]:
    """Make the cyclic garbage collector cheap during a bulk screen, then restore it.

    A city-size screen creates about a million GEOS geometries, each tracked by the
    cyclic collector; with the default settings its passes rescan them, and every object
    of the libraries already imported, over and over: a tenth of the run. Freezing what
    is loaded and collecting the young generation less often keeps that small while
    still collecting (pyogrio leaves reference cycles that hold its read buffers).
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _summary_lines(rows: list[tuple[object, str, str]], rule_label: str) -> list[str]:
    """rows: (project key, zone, pressure_class) per conflict.

    The key names one project: its code in a file, its id in the database (codes are
    unique per organisation only, D57).
    """
    lines = [f"规则集 {rule_label}：冲突 {len(rows)} 处，涉及项目 {len({r[0] for r in rows})} 个"]
    counts = Counter((zone, cls) for _site, zone, cls in rows)
    for zone in ZONE_ORDER:
        in_zone = sum(n for (z, _cls), n in counts.items() if z == zone)
        by_class = {cls: counts[(zone, cls.value)] for cls in PressureClass}
        detail = "，".join(f"{cls.label} {n}" for cls, n in by_class.items() if n)
        lines.append(f"  {zone.label}：{in_zone} 处" + (f"（{detail}）" if detail else ""))
    return lines


def screen(
    pipelines: Annotated[
        Path | None,
        typer.Option("--pipelines", help="管道文件（GeoJSON、GPKG、SHP 压缩包、CSV、KML/KMZ、DXF、Excel）。"),
    ] = None,
    sites: Annotated[Path | None, typer.Option("--sites", help="项目红线/施工范围文件。")] = None,
    rules: Annotated[str, typer.Option("--rules", help=RULES_HELP)] = "shanghai",
    on: Annotated[str | None, typer.Option("--on", help=ON_HELP)] = None,
    pipelines_crs: Annotated[
        str | None, typer.Option("--pipelines-crs", help="管道文件坐标系：EPSG 代码或 gcj02。")
    ] = None,
    sites_crs: Annotated[
        str | None, typer.Option("--sites-crs", help="项目文件坐标系：EPSG 代码、gcj02 或 bd09。")
    ] = None,
    pipeline_field: Annotated[
        list[str] | None, typer.Option("--pipeline-field", help="管道字段映射 文件字段=标准字段，可重复。")
    ] = None,
    site_field: Annotated[
        list[str] | None, typer.Option("--site-field", help="项目字段映射 文件字段=标准字段，可重复。")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="输出：.csv、.geojson 或 .gpkg（每个冲突一行）。")
    ] = None,
    db: Annotated[bool, typer.Option("--db", help="筛查数据库中的数据并更新冲突表。")] = False,
    cad_layer: Annotated[
        list[str] | None, typer.Option("--cad-layer", help="DXF 输入：只读这些 CAD 图层（可重复）。")
    ] = None,
    code_from: Annotated[
        str | None,
        typer.Option("--code-from", help="DXF 输入：编号来源 layer、text[:图层] 或 attrib:属性标记。"),
    ] = None,
) -> None:
    """缓冲区分析：找出进入燃气管道安全保护范围或安全控制范围的施工项目。"""
    rule_set = rules_from_options(rules, on)
    if db:
        if pipelines or sites:
            raise CliUsageError("--db 与 --pipelines/--sites 不能同时使用")
        _screen_db(rule_set, out)
        return
    if pipelines is None or sites is None or out is None:
        raise CliUsageError("文件模式需要 --pipelines、--sites 和 --out（或使用 --db 筛查数据库）")
    from layers.io.dxf import DxfOptions
    from layers.screen_files import (
        check_output_path,
        conflicts_frame,
        screen_files,
        write_conflicts,
    )

    check_output_path(out)
    settings = Settings()
    with _bulk_gc(), Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("准备", total=None)
        screening = screen_files(
            pipelines,
            sites,
            rule_set,
            pipelines_crs=pipelines_crs,
            sites_crs=sites_crs,
            pipeline_fields=parse_field_map(pipeline_field),
            site_fields=parse_field_map(site_field),
            margin_m=settings.district_margin_m,
            step=lambda msg: bar.update(task, description=msg),
            cad=DxfOptions(tuple(cad_layer or ()), code_from),
        )
        bar.update(task, description="写出结果")
        frame = conflicts_frame(screening)
        write_conflicts(frame, out)
        # The summary's 100,000 tuples are made under the cheap collector too: made after
        # it, they set off full passes over every object of the screen.
        columns = (frame[name].tolist() for name in ("site_id", "zone", "pressure_class"))
        summary = _summary_lines(list(zip(*columns, strict=True)), rule_set.label)
    for note in screening.notes:
        typer.echo(f"注意：{note}")
    typer.echo(f"管道 {len(screening.pipelines)} 条、项目 {len(screening.sites)} 个已筛查。")
    if screening.skipped_abandoned:
        typer.echo(f"已废弃管道 {screening.skipped_abandoned} 条不设保护范围，未参与筛查。")
    for line in summary:
        typer.echo(line)
    typer.echo(f"结果已写入 {out}")
    _keep_until_exit(screening, frame)


# What the last file screen made: its million GEOS geometries and frames, kept from
# being freed one by one when ``screen`` returns (0.2-0.3 s of a city-size run), since
# the command ends the process right after without teardown (``gisapp.cli``, D62). One
# screen at a time is kept, so a process that runs several (the tests) holds only the last.
_LAST_SCREEN: list[object] = []


def _keep_until_exit(*objects: object) -> None:
    _LAST_SCREEN[:] = objects


def _screen_db(rule_set, out: Path | None) -> None:
    from gisapp.database import ready_engine
    from layers.db import session_factory
    from layers.screening_db import open_conflicts
    from layers.services.features import screen_district

    access = cli_access("data.screen")
    if out is not None:
        from layers.screen_files import check_output_path

        check_output_path(out)
    settings = Settings()
    engine = ready_engine(settings)
    # Through the service, as every write: new conflicts get their permit record and
    # alert (and webhook deliveries) in the same transaction.
    ctx = cli_write_ctx(settings, access, rule_set)
    with session_factory(engine).begin() as session:
        report = screen_district(session, ctx)
        conflicts = open_conflicts(session, rule_set.label)
    engine.dispose()
    if report.switched_from is not None:
        typer.echo(
            f"规则集由 {report.switched_from} 切换为 {rule_set.label}：已竣工项目不重新筛查；"
            f"范围或作业判定变化的冲突 {len(report.changed)} 处已告警。"
        )
    typer.echo(
        f"已筛查数据库（未竣工项目）：新增冲突 {len(report.new_conflict_ids)} 处，更新 {report.updated} 处，"
        f"关闭 {report.closed} 处。"
    )
    rows = [(c["project_id"], c["zone"], c["pressure_class"]) for c in conflicts]
    for line in _summary_lines(rows, rule_set.label):
        typer.echo(line)
    if out is not None:
        import pandas as pd

        table = pd.DataFrame(conflicts)
        table["distance_m"] = table["distance_m"].round(2) if len(table) else table.get("distance_m")
        if out.suffix.lower() == ".csv":
            to_spreadsheet_csv(table, out)
            typer.echo(f"结果已写入 {out}")
        else:
            raise CliUsageError("--db 模式的 --out 目前只支持 .csv")


def register(app: typer.Typer) -> None:
    """Attach ``screen``."""
    app.command("screen")(screen)
