"""Inspections, hazards (闭环整改) and evidence files through the API, on the real database."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import openpyxl
import pytest
from sqlalchemy import text

from tests.factories import site_feature

pytestmark = pytest.mark.postgis

ORG = "甲建设公司"


def tiny_png() -> bytes:
    """A real 1x1 red PNG, built from its chunks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _project(api, headers, code: str, lat: float = 31.66, **props) -> int:
    props = {"start_date": "2026-03-01", "organisation": ORG, **props}
    r = api.post("/api/projects", json=site_feature(code, 121.40, lat, **props), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _inspection(**overrides) -> dict:
    body = {
        "kind": "spot",
        "round_or_stage": 1,
        "inspected_on": "2026-06-15",
        "organisation": "区安质监站",
        "findings": "基坑支护基本到位",
        "hazards": [
            {"description": "临边防护缺失", "major": False, "deadline": "2026-06-30"},
            {"description": "燃气管道上方堆土", "major": True, "deadline": "2026-06-20"},
        ],
    }
    return {**body, **overrides}


def test_inspector_records_an_inspection_with_hazards_and_lists_it(api, login, db_engine):
    office, inspector = login("gas_office"), login("inspector")
    project_id = _project(api, office, "CM-INS-1")
    r = api.post(f"/api/projects/{project_id}/inspections", json=_inspection(), headers=inspector)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["kind"] == "spot" and created["round_or_stage"] == 1
    assert created["project_code"] == "CM-INS-1" and created["inspected_on"] == "2026-06-15"
    assert [h["rectification_state"] for h in created["hazards"]] == ["open", "open"]
    assert [h["major"] for h in created["hazards"]] == [False, True]
    api.post(f"/api/projects/{project_id}/inspections",
             json=_inspection(kind="self", inspected_on="2026-05-20", hazards=[]), headers=office)

    listed = api.get(f"/api/projects/{project_id}/inspections", headers=inspector).json()
    assert [i["inspected_on"] for i in listed["inspections"]] == ["2026-06-15", "2026-05-20"]
    assert listed["inspections"][0]["hazards"][1]["description"] == "燃气管道上方堆土"
    with db_engine.connect() as conn:
        actions = conn.execute(
            text("SELECT action FROM audit_log WHERE entity = 'inspection' ORDER BY id")
        ).scalars().all()
    assert actions == ["inspection.create", "inspection.create"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"inspected_on": "2026-13-01"}, "inspected_on"),
        ({"inspected_on": "15/06/2026"}, "inspected_on"),
        ({"inspected_on": "2099-01-01"}, "inspected_on"),
        ({"kind": "self", "round_or_stage": 3}, "round_or_stage"),
        ({"kind": "spot", "round_or_stage": 4}, "round_or_stage"),
        ({"kind": "spot", "round_or_stage": None}, "round_or_stage"),
        ({"kind": "third_party", "round_or_stage": 1}, "round_or_stage"),
        ({"kind": "weekly"}, "kind"),
        ({"hazards": [{"description": "x", "deadline": "2026-06-01"}]}, "hazards.0.deadline"),
        ({"hazards": [{"description": "x", "deadline": "明天"}]}, "hazards.0.deadline"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    api, login, db_engine, overrides, field
):
    inspector = login("inspector")
    project_id = _project(api, login("gas_office"), "CM-INS-2")
    r = api.post(f"/api/projects/{project_id}/inspections", json=_inspection(**overrides),
                 headers=inspector)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inspection")).scalar() == 0


