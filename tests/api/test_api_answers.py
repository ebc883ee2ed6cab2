"""Answer letters through the API on a real PostGIS: numbers, content, PDF, renewal, verification."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import text

from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

OWNER_HP = "上海天然气管网有限公司"


def _register(api, headers, code, lon=121.400, lat=31.6299, **props):
    r = api.post("/api/projects", json=site_feature(code, lon, lat, **props), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_registration_issues_a_numbered_answer_with_conflicts_owner_and_code(api, login, stored_network):
    with stored_network.begin() as conn:
        conn.execute(text("INSERT INTO organisation (name, kind, contact_person, phone, emergency_phone) "
                          "VALUES (:n, 'utility', '王工', '021-5960 0000', '962777')"), {"n": OWNER_HP})
    builder = login("builder", "甲建设集团")
    pid = _register(api, builder, "AN-1")
    r = api.get(f"/api/projects/{pid}/answer", headers=builder)
    assert r.status_code == 200, r.text
    answer = r.json()
    year = today_in_shanghai().year
    assert re.fullmatch(rf"CM-{year}-\d{{6}}", answer["number"])
    assert answer["reason"] == "registration" and answer["state"] == "current"
    assert answer["valid_for_work"] is True and answer["near_expiry"] is False
    assert answer["valid_until"] == (today_in_shanghai() + dt.timedelta(days=30)).isoformat()
    assert answer["rule_set"].startswith("shanghai@")
    assert re.fullmatch(r"[0-9A-F]{12}", answer["verification_code"])
    assert answer["no_pipeline_within_range"] is False
    (conflict,) = answer["conflicts"]
    assert conflict["pipeline_code"] == "HP-T1" and conflict["owner"] == OWNER_HP
    assert conflict["zone"] in ("protection", "control") and conflict["distance_m"] >= 0
    assert conflict["required_action"] and conflict["nearest_line"]["type"] == "LineString"
    codes = {p["code"]: p for p in answer["pipelines"]}
    assert codes["HP-T1"]["in_range"] is True and codes["HP-T1"]["pressure_class"] == "high_b"
    assert answer["owners"] == [{"name": OWNER_HP, "contact_person": "王工", "phone": "021-5960 0000",
                                 "emergency_phone": "962777", "email": None, "address": None}]
    # Numbers follow one another within the year.
    pid2 = _register(api, builder, "AN-2", lon=121.401)
    second = api.get(f"/api/projects/{pid2}/answer", headers=builder).json()
    assert int(second["number"][-6:]) == int(answer["number"][-6:]) + 1


def test_a_site_with_no_pipeline_gets_a_positive_answer(api, login, stored_network):
    builder = login("builder", "甲建设集团")
    pid = _register(api, builder, "AN-FAR", lat=31.70)
    answer = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert answer["no_pipeline_within_range"] is True and answer["conflicts"] == []
    html = api.get(f"/api/projects/{pid}/answer.html", headers=builder)
    assert html.status_code == 200 and "无管道在范围内" in html.text
    assert "<svg" in html.text and answer["number"] in html.text and "<script" not in html.text


def test_pdf_carries_number_chinese_text_and_a_map(api, login, stored_network):
    from pypdf import PdfReader

    builder = login("builder", "甲建设集团")
    pid = _register(api, builder, "AN-PDF")
    answer = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    r = api.get(f"/api/projects/{pid}/answer.pdf", headers=builder)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    page = reader.pages[0]
    body = "".join(p.extract_text() for p in reader.pages)
    assert answer["number"] in body and "燃气管道查询答复书" in body and "HP-T1" in body
    assert answer["verification_code"] in body
    assert len(page.images) >= 1  # the map extract
    fonts = {str(f["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    assert any("ReportCJK" in f or "WenQuanYi" in f for f in fonts), fonts


def test_renewal_supersedes_and_verification_leaks_nothing(api, login, stored_network):
    builder = login("builder", "甲建设集团")
    pid = _register(api, builder, "AN-REN")
    old = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    r = api.post(f"/api/projects/{pid}/answer/renew", headers=builder)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["number"] != old["number"] and new["reason"] == "renewal"
    history = api.get(f"/api/projects/{pid}/answers", headers=builder).json()["answers"]
    assert [a["number"] for a in history] == [new["number"], old["number"]]
    assert history[1]["state"] == "superseded" and history[1]["superseded_by_number"] == new["number"]

    v = api.get(f"/api/answers/{old['number']}/verify", params={"code": old["verification_code"]})
    assert v.status_code == 200, v.text
    assert set(v.json()) == {"number", "project_code", "issued_on", "valid_until", "state",
                             "state_zh", "current"}
    assert v.json()["current"] is False and v.json()["state"] == "superseded"
    v = api.get(f"/api/answers/{new['number']}/verify", params={"code": new["verification_code"]})
    assert v.json()["current"] is True and v.json()["project_code"] == "AN-REN"
    # Wrong code: same answer as an unknown number; no code / bad number: 422 in Chinese.
    wrong = api.get(f"/api/answers/{new['number']}/verify", params={"code": "000000000000"})
    unknown = api.get("/api/answers/CM-2000-999999/verify", params={"code": "000000000000"})
    assert wrong.status_code == unknown.status_code == 404
    assert "HP-T1" not in wrong.text and "甲建设集团" not in wrong.text
    assert api.get(f"/api/answers/{new['number']}/verify").status_code == 422
    bad = api.get("/api/answers/xyz/verify", params={"code": "ABC"})
    assert bad.status_code == 422 and "编号" in bad.json()["detail"]


def test_a_change_issues_a_new_answer_and_expiry_is_flagged(api, login, stored_network):
    builder = login("builder", "甲建设集团")
    pid = _register(api, builder, "AN-CHG")
    first = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    moved = site_feature("AN-CHG", 121.400, 31.70)
    assert api.put(f"/api/projects/{pid}", json=moved, headers=builder).status_code == 200
    second = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert second["reason"] == "change" and second["number"] != first["number"]
    assert second["no_pipeline_within_range"] is True
    with stored_network.begin() as conn:
        conn.execute(text("UPDATE answer_letter SET valid_until = :d WHERE number = :n"),
                     {"d": today_in_shanghai() + dt.timedelta(days=3), "n": second["number"]})
    near = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert near["near_expiry"] is True and near["valid_for_work"] is True and near["days_left"] == 3
    with stored_network.begin() as conn:
        conn.execute(text("UPDATE answer_letter SET valid_until = :d WHERE number = :n"),
                     {"d": today_in_shanghai() - dt.timedelta(days=1), "n": second["number"]})
    gone = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert gone["state"] == "expired" and gone["valid_for_work"] is False


def test_other_organisations_never_reach_an_answer(api, login, stored_network):
    builder = login("builder", "甲建设集团")
    other = login("builder", "乙市政公司")
    pid = _register(api, builder, "AN-PRIV")
    for path in (f"/api/projects/{pid}/answer", f"/api/projects/{pid}/answer.pdf",
                 f"/api/projects/{pid}/answer.html", f"/api/projects/{pid}/answers"):
        r = api.get(path, headers=other)
        assert r.status_code == 404 and "HP-T1" not in r.text, path
    r = api.post(f"/api/projects/{pid}/answer/renew", headers=other)
    assert r.status_code == 404
    assert api.get(f"/api/projects/{pid}/answer").status_code == 401
    admin = login("admin")
    assert api.get(f"/api/projects/{pid}/answer", headers=admin).status_code == 403
    office = login("gas_office")
    assert api.get(f"/api/projects/{pid}/answer", headers=office).status_code == 200
    assert api.get("/api/projects/999999/answer", headers=office).status_code == 404


def test_concurrent_first_answers_of_a_new_year_get_distinct_numbers(db_engine, clean_db):
    """Two transactions issuing the first number of a year at once: one creates the sequence."""
    import threading

    from sqlalchemy import text as sql

    year = 2987
    barrier = threading.Barrier(2)
    got, errors = [], []

    def issue():
        try:
            with db_engine.begin() as conn:
                barrier.wait(5)
                got.append(conn.execute(sql("SELECT answer_next_seq(:y)"), {"y": year}).scalar())
                conn.execute(sql("SELECT pg_sleep(0.3)"))  # hold the transaction open
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    try:
        assert not errors, errors
        assert sorted(got) == [1, 2]
    finally:
        with db_engine.begin() as conn:
            conn.execute(sql(f"DROP SEQUENCE IF EXISTS answer_seq_{year}"))
