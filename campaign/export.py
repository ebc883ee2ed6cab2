"""Writing tables for spreadsheets: CSV in UTF-8 with BOM (opens in Excel) and XLSX.

The one place where tables become spreadsheet files: every CSV and XLSX the product writes
(campaign plans and status, the monthly report's tables, ``gisapp export`` and
``gisapp screen`` CSV files) is written by ``to_spreadsheet_csv`` or ``write_tables_xlsx``,
which make every cell safe first (``spreadsheet_safe``).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from campaign.errors import CampaignError
from campaign.sampling import CampaignPlan

if TYPE_CHECKING:  # openpyxl is imported by the XLSX writer only: a CSV run skips its 50 ms
    from openpyxl.worksheet.worksheet import Worksheet

CSV_ENCODING = "utf-8-sig"  # the BOM makes Excel read UTF-8 instead of the local code page
PLAN_COLUMNS = ("project_id", "stage", "reason", "risk_score", "risk_factors", "forced", "seed")

# OWASP "CSV injection": a cell starting with one of these is read by spreadsheet programs as
# a formula (or, for tab and carriage return, can be shifted into one). Such text gets a
# leading single quote, which makes Excel, LibreOffice and openpyxl keep it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_FORMULA_AFTER_LF = re.compile(r"\n[=+\-@\t\r]")
_QUOTED_FORMULA = re.compile(r"^'(?=[=+\-@\t\r])")
# A genuine number written as text ("-12.5", "+3", "1e-3") is not a formula: kept as it is.
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def spreadsheet_cell(value: Any) -> Any:
    """Return ``value`` safe for a spreadsheet cell: formula-like text gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.match(value):
        return QUOTE + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every formula-like text cell quoted (numbers, dates, booleans kept).

    Only text columns are looked at, and only their cells starting with a formula character
    are rewritten: one pass over the first character of each text cell, so a 300,000-row
    export costs milliseconds per text column.
    """
    out = frame
    for column in frame.columns:
        values = frame[column]
        if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
            continue
        cells = values.to_numpy(dtype=object)
        if not _may_start_formula(cells.tolist()):
            continue
        risky = [i for i, v in enumerate(cells) if isinstance(v, str) and v[:1] in _FORMULA_FIRST]
        if not risky:
            continue
        if out is frame:
            out = frame.copy()
        cells = cells.copy()
        for i in risky:
            cells[i] = spreadsheet_cell(cells[i])
        out[column] = pd.Series(cells, index=values.index, dtype=object)
    return out


def _may_start_formula(cells: list[Any]) -> bool:
    """Return False when no cell is text starting with a formula character (decided in C).

    For a column of plain str only: every distinct cell is joined after a line feed and one
    regular expression looks for a line feed followed by a formula character. A line
    feed inside a cell can make a false alarm, never a miss; the caller then looks at
    each cell.
    """
    if set(map(type, cells)) - {str}:
        return True
    return _FORMULA_AFTER_LF.search("\n" + "\n".join(set(cells))) is not None


def to_spreadsheet_csv(frame: pd.DataFrame, target: str | Path, encoding: str = CSV_ENCODING) -> None:
    """Write ``frame`` as a CSV file for spreadsheets: cells made safe, no index.

    Lines end in CR LF (RFC 4180), so a carriage return or line feed inside a cell is
    always quoted: with bare LF line ends pandas leaves a lone CR unquoted, and a
    spreadsheet then starts a new row there, where ``=...`` would be a live formula.
    """
    columns = _fast_csv_columns(spreadsheet_safe(frame))
    if columns is None:
        spreadsheet_safe(frame).to_csv(target, index=False, encoding=encoding, lineterminator="\r\n")
        return
    header = [str(c) for c in frame.columns]
    if len(header) < 2:
        # csv writes a lone empty cell as "" (a blank line would be no row): its rules, then.
        with open(target, "w", encoding=encoding, newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(zip(*columns, strict=True))
        return
    _write_joined(target, encoding, quote_csv_cells(header),
                  [quote_csv_cells(cells) for cells in columns])


# Rows joined and encoded per block: one encoder call per block instead of a write per
# row through the text layer (half the time of ``csv.writer`` on a screen's 50 MB of
# mostly Chinese text), with memory bounded by the block.
_ROWS_PER_BLOCK = 16_384
_CSV_SPECIAL = (",", '"', "\r", "\n")


def quote_csv_cells(cells: list[str]) -> list[str]:
    """Return the cells as ``csv.writer`` (QUOTE_MINIMAL, CR LF) writes them in a row of several.

    Also what PostgreSQL's ``COPY ... (FORMAT csv)`` reads back (``layers.importer``).
    """
    distinct = set(cells)
    joined = "".join(distinct)
    if not any(ch in joined for ch in _CSV_SPECIAL):
        return cells
    quote = {
        text: '"' + text.replace('"', '""') + '"'
        for text in distinct
        if any(ch in text for ch in _CSV_SPECIAL)
    }
    return [quote.get(text, text) for text in cells]


def _write_joined(target: str | Path, encoding: str, header: list[str], columns: list[list[str]]) -> None:
    encoder = codecs.getincrementalencoder(encoding)()
    n = len(columns[0])
    with open(target, "wb") as fh:
        fh.write(encoder.encode(",".join(header) + "\r\n"))
        for start in range(0, n, _ROWS_PER_BLOCK):
            block = [cells[start : start + _ROWS_PER_BLOCK] for cells in columns]
            lines = "\r\n".join(map(",".join, zip(*block, strict=True)))
            fh.write(encoder.encode(lines + "\r\n"))
        fh.write(encoder.encode("", final=True))


# The conflicts of a city-size screen are ~100,000 rows of numbers: pandas formats every
# float through numpy (about a second). Printing a whole column with one ``repr`` of its
# list gives the same shortest round-trip text in C, and a column of a few distinct
# values (ranges, diameters) is printed once per value. A frame with anything else
# (missing values, dates, mixed objects) goes to pandas, so the text is always pandas'.
def _fast_csv_columns(frame: pd.DataFrame) -> list[list[str]] | None:
    """Return each column's cells as pandas would print them in a CSV, or None when not plain."""
    columns = []
    for column in frame.columns:
        values = frame[column].to_numpy()
        kind = values.dtype.kind
        if kind == "f":
            if np.isnan(values).any():
                return None
            columns.append(_number_texts(values))
        elif kind in "iu":
            columns.append(_number_texts(values))
        elif kind == "b":
            columns.append(["True" if v else "False" for v in values.tolist()])
        elif kind == "O":
            cells = values.tolist()
            if set(map(type, cells)) - {str}:
                return None
            columns.append(cells)
        else:
            return None
    return columns