def test_a_hazard_is_named_the_same_way_by_the_service_and_by_validation(api, login, db_engine):
    """Both refusals of a hazard's field: "第 N 条隐患" (from 1) for the reader, and the
    request's path hazards.N-1.field (from 0) as problems[].field, the validation's way."""
    inspector = login("inspector")
    project_id = _project(api, login("gas_office"), "CM-INS-9")
    fine = {"description": "临边防护缺失", "major": False, "deadline": "2026-06-30"}

    def refused(hazards) -> dict:
        r = api.post(f"/api/projects/{project_id}/inspections", json=_inspection(hazards=hazards),
                     headers=inspector)
        assert r.status_code == 422, r.text
        return r.json()

    # The service: a deadline before the inspection, an unreadable one, a blank description.
    for hazard, field, words in (
            ({"description": "堆土", "deadline": "2026-06-01"}, "hazards.1.deadline",
             "第 2 条隐患的整改期限 2026-06-01 早于检查日期 2026-06-15"),
            ({"description": "堆土", "deadline": "下周"}, "hazards.1.deadline",
             "第 2 条隐患的整改期限“下周”无法识别"),
            ({"description": "   "}, "hazards.1.description", "第 2 条隐患的描述不能为空")):
        body = refused([fine, hazard])
        assert body["detail"].startswith(f"字段 {field}：{words}"), body
        message = body["detail"].removeprefix(f"字段 {field}：")
        assert [(p["field"], p["message"]) for p in body["problems"]] == [(field, message)]
        assert "hazards[" not in body["detail"]
    # Validation: a description past its 2000 characters, a deadline that is no text.
    body = refused([fine, {"description": "隐" * 2001}])
    assert [p["field"] for p in body["problems"]] == ["hazards.1.description"]
    assert body["problems"][0]["message"].startswith("第 2 条隐患：")
    assert body["detail"] == "请求格式有误（字段 hazards.1.description（第 2 条隐患））"
    body = refused([{"description": "x", "deadline": 20260630}, fine])
    assert [p["field"] for p in body["problems"]] == ["hazards.0.deadline"]
    assert body["problems"][0]["message"].startswith("第 1 条隐患：")
    # A character no column can hold: the same path.
    r = api.post(f"/api/projects/{project_id}/inspections",
                 json=_inspection(hazards=[fine, {"description": "a\x00b"}]), headers=inspector)
    assert r.status_code == 422 and "字段 hazards.1.description" in r.json()["detail"], r.text
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inspection")).scalar() == 0


def test_unknown_project_is_404(api, login):
    r = api.post("/api/projects/987654/inspections", json=_inspection(), headers=login("inspector"))
    assert r.status_code == 404 and "987654" in r.json()["detail"]
    assert api.get("/api/projects/987654/inspections", headers=login("inspector")).status_code == 404


def test_roles_builders_record_only_own_self_inspections(api, login):
    office = login("gas_office")
    own = _project(api, office, "CM-INS-3")
    other = _project(api, office, "CM-INS-4", lat=31.67, organisation="乙建设公司")
    builder = login("builder", ORG)
    self_check = _inspection(kind="self", round_or_stage=1, inspected_on="2026-05-20")

    assert api.post(f"/api/projects/{own}/inspections", json=self_check,
                    headers=login("admin")).status_code == 403
    denied = api.post(f"/api/projects/{own}/inspections", json=_inspection(), headers=builder)
    assert denied.status_code == 403 and "自查" in denied.json()["detail"]
    assert api.post(f"/api/projects/{other}/inspections", json=self_check,
                    headers=builder).status_code == 404
    mine = api.post(f"/api/projects/{own}/inspections", json=self_check, headers=builder)
    assert mine.status_code == 201, mine.text
    assert mine.json()["organisation"] == "区安质监站"
    assert api.get(f"/api/projects/{other}/inspections", headers=builder).status_code == 404
    assert len(api.get(f"/api/projects/{own}/inspections", headers=builder).json()["inspections"]) == 1
    assert api.get("/api/campaign/status?date=2026-06-01", headers=builder).status_code == 403


def test_rectification_is_a_closed_loop_with_evidence(api, login, db_engine):
    office, inspector, builder = login("gas_office"), login("inspector"), login("builder", ORG)
    project_id = _project(api, office, "CM-INS-5")
    created = api.post(f"/api/projects/{project_id}/inspections", json=_inspection(),
                       headers=inspector).json()
    hazard = created["hazards"][1]["id"]

    skip = api.post(f"/api/hazards/{hazard}/rectification", json={"state": "verified"},
                    headers=inspector)
    assert skip.status_code == 409
    assert "open" in skip.json()["detail"] and "verified" in skip.json()["detail"]
    no_evidence = api.post(f"/api/hazards/{hazard}/rectification", json={"state": "rectified"},
                           headers=builder)
    assert no_evidence.status_code == 409 and "证据" in no_evidence.json()["detail"]

    upload = api.post(f"/api/inspections/{created['id']}/evidence", headers=builder,
                      files={"file": ("整改后.png", tiny_png(), "image/png")},
                      data={"hazard_id": str(hazard)})
    assert upload.status_code == 201, upload.text
    done = api.post(f"/api/hazards/{hazard}/rectification",
                    json={"state": "rectified", "note": "已清运堆土"}, headers=builder)
    assert done.status_code == 200, done.text
    assert done.json()["rectification_state"] == "rectified" and done.json()["rectified_at"]
    by_builder = api.post(f"/api/hazards/{hazard}/rectification", json={"state": "verified"},
                          headers=builder)
    assert by_builder.status_code == 403
    verified = api.post(f"/api/hazards/{hazard}/rectification", json={"state": "verified"},
                        headers=inspector)
    assert verified.status_code == 200 and verified.json()["rectification_state"] == "verified"
    back = api.post(f"/api/hazards/{hazard}/rectification", json={"state": "rectified"},
                    headers=office)
    assert back.status_code == 409
    assert "verified" in back.json()["detail"] and "rectified" in back.json()["detail"]
    assert api.post("/api/hazards/424242/rectification", json={"state": "rectified"},
                    headers=office).status_code == 404
    with db_engine.connect() as conn:
        trail = conn.execute(
            text("SELECT action, detail->>'note' FROM audit_log WHERE entity = 'hazard' ORDER BY id")
        ).all()
    assert [tuple(t) for t in trail] == [("hazard.rectified", "已清运堆土"), ("hazard.verified", None)]


