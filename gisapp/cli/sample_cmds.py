"""``gisapp sample``: write the synthetic Chongming sample dataset."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from layers.sample import SampleDataset, generate_sample
from layers.sample.dataset import DEFAULT_SEED, STEPS
from layers.schema import PIPELINE_STATUS_ZH, PROJECT_KIND_ZH, PROJECT_STATUS_ZH
from spatial_rules.pressure import PressureClass


class Scale(StrEnum):
    """Size of the sample."""

    DISTRICT = "district"
    CITY = "city"


class OutputFormat(StrEnum):
    """File format of the sample."""

    GEOJSON = "geojson"
    GPKG = "gpkg"


def register(app: typer.Typer) -> None:
    """Add the ``sample`` command to the CLI app."""
    app.command(name="sample", help="生成崇明区合成示例数据（乡镇、燃气管道、施工项目），非真实管网。")(
        sample
    )


def sample(
    out: Path = typer.Option(..., "--out", "-o", help="输出文件夹（不存在时自动创建）"),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="随机种子；相同种子生成相同数据"),
    scale: Scale = typer.Option(
        Scale.DISTRICT, "--scale", help="规模：district（区级，约千余管段）或 city（30 万管段压力测试）"
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.GEOJSON, "--format", help="输出格式"),
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
        f"[bold]已生成合成示例数据（非真实管网）[/bold]：种子 {dataset.seed}，规模 {dataset.scale}，"
        f"乡镇 {len(dataset.townships)} 个，管段 {len(pipes):,} 条，项目 {len(projects):,} 个。"
    )
    console.print(
        _count_table(
            "管段：按压力级制",
            {c.label_zh: int(by_class.get(c.value, 0)) for c in PressureClass if c.value in by_class},
        )
    )
    status = pipes["status"].value_counts()
    console.print(
        _count_table("管段：按状态", {zh: int(status.get(k.value, 0)) for k, zh in PIPELINE_STATUS_ZH.items()})
    )
    kinds = projects["kind"].value_counts()
    console.print(
        _count_table("项目：按类型", {zh: int(kinds.get(k.value, 0)) for k, zh in PROJECT_KIND_ZH.items()})
    )
    pstatus = projects["status"].value_counts()
    console.print(
        _count_table(
            "项目：按状态", {zh: int(pstatus.get(k.value, 0)) for k, zh in PROJECT_STATUS_ZH.items()}
        )
    )
    times = dataset.timings_s
    console.print(
        f"耗时：生成 {times.get('generate', 0):.1f} 秒，写出 {fmt} {times.get(f'write_{fmt}', 0):.1f} 秒。"
    )
    for path in paths.values():
        console.print(f"  已写出 {path}")
