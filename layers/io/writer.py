"""write_layer: a canonical GeoDataFrame (EPSG:4490) -> GeoJSON, GeoPackage, CSV, KML or zipped Shapefile.

KML is lon/lat by definition (WGS 84, or GCJ-02/BD-09 for Chinese map apps when asked).
A zipped Shapefile carries a ``.cpg`` naming its encoding: GBK for the desktop tools
of Chinese offices, or UTF-8.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd

import geopandas as gpd
import pyogrio
import shapely

from campaign.export import to_spreadsheet_csv
from layers.io.errors import file_error
from spatial_rules.crs import STORAGE_EPSG

WRITE_FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".csv": "CSV",
                 ".kml": "KML", ".zip": "ESRI Shapefile"}


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Return attributes as GDAL/CSV-friendly values: dates as ISO text, bools as 1/0 text kept."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            if column.map(lambda v: isinstance(v, dt.date)).any():
                column = column.map(lambda v: v.isoformat() if isinstance(v, dt.date) else None)
            elif column.map(lambda v: isinstance(v, bool)).any():
                column = column.map(lambda v: None if v is None else ("true" if v else "false"))
            column = column.astype(object).where(column.notna(), None)
        out[name] = column
    return out


def write_layer(frame: gpd.GeoDataFrame, path: str | Path, *, crs: str | None = None,
                encoding: str | None = None) -> Path:
    """Write a layer in EPSG:4490 to .geojson (RFC 7946 lon/lat), .gpkg, .csv (WKT), .kml or .zip.

    ``crs``: for KML and Shapefile, write coordinates in ``gcj02``/``bd09`` (KML) or an
    EPSG code (Shapefile, with its .prj); ``encoding``: Shapefile text, ``gbk`` or ``utf-8``.
    """
    target = Path(path)
    driver = WRITE_FORMATS.get(target.suffix.lower())
    if driver is None:
        known = "、".join(WRITE_FORMATS)
        raise file_error(target, f"不支持写出格式“{target.suffix or '无扩展名'}”（支持：{known}）")
    if encoding is not None and driver != "ESRI Shapefile":
        raise file_error(target, "参数 --encoding 只用于 Shapefile（.zip）")
    if crs is not None and driver not in ("KML", "ESRI Shapefile"):
        raise file_error(target, "参数 --crs 只用于 KML 和 Shapefile（GeoJSON 按 RFC 7946 总是经纬度）")
    if frame.crs is not None and frame.crs.to_epsg() != STORAGE_EPSG:
        frame = frame.to_crs(STORAGE_EPSG)
    attributes = _plain_columns(frame.drop(columns=frame.geometry.name))
    geometry = frame.geometry.to_numpy()
    if driver == "KML":
        from layers.io.kml_out import write_kml

        return write_kml(attributes, geometry, target, crs)
    if driver == "ESRI Shapefile":
        from layers.io.shapefile_out import write_shapefile_zip

        return write_shapefile_zip(attributes, geometry, target, crs, encoding)
    if target.exists():
        target.unlink()
    if driver == "CSV":
        table = attributes.copy()
        table["wkt"] = shapely.to_wkt(geometry, rounding_precision=-1)
        to_spreadsheet_csv(table, target)
        return target
    # GeoJSON: CGCS2000 lon/lat equals WGS84 within centimetres, so coordinates are
    # written as they are, without a crs member (RFC 7946); GeoPackage keeps EPSG:4490.
    crs = None if driver == "GeoJSON" else f"EPSG:{STORAGE_EPSG}"
    out = gpd.GeoDataFrame(attributes, geometry=geometry, crs=crs)
    options = {"COORDINATE_PRECISION": 15, "WRITE_NAME": "NO"} if driver == "GeoJSON" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "crs was not provided": on purpose
        pyogrio.write_dataframe(out, target, driver=driver, layer=target.stem, **options)
    return target