def test_evidence_upload_checks_magic_bytes_size_and_serves_with_etag(api, login, db_engine):
    office, inspector = login("gas_office"), login("inspector")
    project_id = _project(api, office, "CM-INS-6")
    inspection = api.post(f"/api/projects/{project_id}/inspections", json=_inspection(),
                          headers=inspector).json()["id"]
    url = f"/api/inspections/{inspection}/evidence"
    png = tiny_png()

    r = api.post(url, headers=inspector, files={"file": ("../../etc/现场<1>.png", png, "image/png")})
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["sha256"] == hashlib.sha256(png).hexdigest()
    assert stored["size_bytes"] == len(png) and stored["content_type"] == "image/png"
    assert stored["filename"] == "现场_1_.png"

    got = api.get(f"/api/evidence/{stored['id']}", headers=office)
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{stored["sha256"]}"'
    again = api.get(f"/api/evidence/{stored['id']}",
                    headers={**office, "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304

    fake = api.post(url, headers=inspector,
                    files={"file": ("photo.png", b"GIF89a" + b"\x00" * 64, "image/png")})
    assert fake.status_code == 422 and "file" in fake.json()["detail"]
    liar = api.post(url, headers=inspector, files={"file": ("plan.pdf", png, "application/pdf")})
    assert liar.status_code == 422 and "image/png" in liar.json()["detail"]
    exe = api.post(url, headers=inspector,
                   files={"file": ("x.exe", b"MZ" + b"\x00" * 64, "application/x-msdownload")})
    assert exe.status_code == 422
    big = api.post(url, headers=inspector,
                   files={"file": ("big.png", png + b"\x00" * (20_000_001 - len(png)), "image/png")})
    assert big.status_code == 413 and "20 MB" in big.json()["detail"]
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM evidence_file")).scalar() == 1
        assert conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'evidence.upload'")
        ).scalar() == 1
    other = login("builder", "乙建设公司")
    assert api.get(f"/api/evidence/{stored['id']}", headers=other).status_code == 404


def test_campaign_status_json_and_xlsx(api, login):
    office, inspector = login("gas_office"), login("inspector")
    late = _project(api, office, "CM-INS-7", township="城桥镇")
    done = _project(api, office, "CM-INS-8", lat=31.67, township="陈家镇")
    api.post(f"/api/projects/{done}/inspections", headers=inspector,
             json=_inspection(kind="self", round_or_stage=1, inspected_on="2026-05-20", hazards=[]))
    assert late

    r = api.get("/api/campaign/status?date=2026-06-01", headers=inspector)
    assert r.status_code == 200, r.text
    summary = r.json()
    towns = {t["township"]: t for t in summary["townships"]}
    assert towns["城桥镇"]["duties"]["self_inspection_round_1"]["overdue"] == 1
    assert towns["陈家镇"]["duties"]["self_inspection_round_1"]["done"] == 1
    assert summary["total"]["duties"]["self_inspection_round_1"] == {
        "name_zh": "第1轮自查", "due": "2026-05-31", "required": 2, "done": 1, "done_late": 0,
        "overdue": 1,
    }
    bad = api.get("/api/campaign/status?date=2026-02-30", headers=inspector)
    assert bad.status_code == 422 and "date" in bad.json()["detail"]

    xlsx = api.get("/api/campaign/status.xlsx?date=2026-06-01", headers=office)
    assert xlsx.status_code == 200
    assert "2026-06-01" in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["月度进展", "乡镇汇总", "抽查阶段", "项目明细"]
    rows = list(book["项目明细"].iter_rows(values_only=True))
    column = rows[0].index("第1轮自查")
    by_code = {row[0]: row[column] for row in rows[1:]}
    assert by_code == {"CM-INS-7": "逾期未完成", "CM-INS-8": "已完成"}
