"""The naive baseline a GIS analyst would write with geopandas, end to end.

Buffer each pipe by its outer control distance (control range + half the outer
diameter), ``sjoin`` the sites on intersects, then compute distances for the joined
pairs and keep those in range. Buffers are polygons that only approximate arcs, so
this can miss pairs the exact engine finds.

    python benchmarks/naive_screen.py PIPELINES SITES OUT.csv
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import geopandas as gpd

from spatial_rules.crs import METRIC_PROJ4
from spatial_rules.pressure import classify_pressure
from spatial_rules.rulesets import load_rule_set


def naive_screen(pipes: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, rules: str = "shanghai"):
    """Return the naive result as a DataFrame (site_id, pipeline_id, zone, distance_m)."""
    rule_set = load_rule_set(rules)
    pipes = pipes[pipes["status"] != "abandoned"] if "status" in pipes else pipes
    pipes_m = pipes.to_crs(METRIC_PROJ4).reset_index(drop=True)
    sites_m = sites.to_crs(METRIC_PROJ4).reset_index(drop=True)
    protection = pipes_m["pressure_class"].map(lambda c: rule_set.ranges_for(c).protection_m)
    control = pipes_m["pressure_class"].map(lambda c: rule_set.ranges_for(c).control_m)
    half_od = pipes_m["outer_diameter_mm"].astype(float) / 2000.0
    buffers = gpd.GeoDataFrame(
        {"pipe_idx": np.arange(len(pipes_m))},
        geometry=pipes_m.buffer(control + half_od),
        crs=pipes_m.crs,
    )
    joined = gpd.sjoin(sites_m[["geometry"]], buffers, predicate="intersects")
    site_idx = joined.index.to_numpy()
    pipe_idx = joined["pipe_idx"].to_numpy()
    centre = sites_m.geometry.iloc[site_idx].distance(
        pipes_m.geometry.iloc[pipe_idx], align=False
    ).to_numpy()
    wall = np.maximum(0.0, centre - half_od.to_numpy()[pipe_idx])
    prot = protection.to_numpy()[pipe_idx]
    ctrl = control.to_numpy()[pipe_idx]
    zone = np.where(wall < prot, "protection", np.where(wall < ctrl, "control", ""))
    keep = zone != ""
    site_code = "registration_code" if "registration_code" in sites_m else "id"
    pipe_code = "external_code" if "external_code" in pipes_m else "id"
    return pd.DataFrame(
        {
            "site_id": sites_m[site_code].to_numpy()[site_idx[keep]],
            "pipeline_id": pipes_m[pipe_code].to_numpy()[pipe_idx[keep]],
            "zone": zone[keep],
            "distance_m": np.round(wall[keep], 2),
        }
    )


def read(path: str) -> gpd.GeoDataFrame:
    """Read a file as an analyst would: GDAL for GIS formats, pandas + WKT for a CSV."""
    if path.endswith(".csv"):
        table = pd.read_csv(path, dtype={"id": str})
        geometry = gpd.GeoSeries.from_wkt(table.pop("wkt"), crs="EPSG:4490")
        return gpd.GeoDataFrame(table, geometry=geometry)
    frame = gpd.read_file(path, engine="pyogrio")
    # Shapefile exports carry short (10-byte) field names.
    return frame.rename(columns={"pressure": "design_pressure_mpa", "diameter": "outer_diameter_mm"})


def main() -> None:
    """Read both files, screen naively, write CSV."""
    pipes_path, sites_path, out = sys.argv[1:4]
    pipes = read(pipes_path)
    sites = read(sites_path)
    if "design_pressure_mpa" in pipes and "pressure_class" not in pipes:
        # One class per distinct pressure (a handful), as an analyst's lookup table.
        classes = {p: classify_pressure(p).value for p in pipes["design_pressure_mpa"].unique()}
        pipes["pressure_class"] = pipes["design_pressure_mpa"].map(classes)
    result = naive_screen(pipes, sites)
    result.to_csv(out, index=False)
    print(len(result))


if __name__ == "__main__":
    main()
