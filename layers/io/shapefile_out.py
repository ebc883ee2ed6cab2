"""Zipped Shapefile out, in GBK or UTF-8 with a ``.cpg`` saying which.

Many desktop tools in Chinese offices read .dbf text as GBK; newer ones honour the
.cpg. Field names are cut to 10 characters by the format (``registrati`` ...), which
this project's readers map back.
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd
import pyogrio

from layers.io.crs_input import resolve_crs
from layers.io.errors import file_error
from spatial_rules.crs import STORAGE_EPSG

ENCODINGS = {"gbk": "GBK", "utf-8": "UTF-8", "utf8": "UTF-8"}


def write_shapefile_zip(attributes: pd.DataFrame, geometry: np.ndarray, target: Path, crs: str | None,
                        encoding: str | None) -> Path:
    """Write a zipped Shapefile (.shp .shx .dbf .prj .cpg) of EPSG:4490 features."""
    codec = ENCODINGS.get((encoding or "gbk").strip().lower())
    if codec is None:
        raise file_error(target, f"参数 --encoding：Shapefile 编码只能是 gbk 或 utf-8（收到“{encoding}”）")
    out_crs = STORAGE_EPSG
    if crs is not None:
        chosen = resolve_crs(crs)
        if isinstance(chosen, str):
            raise file_error(target, "参数 --crs：Shapefile 须用 EPSG 坐标系（如 4490、4549）")
        out_crs = chosen.to_epsg() or STORAGE_EPSG
    frame = gpd.GeoDataFrame(attributes, geometry=geometry, crs=STORAGE_EPSG).to_crs(out_crs)
    stem = target.stem
    with tempfile.TemporaryDirectory(prefix="gisapp-shp-") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # field names cut to 10 characters: on purpose
                pyogrio.write_dataframe(frame, shp, driver="ESRI Shapefile", encoding=codec)
        except UnicodeEncodeError as exc:
            raise file_error(target, f"有文字无法用 {codec} 编码（{exc.object[exc.start:exc.end]}），"
                             "请改用 --encoding utf-8") from exc
        (Path(tmp) / f"{stem}.cpg").write_text(codec, encoding="ascii")
        if target.exists():
            target.unlink()
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                archive.write(part, part.name)
    return target
