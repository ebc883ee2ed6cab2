"""``gisapp import`` and ``gisapp export``: files in and out of PostGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gisapp.cli.context import cli_access, cli_write_ctx
from gisapp.cli.errors import CliUsageError
from gisapp.database import ready_engine
from gisapp.settings import Settings

import_app = typer.Typer(
    help="导入燃气管道或施工项目文件到数据库（全部成功或全部不导入）。", no_args_is_help=True
)

LAYER_NAMES_ZH = {"pipelines": "燃气管道", "projects": "施工项目", "townships": "乡镇"}


def parse_field_map(items: list[str] | None) -> dict[str, str]:
    """Turn ``["管径=outer_diameter_mm"]`` into ``{"管径": "outer_diameter_mm"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise CliUsageError(
                f"--field “{item}” 格式应为 文件字段名=标准字段名，例如 管径=outer_diameter_mm"
            )
        mapping[source.strip()] = target.strip()
    return mapping


CrsOpt = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="输入坐标系：EPSG 代码（如 4326、4490、4549、4528）、gcj02（高德/腾讯）、bd09（百度）"
        "或 local:名称（gisapp crs fit 保存的本地坐标系）。默认取文件自带坐标系。",
    ),
]
FieldOpt = Annotated[
    list[str] | None, typer.Option("--field", help="字段映射 文件字段名=标准字段名，可重复。")
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="文本编码（如 GBK），默认按 .cpg 或自动识别。")
]
LayerOpt = Annotated[str | None, typer.Option("--layer", help="GeoPackage 的图层名或 Excel 的工作表名。")]
ReplaceOpt = Annotated[
    bool, typer.Option("--replace", help="编号已存在时覆盖（旧记录软删除保留历史）；默认报错且不导入。")
]
NoRepairOpt = Annotated[bool, typer.Option("--no-repair", help="无效多边形直接拒绝，而不是自动修复。")]
CadLayerOpt = Annotated[
    list[str] | None, typer.Option("--cad-layer", help="DXF：只读这些 CAD 图层（可重复）。")
]
CodeFromOpt = Annotated[
    str | None,
    typer.Option("--code-from", help="DXF：编号来源 layer（CAD 图层名）、text 或 text:图层名（范围内文字）、"
                 "attrib:属性标记（图块属性）。"),
]


def _import(kind: str, file: Path, crs, field, encoding, layer, replace, no_repair,
            cad_layer=None, code_from=None) -> None:
    from layers.db import session_factory
    from layers.importer import file_sha256
    from layers.io import read_layer
    from layers.io.dxf import DxfOptions
    from layers.services.imports import ENTITY, import_and_screen

    access = cli_access(f"{ENTITY[kind]}.import")
    settings = Settings()
    if crs is not None and crs.strip().lower().startswith("local:"):
        crs = _local_grid(settings, crs)
    result = read_layer(
        file,
        kind,
        crs=crs,
        field_map=parse_field_map(field),
        encoding=encoding,
        layer=layer,
        margin_m=settings.district_margin_m,
        repair=not no_repair,
        cad=DxfOptions(tuple(cad_layer or ()), code_from),
    )
    engine = ready_engine(settings)
    total = len(result.frame)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"导入{LAYER_NAMES_ZH[kind]}", total=total)
        # Stored and screened in one transaction: new conflicts get their alert and
        # permit record, as with an import through the API.
        ctx = cli_write_ctx(settings, access)
        with session_factory(engine).begin() as session:
            outcome = import_and_screen(
                session,
                kind,
                result.frame,
                ctx,
                replace=replace,
                source_name=file.name,
                source_sha256=file_sha256(file),
                source_crs=result.source_crs,
                notes=result.notes,
                progress=lambda n: bar.advance(task, n),
            )
    engine.dispose()
    report, conflict_ids = outcome.report, outcome.conflict_ids
    for note in report.notes:
        typer.echo(f"注意：{note}")
    extra = f"，覆盖旧记录 {report.replaced} 条" if report.replaced else ""
    typer.echo(
        f"已导入{LAYER_NAMES_ZH[kind]} {report.inserted} 条（批次 {report.batch_id}，"
        f"坐标系 {result.source_crs}{extra}）；新增冲突 {len(conflict_ids)} 处（已生成告警与保护手续记录）。"
    )


