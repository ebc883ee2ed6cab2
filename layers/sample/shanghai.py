"""The Shanghai-size synthetic sample: all 16 districts, ~700,000 segments, 100,000 sites.

Not a picture of any real network: a load test at the size of a city gas network.
Each district gets a street grid (one spacing for the whole city, so pipe length
follows area) cut into ~50 m segments, kept where a segment's middle lies in the
district; every 8th street carries a medium-pressure main, every 40th a sub-high
one, the rest low pressure. Townships are synthetic cells of about 6 km per district,
named from the district (崇明区第 3 片区). A fifth of the sites are placed next to a
pipe so that screening finds conflicts. Everything is vectorised (numpy, shapely 2):
the whole sample is generated in well under the two minutes the issue allows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely

from layers.district import district_boundary_metric
from layers.jurisdictions import CITY_CODE, jurisdiction
from layers.sample.geography import geometries_to_lonlat
from spatial_rules.crs import STORAGE_EPSG

TARGET_KM = 35_000.0
SEGMENT_M = 50.0
N_SITES = 100_000
CELL_M = 6_000.0
NEAR_SHARE = 0.2
# pressure class, design pressure (MPa), outer diameter (mm), material, every n-th street
MAINS = (("subhigh_b", 0.8, 406.0, "钢", 40), ("medium_a", 0.4, 219.0, "钢", 8))
LOW = ("low", 0.005, 110.0, "PE")
OWNER = "上海燃气有限公司"
BUILDERS = tuple(f"上海{n}建设集团有限公司" for n in ("城建", "建工", "隧道", "市政", "浦江", "申通",
                                                  "临港", "长江", "东方", "申城"))
KINDS = np.array(["housing", "municipal", "gas_engineering"])
STATUSES = np.array(["planned", "under_construction", "suspended", "completed"])


def shanghai_sample(seed: int, year: int, on_step: Callable[[str], None]):
    """Return a ``SampleDataset`` of the whole city (scale ``shanghai``)."""
    from layers.sample.dataset import STEPS, SampleDataset

    rng = np.random.default_rng(seed)
    clock = time.perf_counter()
    codes = jurisdiction(CITY_CODE).districts
    areas = {c: district_boundary_metric(c) for c in codes}
    for area in areas.values():
        shapely.prepare(area)
    total_m2 = sum(a.area for a in areas.values())
    spacing = 2 * total_m2 / (TARGET_KM * 1000.0)  # two street directions per cell
    on_step(STEPS[0])
    townships = _townships(codes, areas)
    on_step(STEPS[1])
    pipes = [_grid(rng, code, areas[code], spacing) for code in codes]
    pipelines = pd.concat(pipes, ignore_index=True)
    on_step(STEPS[2])
    share = np.array([areas[c].area for c in codes]) / total_m2
    counts = np.floor(share * N_SITES).astype(int)
    counts[-1] += N_SITES - counts.sum()
    projects = pd.concat([_sites(rng, code, areas[code], int(n), pipelines, year)
                          for code, n in zip(codes, counts, strict=True)], ignore_index=True)
    projects.insert(0, "registration_code", [f"SH{year}-{k:06d}" for k in range(1, len(projects) + 1)])
    on_step(STEPS[3])
    layers = {}
    for name, frame in (("pipelines", pipelines), ("projects", projects)):
        lonlat = geometries_to_lonlat(frame["geometry"].to_numpy())
        layers[name] = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=lonlat, crs=STORAGE_EPSG)
    return SampleDataset(
        townships=townships, pipelines=layers["pipelines"], projects=layers["projects"],
        seed=int(seed), scale="shanghai", year=year,
        timings_s={"generate": time.perf_counter() - clock},
    )


def _grid(rng, code: str, area, spacing: float) -> pd.DataFrame:
    """Return the district's ~50 m pipe segments (metric LineStrings) with their attributes."""
    west, south, east, north = area.bounds
    frames = []
    for axis in (0, 1):  # streets along x, then along y
        lo, hi = (south, north) if axis == 0 else (west, east)
        a0, a1 = (west, east) if axis == 0 else (south, north)
        lines = np.arange(lo + rng.uniform(0, spacing), hi, spacing)
        starts = np.arange(a0, a1, SEGMENT_M)
        line_k = np.repeat(np.arange(lines.size), starts.size)
        across = np.repeat(lines, starts.size)
        along = np.tile(starts, lines.size)
        mid = along + SEGMENT_M / 2
        xm, ym = (mid, across) if axis == 0 else (across, mid)
        keep = shapely.contains_xy(area, xm, ym)
        line_k, across, along = line_k[keep], across[keep], along[keep]
        if axis == 0:
            coords = np.stack([np.column_stack([along, across]),
                               np.column_stack([along + SEGMENT_M, across])], axis=1)
        else:
            coords = np.stack([np.column_stack([across, along]),
                               np.column_stack([across, along + SEGMENT_M])], axis=1)
        frames.append(pd.DataFrame({"street": line_k + axis * 100_000,
                                    "geometry": shapely.linestrings(coords)}))
    frame = pd.concat(frames, ignore_index=True)
    klass = np.full(len(frame), LOW[0], dtype=object)
    pressure = np.full(len(frame), LOW[1])
    diameter = np.full(len(frame), LOW[2])
    material = np.full(len(frame), LOW[3], dtype=object)
    street = frame["street"].to_numpy() % 100_000
    for name, mpa, mm, mat, every in reversed(MAINS):  # the rarer class wins
        on = street % every == 0
        klass[on], pressure[on], diameter[on], material[on] = name, mpa, mm, mat
    district = jurisdiction(code).name
    n = len(frame)
    return pd.DataFrame({
        "external_code": [f"SH-{code}-{k:07d}" for k in range(1, n + 1)],
        "name": [f"{district}燃气管段" for _ in range(n)],
        "owner": OWNER, "pressure_class": klass, "design_pressure_mpa": pressure,
        "outer_diameter_mm": diameter, "material": material, "status": "in_service",
        "geometry": frame["geometry"].to_numpy(),
    })


