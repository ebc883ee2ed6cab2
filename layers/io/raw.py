"""Read a checked input file into raw attributes and shapely geometries (no validation yet)."""

from __future__ import annotations

import io
import json
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from campaign.export import unquote_spreadsheet_text
from layers.io.errors import FeatureProblem, InputFileError, file_error
from layers.io.formats import extract_zip_safely, pick_shapefile, shapefile_sidecars
from layers.io.textenc import codec_name, decode_text, is_utf8_file, sniff_dbf_encoding

WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
_EWKT_SRID = re.compile(r"^\s*SRID=\d+;", re.IGNORECASE)
# The same prefix at the start of any line of texts joined by line feeds.
_EWKT_LINE = re.compile(r"^\s*SRID=\d+;", re.IGNORECASE | re.MULTILINE)


@dataclass
class RawTable:
    """Attributes as read (index = 1-based feature number) and geometries in the file's CRS."""

    attributes: pd.DataFrame
    geometry: np.ndarray
    crs: CRS | None
    problems: list[FeatureProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    point_columns: tuple[str, str] | None = None
    has_geometry: bool = True
    # Every attribute column of the file, in order; ``attributes`` may hold fewer
    # when the caller picked the columns to read.
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.columns:
            self.columns = [str(c) for c in self.attributes.columns]


# Given every column name of a file, return the ones to read.
ColumnPicker = Callable[[list[str]], list[str]]


def read_raw(
    file: Path,
    fmt: str,
    *,
    encoding: str | None,
    layer: str | None,
    max_bytes: int,
    pick: ColumnPicker | None = None,
    kind: str = "projects",
    options: Any = None,
) -> RawTable:
    """Return the raw table of a local file already checked by ``check_input_path``.

    ``pick`` reads only some attribute columns, for GeoPackages (UTF-8 by definition,
    its schema known without reading rows) and plain GeoJSON files (read without GDAL,
    ``layers.io.geojson_plain``); other formats read every column.
    """
    if fmt == "csv":
        return _read_csv(file, encoding)
    if fmt == "geojson":
        if encoding is None and pick is not None:
            from layers.io.geojson_plain import read_plain_geojson_file

            plain = read_plain_geojson_file(file, pick)
            if plain is not None:
                return plain
        return _read_geojson(file, encoding)
    if fmt == "gpkg":
        gpkg_layer = _gpkg_layer(file, layer)
        columns = _picked_columns(file, gpkg_layer, pick) if pick is not None else None
        return _read_ogr(file, file, layer=gpkg_layer, encoding=None, columns=columns)
    if fmt == "shapefile":
        return _read_shapefile(file, file, encoding)
    if fmt in ("kml", "kmz"):
        from layers.io.kml import read_kml_file, read_kmz_file

        return read_kml_file(file, kind) if fmt == "kml" else read_kmz_file(file, kind, max_bytes)
    if fmt in ("xlsx", "xls"):
        from layers.io.tables import read_workbook

        return read_workbook(file, fmt, kind, sheet=layer)
    if fmt == "dxf":
        from layers.io.dxf import read_dxf

        return read_dxf(file, kind, options)
    with tempfile.TemporaryDirectory(prefix="gisapp-zip-") as tmp:
        extract_zip_safely(file, Path(tmp), max_bytes)
        shp = pick_shapefile(Path(tmp), file, layer)
        return _read_shapefile(shp, file, encoding)


def _gpkg_layer(file: Path, layer: str | None) -> str:
    """Return the GeoPackage layer to read: the one given, or the only spatial one."""
    try:
        layers = pyogrio.list_layers(str(file))
    except Exception as exc:  # GDAL raises several types for a corrupt database
        raise file_error(file, f"无法打开 GeoPackage（{exc}）") from exc
    spatial = [str(name) for name, geom_type in layers if geom_type is not None]
    every = [str(name) for name, _ in layers]
    if layer is not None:
        if layer not in every:
            raise file_error(file, f"没有图层“{layer}”（现有图层：{'、'.join(every) or '无'}）")
        return layer
    if not spatial:
        raise file_error(file, "GeoPackage 中没有含几何的图层")
    if len(spatial) > 1:
        raise file_error(
            file, f"GeoPackage 中有多个图层：{'、'.join(spatial)}，请用 layer 参数指定一个"
        )
    return spatial[0]


def _picked_columns(
    file: Path, layer: str, pick: ColumnPicker
) -> tuple[list[str], list[str]] | None:
    """Return (every column, columns to read), or None to read them all as usual."""
    try:
        info = pyogrio.read_info(str(file), layer=layer)
    except Exception:  # the full read reports the problem in its own words
        return None
    if info.get("geometry_type") is None:
        return None  # without geometries the rows are counted from the attributes
    every = [str(name) for name in info["fields"]]
    chosen = set(pick(every))
    return every, [name for name in every if name in chosen]


def _read_shapefile(shp: Path, source: Path, encoding: str | None) -> RawTable:
    """Read a .shp honouring the user's encoding, else its .cpg, else a sniffed one."""
    sidecars = shapefile_sidecars(shp)
    notes: list[str] = []
    if encoding is not None:
        codec = codec_name(encoding, source)
    elif sidecars[".cpg"] is not None:
        cpg = sidecars[".cpg"].read_text(encoding="ascii", errors="replace").strip()
        codec = codec_name(cpg, source) if cpg else "utf-8"
    else:
        dbf = sidecars[".dbf"]
        if dbf is None:  # pick_shapefile has already refused a .shp without its .dbf
            raise file_error(source, "Shapefile 缺少 .dbf 属性文件")
        codec = sniff_dbf_encoding(dbf)
        notes.append(f"Shapefile 没有 .cpg 编码文件，按 {codec.upper()} 读取属性")
    if sidecars[".prj"] is None:
        notes.append("Shapefile 没有 .prj 坐标系文件，按 EPSG:4326 经纬度读取")
    try:
        table = _read_ogr(shp, source, layer=None, encoding=codec)
    except UnicodeDecodeError as exc:
        raise file_error(
            source,
            f"属性无法按 {codec.upper()} 解码（字节偏移 {exc.start}），请用 encoding 参数指定编码",
        ) from exc
    table.notes[:0] = notes
    return table


def _read_geojson(file: Path, encoding: str | None) -> RawTable:
    """Read GeoJSON; non-UTF-8 text (GBK) is decoded by us and handed to GDAL as UTF-8."""
    if encoding is None and is_utf8_file(file):
        source: Path | bytes = file
        codec = "utf-8"
    else:
        text, codec = decode_text(file.read_bytes(), file, encoding)
        source = text.encode("utf-8")
    try:
        table = _read_ogr(source, file, layer=None, encoding=None)
    except InputFileError:
        _raise_json_syntax(file, source)
        raise
    if codec != "utf-8":
        table.notes.insert(0, f"GeoJSON 不是 UTF-8 编码，已按 {codec.upper()} 读取")
    _top_level_ids(table, source)
    return table


def _top_level_ids(table: RawTable, source: Path | bytes) -> None:
    """Give features whose id is only the top-level GeoJSON ``id`` an ``id`` column.

    GDAL turns an integer top-level id into the feature's FID, not a field, so files
    keyed that way lost their codes. Read only when no column is called id.
    """
    if any(str(c).strip().lower() == "id" for c in table.columns):
        return
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return
    features = parsed.get("features") if isinstance(parsed, dict) else None
    if parsed.get("type") == "Feature" if isinstance(parsed, dict) else False:
        features = [parsed]
    if not isinstance(features, list) or len(features) != len(table.attributes):
        return
    ids = [f.get("id") if isinstance(f, dict) else None for f in features]
    if all(i is None for i in ids):
        return
    table.attributes.insert(0, "id", pd.Series(
        [None if i is None else str(i) for i in ids], index=table.attributes.index, dtype=object))
    table.columns = [str(c) for c in table.attributes.columns]
    table.notes.append("要素编号取自 GeoJSON 要素的顶层 id")


def _raise_json_syntax(file: Path, source: Path | bytes) -> None:
    """Raise an error naming the line and column when the text is not valid JSON."""
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise file_error(
            file, f"JSON 语法错误（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）"
        ) from exc


def _read_ogr(
    source: Path | bytes,
    display: Path,
    *,
    layer: str | None,
    encoding: str | None,
    columns: tuple[list[str], list[str]] | None = None,
) -> RawTable:
    """Read one layer through pyogrio (GDAL) into a RawTable.

    ``columns``: (every column of the layer, the ones to read); None reads them all.
    """
    target = str(source) if isinstance(source, Path) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta, _fids, wkb, field_data = pyogrio.raw.read(
                target,
                layer=layer,
                encoding=encoding,
                force_2d=True,
                columns=None if columns is None else columns[1],
            )
    except UnicodeDecodeError:
        raise
    except Exception as exc:  # pyogrio/GDAL errors of several types
        raise file_error(display, f"无法读取文件（{exc}）") from exc
    n = len(field_data[0]) if field_data else (0 if wkb is None else len(wkb))
    index = pd.RangeIndex(1, n + 1)
    # Text stays object dtype as GDAL gave it (None for null): pandas' own string dtype
    # would cost a pass per column here and conversions back in every parser. The
    # arrays are pyogrio's fresh ones: no copy needed.
    attributes = pd.DataFrame(
        {
            str(name): pd.Series(
                values, index=index, dtype=object if values.dtype == object else None, copy=False
            )
            for name, values in zip(meta["fields"], field_data, strict=True)
        },
        index=index,
    )
    problems: list[FeatureProblem] = []
    if wkb is None:
        geometry = np.full(n, None, dtype=object)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            geometry = shapely.from_wkb(wkb, on_invalid="ignore")
        broken = np.flatnonzero(pd.notna(wkb) & pd.isna(geometry))
        problems.extend(
            FeatureProblem(int(i) + 1, None, "geometry", "几何数据损坏，无法解析") for i in broken
        )
    crs = None
    if meta.get("crs"):
        try:
            crs = CRS.from_user_input(meta["crs"])
        except CRSError:
            problems.append(
                FeatureProblem(None, None, "crs", f"无法识别文件声明的坐标系“{meta['crs']}”")
            )
    every = [] if columns is None else columns[0]
    return RawTable(attributes, np.asarray(geometry, dtype=object), crs, problems, columns=every)


def _find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """Return the first column whose lower-cased name is one of ``names``."""
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def _read_csv(file: Path, encoding: str | None) -> RawTable:
    """Read a CSV with a WKT geometry column (UTF-8, BOM or GBK)."""
    data = file.read_bytes()
    text, codec = decode_text(data, file, encoding)
    # UTF-8 goes to pandas' parser as the bytes it is: given text, pandas encodes it back
    # to UTF-8 chunk by chunk before parsing (a second of a city-size file).
    source = io.BytesIO(data) if codec == "utf-8" and encoding is None else io.StringIO(text)
    del text
    try:
        frame = pd.read_csv(
            source, dtype=str, keep_default_na=False, na_filter=False, sep=",",
            encoding="utf-8-sig" if isinstance(source, io.BytesIO) else None,
        )
    except pd.errors.EmptyDataError as exc:
        raise file_error(file, "CSV 文件为空，没有表头") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        detail = (
            f"第 {match.group(2)} 行有 {match.group(3)} 个字段，表头只有 {match.group(1)} 个"
            if match
            else str(exc)
        )
        raise file_error(file, f"CSV 格式错误：{detail}（含逗号的值请加引号）") from exc
    notes = [] if codec == "utf-8" else [f"CSV 不是 UTF-8 编码，已按 {codec.upper()} 读取"]
    return table_from_frame(frame, notes)


def table_from_frame(frame: pd.DataFrame, notes: list[str]) -> RawTable:
    """Return the RawTable of a text table (CSV, a worksheet) whose geometry is a WKT column."""
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    # Our CSV files quote formula-like text (``'=x``, see campaign.export): read it back as written.
    frame = frame.apply(unquote_spreadsheet_text)
    columns = list(frame.columns)
    wkt_col = _find_column(columns, WKT_COLUMNS)
    if wkt_col is None:
        lon, lat = _find_column(columns, LON_COLUMNS), _find_column(columns, LAT_COLUMNS)
        table = RawTable(frame, np.full(len(frame), None, dtype=object), None, notes=notes)
        table.point_columns = (lon, lat) if lon and lat else None
        table.has_geometry = False
        return table
    wkt = _stripped_wkt(frame.pop(wkt_col))
    given = (wkt != "").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts = wkt.to_numpy(dtype=object).copy()
        texts[~given] = None
        geometry = shapely.from_wkt(texts, on_invalid="ignore")
        has_z = shapely.has_z(geometry)
        if has_z.any():  # force_2d copies every geometry: only those with Z need it
            geometry[has_z] = shapely.force_2d(geometry[has_z])
    problems = [
        FeatureProblem(int(i) + 1, None, wkt_col, f"WKT 无法解析：“{_clip(wkt.iloc[i])}”")
        for i in np.flatnonzero(given & pd.isna(geometry))
    ]
    return RawTable(frame, np.asarray(geometry, dtype=object), None, problems, notes)


def _stripped_wkt(column: pd.Series) -> pd.Series:
    """Return the WKT texts stripped and without an EWKT ``SRID=n;`` prefix (object dtype).

    pandas' ``.str`` methods call Python once per cell; ``str.strip`` mapped over the list
    and one search of the joined texts do the usual column (no prefix) in C.
    """
    cells = column.tolist()
    if not set(map(type, cells)) <= {str}:
        return column.str.strip().str.replace(_EWKT_SRID, "", regex=True)
    stripped = list(map(str.strip, cells))
    if _EWKT_LINE.search("\n".join(stripped)):
        stripped = [_EWKT_SRID.sub("", text) for text in stripped]
    return pd.Series(stripped, index=column.index, dtype=object)


def _clip(text: str, limit: int = 60) -> str:
    """Return text cut to ``limit`` characters for messages."""
    return text if len(text) <= limit else text[:limit] + "…"