def _number_texts(values: np.ndarray) -> list[str]:
    """Return ``repr`` of each number (what pandas prints), once per distinct value when few."""
    # np.unique holds -0.0 and 0.0 equal, which print differently: not for such columns.
    if len(values) > 64 and not (values.dtype.kind == "f" and np.signbit(values[values == 0]).any()):
        uniques, codes = np.unique(values, return_inverse=True)
        if len(uniques) * 8 < len(values):
            texts = np.array(_repr_all(uniques.tolist()), dtype=object)
            picked: list[str] = texts[codes.reshape(-1)].tolist()
            return picked
    return _repr_all(values.tolist())


def _repr_all(numbers: list[Any]) -> list[str]:
    if not numbers:
        return []
    return repr(numbers)[1:-1].split(", ")


def unquote_spreadsheet_text(values: pd.Series) -> pd.Series:
    """Undo ``spreadsheet_cell`` on text read back from a CSV we wrote: ``'=x`` becomes ``=x``."""
    cells = values.tolist()
    # Decided in C for a column of plain str (pandas' ``.str`` methods call Python once per
    # cell: seconds for a 300,000-row file): no cell starts with the quote when no line of
    # the joined text does. A cell holding a line feed can make a false alarm, never a miss.
    if set(map(type, cells)) <= {str} and "\n" + QUOTE not in "\n" + "\n".join(cells):
        return values
    if not values.str.startswith(QUOTE).any():
        return values
    return values.str.replace(_QUOTED_FORMULA, "", regex=True)


def plan_frame(plan: CampaignPlan) -> pd.DataFrame:
    """Return the plan as one row per pick, in stage order, with the seed on every row."""
    records = [
        {
            "project_id": pick.project_id,
            "stage": pick.stage,
            "reason": pick.reason,
            "risk_score": pick.risk_score,
            "risk_factors": "；".join(pick.risk_factors),
            "forced": pick.forced,
            "seed": plan.seed,
        }
        for stage in plan.stages
        for pick in stage.picks
    ]
    return pd.DataFrame.from_records(records, columns=list(PLAN_COLUMNS))


def write_plan_csv(plan: CampaignPlan, path: str | Path) -> Path:
    """Write the plan CSV (UTF-8 with BOM) and return its path."""
    return write_csv(plan_frame(plan), path)


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write one table as CSV in UTF-8 with BOM, creating the parent folder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_spreadsheet_csv(frame, path)
    except OSError as err:
        raise CampaignError(f"无法写入文件 {path}：{err.strerror}。") from err
    return path


def write_tables_csv(tables: Mapping[str, pd.DataFrame], directory: str | Path) -> list[Path]:
    """Write each table to ``directory/<name>.csv`` and return the paths."""
    directory = Path(directory)
    return [write_csv(frame, directory / f"{name}.csv") for name, frame in tables.items()]


def write_tables_xlsx(sheets: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Write the tables as sheets of one XLSX workbook with readable column widths."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for title, frame in sheets.items():
                spreadsheet_safe(frame).to_excel(writer, sheet_name=title[:31], index=False)
                _fit_columns(writer.sheets[title[:31]], frame)
    except OSError as err:
        raise CampaignError(f"无法写入文件 {path}：{err.strerror}。") from err
    return path


def _fit_columns(sheet: Worksheet, frame: pd.DataFrame) -> None:
    """Size columns to their longest text; CJK characters count double."""
    from openpyxl.utils import get_column_letter

    for index, column in enumerate(frame.columns, start=1):
        texts = [str(column), *(str(v) for v in frame[column].head(500))]
        width = max(sum(2 if ord(ch) > 0x2E7F else 1 for ch in text) for text in texts)
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 80)
