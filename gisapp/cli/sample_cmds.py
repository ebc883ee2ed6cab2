"""``gisapp sample``: write the synthetic Chongming sample dataset."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from layers.sample import SampleDataset, generate_sample
from layers.sample.dataset import DEFAULT_SEED, STEPS
from spatial_rules.pressure import PressureClass
from vocabulary import PipelineStatus, ProjectKind, ProjectStatus


class Scale(StrEnum):
    """Size of the sample."""

    DISTRICT = "district"
    CITY = "city"
    SHANGHAI = "shanghai"


class OutputFormat(StrEnum):
    """File format of the sample."""

    GEOJSON = "geojson"
    GPKG = "gpkg"


HELP = "生成崇明区合成示例数据（乡镇、燃气管道、施工项目），非真实管网。"
SCALE_HELP = ("规模：district（区级，约千余管段）、city（30 万管段压力测试）或 shanghai"
              "（全市 16 区，约 70 万管段、3.5 万公里、10 万个工地；导入时设 GISAPP_JURISDICTION=shanghai）")


def register(app: typer.Typer) -> None:
    """Add the ``sample`` command to the CLI app."""
    app.command(name="sample", help=HELP)(sample)


def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="输出文件夹（不存在时自动创建）")],
    seed: Annotated[int, typer.Option("--seed", help="随机种子；相同种子生成相同数据")] = (
        DEFAULT_SEED
    ),
    scale: Annotated[Scale, typer.Option("--scale", help=SCALE_HELP)] = Scale.DISTRICT,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="输出格式")] = OutputFormat.GEOJSON,
) -> None:
    """Generate the synthetic sample and write it to ``--out``."""
    console = Console()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("准备", total=len(STEPS) + 1)

        def on_step(label: str) -> None:
            progress.update(task, description=f"生成{label}", advance=0 if label == STEPS[0] else 1)

        dataset = generate_sample(seed=seed, scale=scale.value, on_step=on_step)
        progress.update(task, description=f"写出 {fmt.value} 文件", advance=1)
        paths = dataset.write(out, fmt.value)
        progress.update(task, advance=1)
    _print_summary(console, dataset, paths, fmt.value)


def _count_table(title: str, counts: dict[str, int]) -> Table:
    """Return a two-column table of label and count."""
    table = Table(title=title, title_justify="left")
    table.add_column("类别")
    table.add_column("数量", justify="right")
    for label, count in counts.items():
        table.add_row(label, f"{count:,}")
    return table


def _print_summary(console: Console, dataset: SampleDataset, paths: dict, fmt: str) -> None:
    """Print the Chinese summary: counts by pressure class, kind and status, timings, files."""
    pipes, projects = dataset.pipelines, dataset.projects
    by_class = pipes["pressure_class"].value_counts()
    console.print(
        "[bold]已生成合成示例数据（非真实管网）[/bold]："
        f"种子 {dataset.seed}，规模 {dataset.scale}，乡镇 {len(dataset.townships)} 个，"
        f"管段 {len(pipes):,} 条，项目 {len(projects):,} 个。"
    )
    console.print(
        _count_table(
            "管段：按压力级制",
            {c.label: int(by_class[c.value]) for c in PressureClass if c.value in by_class},
        )
    )
    for title, column, labels in (
        ("管段：按状态", pipes["status"], PipelineStatus),
        ("项目：按类型", projects["kind"], ProjectKind),
        ("项目：按状态", projects["status"], ProjectStatus),
    ):
        counts = column.value_counts()
        console.print(
            _count_table(title, {k.label: int(counts.get(k.value, 0)) for k in labels})
        )
    generate_s = dataset.timings_s.get("generate", 0.0)
    write_s = dataset.timings_s.get(f"write_{fmt}", 0.0)
    console.print(f"耗时：生成 {generate_s:.1f} 秒，写出 {fmt} {write_s:.1f} 秒。")
    for path in paths.values():
        console.print(f"  已写出 {path}")
