"""Read stored layers back out of PostGIS as GeoDataFrames (EPSG:4490, canonical columns)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

import geopandas as gpd

from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from spatial_rules.crs import STORAGE_EPSG

EXPORT_QUERIES = {
    "pipelines": (
        f"SELECT {', '.join(PIPELINE_FIELDS)}, geom FROM gas_pipeline "
        "WHERE deleted_at IS NULL ORDER BY external_code"
    ),
    "projects": (
        f"SELECT {', '.join(PROJECT_FIELDS)}, geom FROM construction_project "
        "WHERE deleted_at IS NULL ORDER BY registration_code, organisation NULLS FIRST"
    ),
    "townships": "SELECT code, name, synthetic, geom FROM township ORDER BY code",
}
DATE_COLUMNS = ("start_date", "planned_completion_date", "supervised_since")


def stored_layer(bind: Engine | Connection, layer: str) -> gpd.GeoDataFrame:
    """Return the live rows of a stored layer; ``layer`` is pipelines, projects or townships."""
    query = EXPORT_QUERIES[layer]
    frame = gpd.read_postgis(text(query), bind, geom_col="geom", crs=STORAGE_EPSG)
    frame = frame.rename_geometry("geometry")
    for col in DATE_COLUMNS:
        if col in frame.columns:
            # Keep dates as dates (not timestamps) so files round-trip unchanged.
            frame[col] = frame[col].map(lambda v: None if v is None or v != v else v)
    frame.index = range(1, len(frame) + 1)
    return frame