def _local_grid(settings: Settings, crs: str):
    """Return the saved local grid ``local:NAME`` (``gisapp crs fit``)."""
    from layers.db import session_factory
    from layers.services.local_grids import load_grid

    engine = ready_engine(settings)
    try:
        with session_factory(engine).begin() as session:
            return load_grid(session, crs)
    finally:
        engine.dispose()


LayerFile = Annotated[
    Path, typer.Argument(help="GeoJSON、GeoPackage、Shapefile 压缩包（.zip）、CSV、KML/KMZ、DXF "
                         "或 Excel（.xlsx/.xls：WKT 列或拐点坐标表）。")
]
IMPORT_HELP = {
    "pipelines": "导入燃气管道（线要素，需压力与外径）。",
    "projects": "导入施工项目（面要素：红线或施工范围）。",
}


def _import_command(kind: str):
    """Build the ``gisapp import <kind>`` command (both layers take the same options)."""

    def command(
        file: LayerFile,
        crs: CrsOpt = None,
        field: FieldOpt = None,
        encoding: EncodingOpt = None,
        layer: LayerOpt = None,
        replace: ReplaceOpt = False,
        no_repair: NoRepairOpt = False,
        cad_layer: CadLayerOpt = None,
        code_from: CodeFromOpt = None,
    ) -> None:
        _import(kind, file, crs, field, encoding, layer, replace, no_repair, cad_layer, code_from)

    command.__doc__ = IMPORT_HELP[kind]
    return command


for _kind in IMPORT_HELP:
    import_app.command(_kind)(_import_command(_kind))


@import_app.command("townships")
def import_townships(
    file: Annotated[Path, typer.Argument(help="乡镇面文件（字段 code、name）。")],
) -> None:
    """导入乡镇范围（替换现有乡镇）。"""
    from layers.db import session_factory
    from layers.importer import load_townships
    from layers.townships import read_townships

    cli_access("township.import")
    frame = read_townships(file)
    engine = ready_engine(Settings())
    with session_factory(engine).begin() as session:
        count = load_townships(session, frame, source=file.name)
    engine.dispose()
    typer.echo(f"已导入乡镇 {count} 个。")


def export(
    layer: Annotated[str, typer.Argument(help="图层：pipelines、projects 或 townships。")],
    file: Annotated[Path, typer.Argument(
        help="输出文件：.geojson、.gpkg、.csv、.kml 或 .zip（Shapefile）。")],
    crs: Annotated[str | None, typer.Option(
        "--crs", help="KML：wgs84、gcj02 或 bd09；Shapefile：EPSG 代码（如 4549）。"
        "默认 CGCS2000 经纬度。")] = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="Shapefile 文字编码：gbk（默认）或 utf-8，写入 .cpg。")] = None,
) -> None:
    """导出数据库中的图层为 GeoJSON、GeoPackage、CSV、KML 或 Shapefile（.zip）。"""
    from layers.exporter import EXPORT_QUERIES, stored_layer
    from layers.io import write_layer

    cli_access("data.export")
    if layer not in EXPORT_QUERIES:
        raise CliUsageError(f"未知图层“{layer}”（可用：pipelines、projects、townships）")
    engine = ready_engine(Settings())
    frame = stored_layer(engine, layer)
    engine.dispose()
    write_layer(frame, file, crs=crs, encoding=encoding)
    typer.echo(f"已导出{LAYER_NAMES_ZH[layer]} {len(frame)} 条到 {file}。")


def register(app: typer.Typer) -> None:
    """Attach ``import`` and ``export`` to the main CLI."""
    app.add_typer(import_app, name="import")
    app.command("export")(export)
