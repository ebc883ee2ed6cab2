"""The monthly report survives hostile and very long text (issue #12, items 4 and 5).

Names such as ``<img src=x>`` or ``<para>`` used to be read by reportlab as markup, and a
1,500-character name overflowed the page, so ``GET /api/reports/{month}`` answered 500.
Names and codes that look like formulas must not reach the CSV and XLSX tables live.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import text

from campaign.export import FORMULA_STARTS
from layers.db import session_factory
from layers.importer import load_townships
from layers.sample.townships import township_polygons
from maps.report.pdf import CUT_MARK, markup, plain
from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

LONG_NAME = "超长项目名称" * 250  # 1,500 characters
HOSTILE = [  # (registration code, project name), stored as they would be by an old import
    ('=HYPERLINK("http://evil.example","点我")', "<img src=x onerror=alert(1)>"),
    ("@SUM(1+1)", "<para>未闭合的段落"),
    ("+CMD-1", LONG_NAME),
    ("-2+3", "$\\frac{x}{$ & </para> <b>粗体"),
    ("TAB-1", "\t=1+1"),
]
TOWNSHIP = "<b>$\\frac{镇}$</b>"


def _numeric(value: str) -> bool:
    return re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value) is not None


@pytest.fixture()
def hostile_report(api, login, stored_network, db_engine):
    """Five projects in HP-T1's ranges with hostile codes and names; returns the report zip."""
    headers = login("gas_office")
    for i in range(len(HOSTILE)):
        reply = api.post("/api/projects", json=site_feature(f"H-{i}", 121.385 + i * 0.005, 31.6299),
                         headers=headers)
        assert reply.status_code == 201, reply.text
    with session_factory(db_engine).begin() as session:
        load_townships(session, township_polygons(), source="sample")
        session.execute(text("UPDATE township SET name = :bad WHERE name = '城桥镇'"), {"bad": TOWNSHIP})
        for i, (code, name) in enumerate(HOSTILE):
            session.execute(text(
                "UPDATE construction_project SET registration_code = :code, name = :name, "
                "township = :tw WHERE registration_code = :old"),
                {"code": code, "name": name, "tw": TOWNSHIP, "old": f"H-{i}"})
    month = today_in_shanghai().strftime("%Y-%m")
    reply = api.get(f"/api/reports/{month}", headers=headers)
    assert reply.status_code == 200, reply.text
    whole = api.get(f"/api/reports/{month}", params={"township": TOWNSHIP}, headers=headers)
    assert whole.status_code == 200, whole.text
    return zipfile.ZipFile(io.BytesIO(reply.content)), zipfile.ZipFile(io.BytesIO(whole.content))


def test_pdf_shows_hostile_names_as_text_and_cuts_long_ones(hostile_report):
    for archive in hostile_report:
        pdf = "".join("".join(p.extract_text().split())
                      for p in PdfReader(io.BytesIO(archive.read("report.pdf"))).pages)
        for name in ("<imgsrc=xonerror=alert(1)>", "<para>未闭合的段落", "</para><b>粗体"):
            assert name in pdf, name
        assert "超长项目名称" * 20 in pdf and CUT_MARK in pdf
        assert LONG_NAME not in pdf  # cut in the PDF only; the tables keep it whole


def test_html_escapes_hostile_names_and_keeps_long_ones_whole(hostile_report):
    for archive in hostile_report:
        page = archive.read("report.html").decode("utf-8")
        assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
        assert "&lt;para&gt;未闭合的段落" in page and "<para>" not in page
        assert LONG_NAME in page and "overflow-wrap:anywhere" in page


def test_csv_and_xlsx_tables_hold_no_live_formula(hostile_report):
    archive = hostile_report[0]
    csv_names = [n for n in archive.namelist() if n.endswith(".csv")]
    assert "conflict_list.csv" in csv_names
    texts: list[str] = []
    for name in csv_names:
        with io.TextIOWrapper(archive.open(name), encoding="utf-8-sig", newline="") as handle:
            texts += [cell for row in csv.reader(handle) for cell in row]
    book = load_workbook(io.BytesIO(archive.read("report.xlsx")))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    texts += [cell.value for cell in cells if isinstance(cell.value, str)]
    assert [t for t in texts if t.startswith(FORMULA_STARTS) and not _numeric(t)] == []
    for code, _name in HOSTILE:
        if code.startswith(FORMULA_STARTS) and not _numeric(code):
            assert "'" + code in texts, code
    assert LONG_NAME in texts and "'\t=1+1" in texts


def test_pdf_text_helpers():
    assert markup("<para>&") == "&lt;para&gt;&amp;"
    assert plain("a\x00b\x07c") == "a b c"
    cut = plain("长" * 500, 200)
    assert len(cut) == 200 and cut.endswith(CUT_MARK)
    assert plain("短名称", 200) == "短名称"
