"""Dataset shapes for ``bench_screen_cli.py``: the city sample reshaped into harder inputs.

Each builder writes (or reuses, when already in the folder) a pipelines file and a sites
file derived from the city sample, so every shape stays inside Chongming (the extent
check) and keeps the sample's pressure classes, diameters and codes:

- ``many``: every site grown by 120 m (about 92,000 conflicting pairs);
- ``long``: one feature per pressure class, status and 1 km grid cell, its segments
  merged where they join (about 2,000 pipelines of hundreds of vertices, multi-part
  street networks), sites grown by 120 m;
- ``short``: every segment cut at each vertex and in pieces of at most 60 m (about
  800,000 two-point pipelines), sites grown by 60 m;
- ``big``: 150 square sites of 1.2 to 3 km side, each covering hundreds of pipes;
- ``geojson`` / ``shp`` / ``csv``: the ``many`` data in other input formats (CSV with
  a WKT column).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely

from layers.projection import lonlat_to_metric
from spatial_rules.crs import from_metric

SHAPES = ("few", "many", "long", "short", "big", "geojson", "shp", "csv")


def _to_lonlat(geoms: np.ndarray) -> np.ndarray:
    back = from_metric()

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(back.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geoms, project)


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    layer = path.stem.split("_")[0]
    if path.suffix == ".csv":
        table = pd.DataFrame(frame.drop(columns="geometry"))
        table["wkt"] = shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=9)
        table.to_csv(path, index=False)
    elif path.suffix == ".shp":
        # dBase names hold 10 bytes: the pipelines give their design pressure (the class
        # is derived from it) and diameter under short names, as GIS exports often do.
        frame = frame.rename(columns={"design_pressure_mpa": "pressure", "outer_diameter_mm": "diameter"})
        frame = frame.drop(columns=[c for c in ("pressure_class", "supervised_since",
                                                "planned_completion_date") if c in frame])
        frame.to_file(path, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
    elif path.suffix == ".geojson":
        frame.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=9)
    else:
        frame.to_file(path, driver="GPKG", layer=layer, engine="pyogrio")
    return path


def grown_sites(sites: gpd.GeoDataFrame, grow_m: float) -> gpd.GeoDataFrame:
    """Return the sites each grown by ``grow_m`` metres."""
    grown = shapely.buffer(lonlat_to_metric(sites.geometry.to_numpy()), grow_m, quad_segs=4)
    return sites.set_geometry(gpd.GeoSeries(_to_lonlat(grown), crs=sites.crs))


def long_pipelines(pipes: gpd.GeoDataFrame, cell_m: float = 1000.0) -> gpd.GeoDataFrame:
    """Return one feature per pressure class, status and ``cell_m`` grid cell: its segments
    merged where they join (trunk lines of kilometres, street networks as one multi-part
    feature), the attributes of the cell's first segment."""
    metric = lonlat_to_metric(pipes.geometry.to_numpy())
    centre = shapely.get_coordinates(shapely.centroid(metric))
    cell = np.floor(centre / cell_m).astype(np.int64)
    keys = pd.DataFrame({"c": pipes["pressure_class"].to_numpy(), "s": pipes["status"].to_numpy(),
                         "x": cell[:, 0], "y": cell[:, 1]})
    group = keys.groupby(["c", "s", "x", "y"], sort=True).ngroup().to_numpy()
    lines, owner = shapely.get_parts(pipes.geometry.to_numpy(), return_index=True)
    by_group = np.argsort(group[owner], kind="stable")
    merged = shapely.line_merge(shapely.multilinestrings(lines[by_group], indices=group[owner][by_group]))
    first = pipes.groupby(group, sort=True).head(1)
    order = np.argsort(group[first.index.to_numpy()], kind="stable")
    frame = first.iloc[order].reset_index(drop=True)
    return frame.set_geometry(gpd.GeoSeries(merged, crs=pipes.crs))


def short_pipelines(pipes: gpd.GeoDataFrame, piece_m: float = 60.0) -> gpd.GeoDataFrame:
    """Return every segment cut at its vertices and into pieces of at most ``piece_m`` metres."""
    metric = shapely.segmentize(lonlat_to_metric(pipes.geometry.to_numpy()), piece_m)
    coords, owner = shapely.get_coordinates(shapely.get_parts(metric), return_index=True)
    part_owner = shapely.get_parts(metric, return_index=True)[1]
    same = owner[1:] == owner[:-1]
    starts = np.flatnonzero(same)
    pieces = shapely.linestrings(
        np.stack([coords[starts], coords[starts + 1]], axis=1)
    )
    source = part_owner[owner[starts]]
    frame = pipes.iloc[source].reset_index(drop=True)
    frame["id"] = [f"{code}-{k}" for code, k in zip(
        frame["id"].tolist(), frame.groupby("id").cumcount().tolist(), strict=True)]
    return frame.set_geometry(gpd.GeoSeries(_to_lonlat(pieces), crs=pipes.crs))


def big_sites(sites: gpd.GeoDataFrame, pipes: gpd.GeoDataFrame, n: int = 150,
              seed: int = 7) -> gpd.GeoDataFrame:
    """Return ``n`` squares of 1.2-3 km side centred on random pipeline vertices."""
    rng = np.random.default_rng(seed)
    metric = lonlat_to_metric(pipes.geometry.to_numpy())
    coords = shapely.get_coordinates(metric)
    centres = coords[rng.choice(len(coords), n, replace=False)]
    half = rng.uniform(600.0, 1500.0, n)
    boxes = shapely.box(centres[:, 0] - half, centres[:, 1] - half,
                        centres[:, 0] + half, centres[:, 1] + half)
    frame = sites.iloc[:n].reset_index(drop=True)
    return frame.set_geometry(gpd.GeoSeries(_to_lonlat(boxes), crs=sites.crs))


def dataset(shape: str, folder: Path, city: dict[str, Path]) -> dict[str, Path]:
    """Return {"pipelines", "projects"} files of ``shape``, writing them when not yet there."""
    pipes_file, sites_file = city["pipelines"], city["projects"]
    if shape == "few":
        return {"pipelines": pipes_file, "projects": sites_file}
    formats = {"geojson": ".geojson", "shp": ".shp", "csv": ".csv"}
    suffix = formats.get(shape, ".gpkg")
    base = "many" if shape in formats else shape
    out = {"pipelines": folder / f"pipelines_{base}{suffix}" if base in ("long", "short")
           else folder / f"pipelines_city{suffix}",
           "projects": folder / f"projects_{base}{suffix}"}
    if out["pipelines"].name == "pipelines_city.gpkg":
        out["pipelines"] = pipes_file
    if all(p.exists() for p in out.values()):
        return out
    pipes = gpd.read_file(pipes_file, engine="pyogrio")
    sites = gpd.read_file(sites_file, engine="pyogrio")
    builders: dict[str, Callable[[], tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]]] = {
        "many": lambda: (pipes, grown_sites(sites, 120.0)),
        "long": lambda: (long_pipelines(pipes), grown_sites(sites, 120.0)),
        "short": lambda: (short_pipelines(pipes), grown_sites(sites, 60.0)),
        "big": lambda: (pipes, big_sites(sites, pipes)),
    }
    new_pipes, new_sites = builders[base]()
    if not out["pipelines"].exists():
        _write(new_pipes, out["pipelines"])
    _write(new_sites, out["projects"])
    return out
