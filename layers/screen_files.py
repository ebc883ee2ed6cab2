"""Screening of files without a database: read, project, screen in memory, write.

Pipelines with status ``abandoned`` have no protection range and are left out, as the
PostGIS engine does (``layers.screening_db``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd

from campaign.export import to_spreadsheet_csv
from layers.io.errors import file_error
from layers.io.reader import read_layer_fields
from layers.projection import lonlat_to_metric, metric_points_to_lonlat
from layers.schema import UNSCREENED_PIPELINE_STATUSES
from spatial_rules.crs import STORAGE_EPSG
from spatial_rules.rulesets import RuleSet
from spatial_rules.screening import PipelineSet, ScreeningResult, SiteSet, screen_sites
from vocabulary.activities import ALL_ACTIVITIES_MASK, Activity, activities_mask

OUTPUT_FORMATS = (".csv", ".geojson", ".json", ".gpkg")
# The fields the screen uses; other optional text fields (name, owner...) are not read.
PIPELINE_FIELDS = ("external_code", "pressure_class", "design_pressure_mpa", "outer_diameter_mm",
                   "status")
SITE_FIELDS = ("registration_code", "activities")


@dataclass
class FileScreening:
    """The inputs as read (the fields the screen uses, all checked) and the screening result."""

    pipelines: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    result: ScreeningResult
    notes: list[str]
    skipped_abandoned: int


def check_output_path(out: str | Path) -> Path:
    """Refuse an output extension we cannot write before any work is done."""
    path = Path(out)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise file_error(path, f"不支持的输出格式“{path.suffix or '无扩展名'}”（支持 .csv、.geojson、.gpkg）")
    if not path.parent.exists():
        raise file_error(path, f"输出目录 {path.parent} 不存在")
    return path


def screen_files(
    pipelines_path: str | Path,
    sites_path: str | Path,
    rule_set: RuleSet,
    *,
    pipelines_crs: str | None = None,
    sites_crs: str | None = None,
    pipeline_fields: dict[str, str] | None = None,
    site_fields: dict[str, str] | None = None,
    margin_m: float = 2000.0,
    step: Callable[[str], None] | None = None,
    cad: object = None,
) -> FileScreening:
    """Read both files (any supported format), screen them in memory and return the result.

    ``cad``: how to read whichever file is a DXF drawing (``layers.io.dxf.DxfOptions``).
    """
    step = step or (lambda _msg: None)
    step("读取管道与项目文件")
    # The sites file is read in a second thread: GDAL releases the GIL while it reads,
    # so the two files overlap. A problem in the pipelines file is still reported first.
    with ThreadPoolExecutor(max_workers=1) as pool:
        sites_read = pool.submit(read_layer_fields, sites_path, "sites", SITE_FIELDS,
                                 crs=sites_crs, field_map=site_fields, margin_m=margin_m, cad=cad)
        pipes = read_layer_fields(pipelines_path, "pipelines", PIPELINE_FIELDS, crs=pipelines_crs,
                                  field_map=pipeline_fields, margin_m=margin_m, cad=cad)
        sites = sites_read.result()
    pipe_frame = pipes.frame
    skipped = 0
    if "status" in pipe_frame.columns:
        live = ~pipe_frame["status"].isin(UNSCREENED_PIPELINE_STATUSES)
        skipped = int((~live).sum())
        pipe_frame = pipe_frame[live]
    step("投影到平面坐标")
    pipe_set = PipelineSet(
        ids=pipe_frame["external_code"].astype(str).to_numpy(),
        geoms=lonlat_to_metric(pipe_frame.geometry.to_numpy()),
        pressure_classes=pipe_frame["pressure_class"].astype(str).to_numpy(),
        outer_diameters_mm=pipe_frame["outer_diameter_mm"].astype(float).to_numpy(),
    )
    site_set = SiteSet(
        ids=sites.frame["registration_code"].astype(str).to_numpy(),
        geoms=lonlat_to_metric(sites.frame.geometry.to_numpy()),
        activity_masks=activity_masks(sites.frame),
    )
    step("缓冲区分析")
    result = screen_sites(pipe_set, site_set, rule_set)
    return FileScreening(pipe_frame, sites.frame, result, pipes.notes + sites.notes, skipped)


def activity_masks(frame: pd.DataFrame) -> np.ndarray | None:
    """Return each site's declared-activity mask (every activity when none), or None without the column."""
    if "activities" not in frame.columns:
        return None
    masks: dict[str | None, int] = {None: ALL_ACTIVITIES_MASK}
    texts = [v if isinstance(v, str) and v else None for v in frame["activities"].tolist()]
    for text in set(texts):
        if text is not None and text not in masks:
            masks[text] = activities_mask(Activity(code) for code in text.split(","))
    return np.fromiter((masks[t] for t in texts), dtype=np.int32, count=len(texts))


def conflicts_frame(screening: FileScreening) -> gpd.GeoDataFrame:
    """Return one row per conflicting pair, with the site geometry (EPSG:4490)."""
    result = screening.result
    site_lon, site_lat = metric_points_to_lonlat(result.site_x, result.site_y)
    pipe_lon, pipe_lat = metric_points_to_lonlat(result.pipe_x, result.pipe_y)
    table = pd.DataFrame(
        {
            "site_id": result.site_ids,
            "pipeline_id": result.pipeline_ids,
            "zone": result.zones,
            "distance_m": np.round(result.distance_m, 2),
            "centreline_distance_m": np.round(result.centreline_distance_m, 3),
            "pressure_class": result.pressure_classes,
            "outer_diameter_mm": result.outer_diameter_mm,
            "protection_range_m": result.protection_range_m,
            "control_range_m": result.control_range_m,
            "rule_set": result.rule_set.label,
            "prohibited_activities": result.prohibited_activities,
            "plan_required_activities": result.plan_required_activities,
            "required_action": result.required_actions,
            "site_nearest_lon": np.round(site_lon, 8),
            "site_nearest_lat": np.round(site_lat, 8),
            "pipe_nearest_lon": np.round(pipe_lon, 8),
            "pipe_nearest_lat": np.round(pipe_lat, 8),
        }
    )
    geometry = screening.sites.geometry.to_numpy()[result.site_index]
    return gpd.GeoDataFrame(table, geometry=geometry, crs=STORAGE_EPSG)


def write_conflicts(frame: gpd.GeoDataFrame, out: str | Path) -> Path:
    """Write conflicts by extension: CSV (no geometry), GeoJSON or GeoPackage (site geometry)."""
    path = check_output_path(out)
    if path.exists():
        path.unlink()
    if path.suffix.lower() == ".csv":
        to_spreadsheet_csv(pd.DataFrame(frame.drop(columns="geometry")), path)
    elif path.suffix.lower() == ".gpkg":
        frame.to_file(path, driver="GPKG", layer="conflicts", engine="pyogrio")
    else:
        # RFC 7946: lon/lat without a crs member (CGCS2000 equals WGS84 within centimetres).
        plain = gpd.GeoDataFrame(pd.DataFrame(frame.drop(columns="geometry")),
                                 geometry=frame.geometry.to_numpy(), crs=None)
        plain.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=9,
                      WRITE_NAME="NO")
        _activity_lists(path)
    return path


LIST_COLUMNS = ("prohibited_activities", "plan_required_activities")


def _activity_lists(path: Path) -> None:
    """Rewrite the activity columns of a written GeoJSON as JSON lists (CSV keeps them comma-joined)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        for column in LIST_COLUMNS:
            if column in props:
                props[column] = props[column].split(",") if props[column] else []
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
