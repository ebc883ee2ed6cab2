"""Excel workbooks (.xlsx, .xls): a WKT column, or corner-point tables from surveyors.

A corner-point table has one row per vertex: the feature's code, the point number and
two coordinates. Rows of one code, ordered by point number, make one site (a closed
ring) or one pipeline (a line). Chinese survey tables follow the surveying convention
X = northing, Y = easting; the order is told from the values (a northing in China is
1.9-6 million metres, an easting below 1 million or carries its zone number) and said
in a note. Columns named 东坐标/北坐标 (E/N) or 经度/纬度 are taken as named.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

import shapely

from layers.io.errors import FeatureProblem, InputFileError, file_error
from layers.io.normalize import alias_table, column_key
from spatial_rules.gauss_kruger import is_easting, is_northing

MAX_ROWS = 1_000_000
_POINT_KEYS = ("点号", "点名", "序号", "拐点号", "界址点号", "point", "point_no", "pt", "no")
_CODE_KEYS = ("id", "编号", "code", "项目编号", "管道编号", "登记编号", "地块编号")
# (first axis, second axis, what they are): first = x/easting/lon unless survey order.
_PAIRS = (
    (("东坐标", "e", "east", "easting", "y坐标(东)"), ("北坐标", "n", "north", "northing"), "en"),
    (("经度", "lon", "lng", "longitude"), ("纬度", "lat", "latitude"), "lonlat"),
    (("x", "x坐标"), ("y", "y坐标"), "xy"),
)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and not value.time():
        return value.date().isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _rows_xlsx(file: Path, sheet: str | None) -> tuple[list[list], str]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise file_error(file, f"无法打开 Excel 工作簿（{exc}）") from exc
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise file_error(file, f"没有工作表“{sheet}”（现有：{'、'.join(names)}）")
        ws = book[sheet or names[0]]
        rows = []
        for row in ws.iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS:
                raise file_error(file, f"工作表超过 {MAX_ROWS:,} 行")
        return rows, ws.title
    finally:
        book.close()


def _rows_xls(file: Path, sheet: str | None) -> tuple[list[list], str]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(file), on_demand=True)
    except Exception as exc:  # xlrd raises several types for a damaged file
        raise file_error(file, f"无法打开 Excel 97-2003 工作簿（{exc}）") from exc
    names = book.sheet_names()
    if sheet is not None and sheet not in names:
        raise file_error(file, f"没有工作表“{sheet}”（现有：{'、'.join(names)}）")
    ws = book.sheet_by_name(sheet or names[0])
    rows = []
    for r in range(ws.nrows):
        values = []
        for c in range(ws.ncols):
            cell = ws.cell(r, c)
            if cell.ctype == xlrd.XL_CELL_DATE:
                values.append(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
            else:
                values.append(cell.value)
        rows.append(values)
    return rows, ws.name


def read_workbook(file: Path, fmt: str, kind: str, *, sheet: str | None = None):
    """Return the RawTable of the first (or named) worksheet."""
    from layers.io.raw import WKT_COLUMNS, table_from_frame

    rows, title = (_rows_xlsx if fmt == "xlsx" else _rows_xls)(file, sheet)
    # The row numbers Excel shows (1-based, blank rows counted), to name a bad cell's row.
    numbered = [(k + 1, r) for k, r in enumerate(rows) if any(_cell(v) for v in r)]
    if not numbered:
        raise file_error(file, f"工作表“{title}”为空")
    header = [_cell(v) or f"列{k + 1}" for k, v in enumerate(numbered[0][1])]
    body = [[_cell(v) for v in r] + [""] * (len(header) - len(r)) for _, r in numbered[1:]]
    frame = pd.DataFrame([r[: len(header)] for r in body], columns=header, dtype=object)
    keys = {column_key(c): c for c in header}
    if any(k in keys for k in WKT_COLUMNS):
        return table_from_frame(frame, [f"读取工作表“{title}”"])
    return _corner_points(frame, keys, file, kind, title, [n for n, _ in numbered[1:]])


def _find(keys: dict[str, str], names) -> str | None:
    return next((keys[n] for n in names if n in keys), None)


def _corner_points(frame: pd.DataFrame, keys: dict[str, str], file: Path, kind: str, title: str,
                   sheet_rows: list[int]):
    """A corner-point table as one feature per code; ``sheet_rows``: each data row's row in the sheet."""
    from layers.io.raw import RawTable

    table = alias_table(kind)
    code = _find(keys, _CODE_KEYS) or next((c for k, c in keys.items() if table.get(k) == "@id"), None)
    point = _find(keys, _POINT_KEYS)
    pair = next(((a, b, what) for first, second, what in _PAIRS
                 if (a := _find(keys, first)) and (b := _find(keys, second))), None)
    if code is None or point is None or pair is None:
        missing = [n for n, c in (("编号", code), ("点号", point), ("X/Y 坐标", pair)) if c is None]
        raise file_error(file, (
            f"工作表“{title}”既没有 WKT 列，也不是拐点坐标表（缺少列：{'、'.join(missing)}）；"
            "拐点坐标表需要 编号、点号、X、Y 四列（或 东坐标/北坐标、经度/纬度）"))
    first, second, what = pair
    xs = pd.to_numeric(frame[first].str.replace(",", ""), errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(frame[second].str.replace(",", ""), errors="coerce").to_numpy(dtype=float)
    # One row is one vertex, not one feature: the problem names the sheet's row and point.
    problems = [FeatureProblem(None, frame[code].iloc[i] or None, col,
                               f"工作表“{title}”第 {sheet_rows[i]} 行（点号 {frame[point].iloc[i] or '空'}）"
                               f"坐标不是数值：“{frame[col].iloc[i][:30]}”")
                for col, numbers in ((first, xs), (second, ys))
                for i in np.flatnonzero(~np.isfinite(numbers))]
    if problems:
        raise InputFileError(file, problems)
    shape = "线" if kind == "pipelines" else "面"
    notes = [f"读取工作表“{title}”的拐点坐标（每个编号按点号连成{shape}）"]
    east, north = xs, ys
    if what == "xy" and all(is_northing(v) for v in xs) and all(is_easting(v) for v in ys):
        east, north = ys, xs
        notes.append(f"按测量坐标习惯读取：{first} 为北坐标、{second} 为东坐标")
    others = [c for c in frame.columns if c not in (code, point, first, second)]
    rows: list[dict[str, str | None]] = []
    geoms: list[shapely.Geometry | None] = []
    for feature_code, group in frame.groupby(code, sort=False):
        order = pd.to_numeric(group[point], errors="coerce")
        numbered = order.notna().all()
        position = np.argsort(order.to_numpy(), kind="stable") if numbered else np.arange(len(group))
        index = group.index.to_numpy()[position]
        coords = np.column_stack([east[index], north[index]])
        row = len(rows) + 1
        geometry: shapely.Geometry | None
        if kind == "pipelines":
            geometry = shapely.LineString(coords) if len(coords) >= 2 else None
        else:
            if len(coords) >= 2 and (coords[0] == coords[-1]).all():
                coords = coords[:-1]
            geometry = shapely.Polygon(coords) if len(coords) >= 3 else None
        if geometry is None:
            problems.append(FeatureProblem(row, str(feature_code), "geometry",
                                           f"只有 {len(coords)} 个拐点，连不成{shape}"))
        values: dict[str, str | None] = {"id": str(feature_code)}
        for column in others:
            given = next((v for v in group[column] if v != ""), None)
            values[column] = given
        rows.append(values)
        geoms.append(geometry)
    if problems:
        raise InputFileError(file, problems)
    attributes = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1), dtype=object)
    geometry_array = np.empty(len(geoms), dtype=object)
    geometry_array[:] = geoms
    crs = None
    if what == "lonlat":
        from pyproj import CRS

        crs = CRS.from_epsg(4326)
    return RawTable(attributes, geometry_array, crs, [], notes)
