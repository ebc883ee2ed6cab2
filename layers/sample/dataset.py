"""Generate the synthetic Chongming sample: townships, pipelines and projects (EPSG:4490)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import geopandas as gpd

from layers.sample.geography import geometries_to_lonlat, load_townships
from layers.sample.pipelines import build_pipelines
from layers.sample.projects import build_projects
from layers.sample.scales import scale_spec
from layers.sample.townships import township_polygons
from spatial_rules.crs import STORAGE_EPSG, metric_crs

DEFAULT_SEED = 20261124
DEFAULT_YEAR = 2026
STEPS = ("乡镇边界", "燃气管网", "施工项目", "坐标转换")


@dataclass
class SampleDataset:
    """The three sample layers in CGCS2000 lon/lat (EPSG:4490) and how they were made."""

    townships: gpd.GeoDataFrame
    pipelines: gpd.GeoDataFrame
    projects: gpd.GeoDataFrame
    seed: int
    scale: str
    year: int
    timings_s: dict[str, float] = field(default_factory=dict)

    def write(self, out_dir: str | Path, fmt: str = "geojson") -> dict[str, Path]:
        """Write the layers and a README to ``out_dir``; return layer name -> file path."""
        from layers.sample.writer import write_dataset

        return write_dataset(self, Path(out_dir), fmt)


def generate_sample(
    seed: int = DEFAULT_SEED,
    scale: str = "district",
    year: int = DEFAULT_YEAR,
    on_step: Callable[[str], None] | None = None,
) -> SampleDataset:
    """Return the synthetic sample for ``seed`` and ``scale``; same inputs, same output.

    ``on_step`` is called with a Chinese label before each generation step.
    """
    step = on_step or (lambda _label: None)
    if scale == "shanghai":  # all 16 districts: its own generator (layers.sample.shanghai)
        from layers.sample.shanghai import shanghai_sample

        return shanghai_sample(seed, year, step)
    spec = scale_spec(scale)
    rng_pipes, rng_projects = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2)
    )
    towns = load_townships()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    step(STEPS[0])
    townships = township_polygons()
    townships_metric = townships.to_crs(metric_crs())
    step(STEPS[1])
    pipelines = build_pipelines(rng_pipes, spec, towns)
    step(STEPS[2])
    projects = build_projects(rng_projects, spec, towns, townships_metric, pipelines, year)
    step(STEPS[3])
    layers = {}
    for name, frame in (("pipelines", pipelines), ("projects", projects)):
        lonlat = geometries_to_lonlat(frame.geometry.to_numpy())
        layers[name] = gpd.GeoDataFrame(
            frame.drop(columns="geometry"), geometry=lonlat, crs=STORAGE_EPSG
        )
    layers["townships"] = townships.drop(columns="island")
    timings["generate"] = time.perf_counter() - clock
    return SampleDataset(
        townships=layers["townships"],
        pipelines=layers["pipelines"],
        projects=layers["projects"],
        seed=int(seed),
        scale=spec.name,
        year=year,
        timings_s=timings,
    )
