"""One word per concept: the map page, the pop-up, the PDF, the XLSX and the API say the same.

A real conflict (a site in the protection range of HP-T1) with an approved permit is
rendered everywhere a user reads it; each output must show the vocabulary's label for the
permit state and the zone, and none of the words the outputs used to disagree on.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from html import escape

import pytest
from jinja2.utils import htmlsafe_json_dumps
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.factories import site_feature
from vocabulary import PermitState, Zone, today_in_shanghai

pytestmark = pytest.mark.postgis

# Words the report and the campaign tables used for permit states, and the map's short zones.
OLD_PERMIT_WORDS = ("办理中", "已办理", "被驳回")


def _page_text(html: str, label: str) -> bool:
    """Whether a legend label is on the page (HTML-escaped, then inside the page script)."""
    return str(htmlsafe_json_dumps(escape(label)))[1:-1] in html


def _xlsx_texts(data: bytes) -> set[str]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    return {str(cell) for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None}


@pytest.fixture()
def approved_conflict(api, login, stored_network):
    """An approved permit of a project inside HP-T1's protection range; returns (headers, permit)."""
    headers = login("gas_office")
    created = api.post("/api/projects", json=site_feature("WORDS-1", 121.40, 31.6299), headers=headers)
    assert created.status_code == 201, created.text
    permits = api.get("/api/permits", params={"project_id": created.json()["id"]}, headers=headers)
    permit = permits.json()["permits"][0]
    until = (today_in_shanghai() + dt.timedelta(days=200)).isoformat()
    for to_status, extra in (("applied", {}), ("approved", {"approved_until": until})):
        moved = api.post(f"/api/permits/{permit['id']}/transitions",
                         json={"to_status": to_status, **extra}, headers=headers)
        assert moved.status_code == 200, moved.text
    return headers, api.get(f"/api/permits/{permit['id']}", headers=headers).json()


def test_page_popup_pdf_xlsx_and_api_use_the_same_words(api, approved_conflict):
    headers, permit = approved_conflict
    state, zone = PermitState(permit["status"]), Zone(permit["zone"])
    assert (state, zone) == (PermitState.APPROVED, Zone.PROTECTION)

    # The API's labels.
    assert permit["status_zh"] == state.label == "已批准"
    assert permit["zone_zh"] == zone.label == "安全保护范围"

    # The map page's legend (permits view) and the project's pop-up.
    page = api.get("/maps/permits").text
    for label in (state.label, zone.label, Zone.CONTROL.label):
        assert _page_text(page, label), label
    for old in OLD_PERMIT_WORDS:
        assert not _page_text(page, old), old
    popup = api.get(f"/maps/data/projects/{permit['project_id']}/popup",
                    params={"view": "permits"}, headers=headers).json()["html"]
    assert state.label in popup and zone.label in popup

    # The monthly report of this month: PDF text and XLSX cells.
    month = today_in_shanghai().strftime("%Y-%m")
    reply = api.get(f"/api/reports/{month}", headers=headers)
    assert reply.status_code == 200, reply.text
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    pdf = "".join(
        "".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(archive.read("report.pdf"))).pages
    )
    cells = _xlsx_texts(archive.read("report.xlsx"))
    for label in (state.label, zone.label):
        assert label in pdf, label
        assert label in cells, label  # the conflict list's 保护手续 / 所在范围 cells
    for old in OLD_PERMIT_WORDS:
        assert old not in pdf and old not in cells, old

    # The same words in the report's conflict list as in the API, for this very conflict.
    book = load_workbook(io.BytesIO(archive.read("report.xlsx")), read_only=True)
    rows = list(book["冲突清单"].iter_rows(values_only=True))
    head, body = rows[0], rows[1:]
    mine = [dict(zip(head, r, strict=True)) for r in body if permit["project_code"] in r]
    assert [(r["保护手续"], r["所在范围"]) for r in mine] == [(permit["status_zh"], permit["zone_zh"])]