def _townships(codes, areas) -> gpd.GeoDataFrame:
    rows = []
    for code in codes:
        area = areas[code]
        west, south, east, north = area.bounds
        name = jurisdiction(code).name
        k = 0
        for iy in range(int(np.ceil((north - south) / CELL_M))):
            for ix in range(int(np.ceil((east - west) / CELL_M))):
                box = shapely.box(west + ix * CELL_M, south + iy * CELL_M,
                                  west + (ix + 1) * CELL_M, south + (iy + 1) * CELL_M)
                cell = area.intersection(box)
                polygons = [p for p in shapely.get_parts(cell) if p.geom_type == "Polygon"]
                if not polygons:
                    continue
                k += 1
                rows.append({"code": f"{code}{ix:02d}{iy:02d}", "name": f"{name}第{ix:02d}{iy:02d}片区",
                             "synthetic": True, "geometry": shapely.MultiPolygon(polygons)})
    frame = pd.DataFrame(rows)
    lonlat = geometries_to_lonlat(frame["geometry"].to_numpy())
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=lonlat, crs=STORAGE_EPSG)


def _sites(rng, code: str, area, n: int, pipelines: pd.DataFrame, year: int) -> pd.DataFrame:
    """Return ``n`` rectangular sites in the district, a fifth of them next to a pipe."""
    west, south, east, north = area.bounds
    near = int(n * NEAR_SHARE)
    mine = pipelines["external_code"].str.startswith(f"SH-{code}-").to_numpy()
    mids = shapely.get_coordinates(shapely.line_interpolate_point(
        pipelines["geometry"].to_numpy()[mine], 0.5, normalized=True))
    anchors = mids[rng.integers(0, len(mids), near)]
    picked = anchors + rng.uniform(-30, 30, (near, 2))
    astray = ~shapely.contains_xy(area, picked[:, 0], picked[:, 1])
    picked[astray] = anchors[astray]  # a site's centre stays in its district (and township)
    far: list[np.ndarray] = []
    while sum(len(f) for f in far) < n - near:
        xy = np.column_stack([rng.uniform(west, east, 2 * n), rng.uniform(south, north, 2 * n)])
        far.append(xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])])
    centres = np.vstack([picked, *far])[:n]
    half = rng.uniform(15, 100, (n, 2))
    boxes = shapely.box(centres[:, 0] - half[:, 0], centres[:, 1] - half[:, 1],
                        centres[:, 0] + half[:, 0], centres[:, 1] + half[:, 1])
    name = jurisdiction(code).name
    ix = np.floor((centres[:, 0] - west) / CELL_M).astype(int)
    iy = np.floor((centres[:, 1] - south) / CELL_M).astype(int)
    township = [f"{name}第{a:02d}{b:02d}片区" for a, b in zip(ix, iy, strict=True)]
    kinds = rng.choice(KINDS, n, p=[0.5, 0.35, 0.15])
    start = np.datetime64(f"{year}-01-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    finish = start + rng.integers(30, 400, n).astype("timedelta64[D]")
    builders = rng.choice(np.array(BUILDERS), n)
    gas = kinds == "gas_engineering"
    supervised = np.where(gas, rng.random(n) < 0.8, False)
    return pd.DataFrame({
        "name": [f"{t}施工项目" for t in township],
        "kind": kinds, "builder": builders, "contractor": builders,
        "supervisor": "上海建设工程监理有限公司", "organisation": builders,
        "township": township,
        "start_date": [dt.date.fromisoformat(str(d)) for d in start],
        "planned_completion_date": [dt.date.fromisoformat(str(d)) for d in finish],
        "status": rng.choice(STATUSES, n, p=[0.2, 0.6, 0.05, 0.15]),
        "hazardous": rng.random(n) < 0.05, "insured": rng.random(n) < 0.7,
        "under_supervision": pd.array([bool(s) if g else None for g, s in zip(gas, supervised, strict=True)],
                                      dtype="boolean"),
        "supervised_since": [dt.date(year, 1, 1) if s else None for s in supervised],
        "geometry": boxes,
    })
