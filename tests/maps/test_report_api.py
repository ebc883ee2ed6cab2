"""GET /api/reports/{YYYY-MM}: the monthly map report as a zip, for the gas office only."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from layers.db import session_factory
from layers.importer import import_layer, load_townships
from layers.sample import generate_sample
from layers.services.actors import Actor
from layers.services.features import WriteContext, screen_and_alert
from spatial_rules.rulesets import load_rule_set

pytestmark = pytest.mark.postgis


@pytest.fixture()
def screened(db_engine, clean_db):
    """The seed-5 sample stored and screened now; returns this month as YYYY-MM (Beijing)."""
    dataset = generate_sample(seed=5)
    with session_factory(db_engine).begin() as session:
        load_townships(session, dataset.townships, source="sample")
        for kind, frame in (("pipelines", dataset.pipelines), ("projects", dataset.projects)):
            import_layer(session, kind, frame, source_name=f"{kind}.geojson",
                         source_sha256="0" * 64, source_crs="EPSG:4490")
        ids = session.execute(text("SELECT id FROM construction_project")).scalars().all()
        screen_and_alert(session, "projects", ids,
                         WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai")))
        return session.execute(text(
            "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
        )).scalar_one()


def test_gas_office_downloads_the_report_zip(api, login, screened, db_engine):
    month = screened
    reply = api.get(f"/api/reports/{month}", params={"format": "zip"}, headers=login("gas_office"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    assert "attachment" in reply.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    names = set(archive.namelist())
    assert {"report.html", "report.pdf", "report.xlsx", "summary.csv", "conflict_list.csv"} <= names
    book = load_workbook(io.BytesIO(archive.read("report.xlsx")), read_only=True)
    summary = {r[0]: r[1] for r in book["概况"].iter_rows(min_row=2, values_only=True)}
    with db_engine.connect() as conn:
        open_now = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NULL")).scalar_one()
    assert open_now > 0 and summary["月末未关闭冲突"] == str(open_now)


def test_township_filter_and_bad_input(api, login, screened):
    headers = login("gas_office")
    reply = api.get(f"/api/reports/{screened}", params={"township": "城桥镇"}, headers=headers)
    assert reply.status_code == 200
    book = load_workbook(io.BytesIO(
        zipfile.ZipFile(io.BytesIO(reply.content)).read("report.xlsx")), read_only=True)
    summary = {r[0]: r[1] for r in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["范围"] == "城桥镇"
    bad_month = api.get("/api/reports/2026-13", headers=headers)
    assert bad_month.status_code == 422 and "月份" in bad_month.json()["detail"]
    unknown = api.get(f"/api/reports/{screened}", params={"township": "火星镇"}, headers=headers)
    assert unknown.status_code == 422 and "已知乡镇" in unknown.json()["detail"]
    assert api.get(f"/api/reports/{screened}", params={"format": "pdf"},
                   headers=headers).status_code == 422


@pytest.mark.parametrize("role", ["builder", "inspector", "admin"])
def test_only_the_gas_office_may_download(api, login, role):
    headers = login(role, "某建设单位" if role == "builder" else None)
    assert api.get("/api/reports/2026-11", headers=headers).status_code == 403
