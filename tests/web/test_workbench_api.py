"""The JSON endpoints behind the pages: preview (stores nothing), site input errors, lists, export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from tests.factories import site_feature

pytestmark = pytest.mark.postgis

# About 3 m from HP-T1's wall: inside its protection range under every version (5 or 6 m).
NEAR_HP = "121.4000,31.63003\n121.4003,31.63003\n121.4003,31.6303\n121.4000,31.6303"


def _count(db_engine, table: str) -> int:
    with db_engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_preview_screens_without_storing(api, login, db_engine, stored_network):
    headers = login("builder", "甲建设公司")
    before = {t: _count(db_engine, t) for t in ("construction_project", "pipeline_conflict", "alert",
                                                  "audit_log")}
    answer = api.post("/api/projects/preview", json={"site_text": NEAR_HP, "crs": "cgcs2000"},
                      headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (conflict,) = body["conflicts"]
    assert conflict["pipeline_code"] == "HP-T1" and conflict["zone"] == "protection"  # high B: 5 m (2026.1)
    assert conflict["owner"] == "上海天然气管网有限公司" and 2.5 < conflict["distance_m"] < 3.5
    layers = {f["properties"]["layer"] for f in body["features"]["features"]}
    assert {"pipe", "protection_band", "control_band", "nearest_line"} <= layers
    # The same site stored through the API gets the same answer.
    ring = [[float(v) for v in line.split(",")] for line in NEAR_HP.splitlines()]
    feature = {"type": "Feature", "properties": {"id": "PV-1", "name": "预览对照", "kind": "housing",
                                                  "status": "planned"},
               "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}
    after = {t: _count(db_engine, t) for t in before}
    assert after == before  # the preview stored nothing
    created = api.post("/api/projects", json=feature, headers=headers).json()
    (stored,) = created["conflicts"]
    assert stored["zone"] == conflict["zone"] and abs(stored["distance_m"] - conflict["distance_m"]) < 0.01
    # The drawn form of the same site answers the same.
    drawn = api.post("/api/projects/preview", json={"site": feature["geometry"]}, headers=headers).json()
    assert drawn["conflicts"] == body["conflicts"]


def test_preview_in_gcj02(api, login, stored_network):
    from spatial_rules.gcj02 import wgs84_to_gcj02

    pairs = [[float(v) for v in line.split(",")] for line in NEAR_HP.splitlines()]
    shifted = []
    for lon, lat in pairs:
        glon, glat = wgs84_to_gcj02(lon, lat)
        shifted.append(f"{float(glon):.8f},{float(glat):.8f}")
    answer = api.post("/api/projects/preview", json={"site_text": "\n".join(shifted), "crs": "gcj02"},
                      headers=login("gas_office"))
    assert answer.status_code == 200
    assert [c["pipeline_code"] for c in answer.json()["conflicts"]] == ["HP-T1"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"site_text": "121.40,31.63\n116.40,39.90\n121.41,31.64"}, "site_text", ["第 2 行", "崇明区以外"]),
    ({"site_text": "31.63,121.40\n31.63,121.41\n31.64,121.41"}, "site_text", ["经纬度颠倒"]),
    ({"site_text": "121.40;31.63\n121.41,31.63"}, "site_text", ["第 1 行", "经度,纬度"]),
    ({"site_text": "121.40,31.63\n121.41,31.63"}, "site_text", ["至少需要 3 个"]),
    ({"site_text": "POLYGON((121.40 31.63, 121.41"}, "site_text", ["WKT"]),
    ({"site_text": "121.40,31.63", "crs": "baidu"}, "crs", ["未知坐标系"]),
    ({"site": {"type": "Polygon", "coordinates": [[[121.40, 31.63], [121.41, 31.64], [121.41, 31.63],
                                                   [121.40, 31.64], [121.40, 31.63]]]}},
     "site", ["自相交", "交叉点"]),
    ({"site": {"type": "Point", "coordinates": [121.4, 31.63]}}, "site", ["须为面"]),
    ({}, None, ["site"]),
])
def test_bad_sites_are_named_and_nothing_is_stored(api, login, db_engine, body, field, words):
    answer = api.post("/api/projects/preview", json=body, headers=login("builder", "甲建设公司"))
    assert answer.status_code == 422, answer.text
    detail = answer.json()
    text_ = detail["detail"] + " ".join(p["message"] for p in detail["problems"])
    for word in words:
        assert word in text_, text_
    if field:
        assert detail["problems"][0]["field"] == field
    if field == "site":
        crossing = detail["problems"][0]["location"]
        assert crossing is None or crossing == pytest.approx([121.405, 31.635], abs=1e-6)
    assert _count(db_engine, "construction_project") == 0


def test_preview_roles(api, login, stored_network):
    body = {"site_text": NEAR_HP}
    assert api.post("/api/projects/preview", json=body, headers=login("inspector")).status_code == 403
    assert api.post("/api/projects/preview", json=body, headers=login("admin")).status_code == 403
    assert api.post("/api/projects/preview", json=body).status_code == 401


def test_lists_filter_and_export_safely(api, login, stored_network):
    builder = login("builder", "甲建设公司")
    site = site_feature("=HYPERLINK(1)", 121.40, 31.63003, name="+恶意名称")
    assert api.post("/api/projects", json=site, headers=builder).status_code == 201
    office = login("gas_office")
    rows = api.get("/api/workbench/lists/conflicts", params={"status": "protection"}, headers=office).json()
    assert [r["pipeline_code"] for r in rows["rows"]] == ["HP-T1"]
    assert rows["rows"][0]["zone_zh"] == "安全保护范围"
    assert api.get("/api/workbench/lists/conflicts", params={"status": "control"},
                   headers=office).json()["numberMatched"] == 0
    bad = api.get("/api/workbench/lists/permits", params={"status": "done"}, headers=office)
    assert bad.status_code == 422 and "未知状态" in bad.json()["detail"]
    exported = api.get("/api/workbench/lists/projects/export.csv", headers=office)
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0]["项目编号"] == "'=HYPERLINK(1)" and table[0]["项目名称"] == "'+恶意名称"
    assert table[0]["状态"] == "在建"
    xlsx = api.get("/api/workbench/lists/permits/export.xlsx", headers=office)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert api.get("/api/workbench/lists/projects", headers=builder).status_code == 403


def test_builder_project_page_data_is_its_own(api, login, stored_network):
    mine = login("builder", "甲建设公司")
    other = login("builder", "乙建设公司")
    created = api.post("/api/projects", json=site_feature("OWN-1", 121.40, 31.63005), headers=mine).json()
    page = api.get(f"/api/workbench/projects/{created['id']}", headers=mine).json()
    assert page["conflicts"][0]["pipeline_code"] == "HP-T1"
    assert page["conflicts"][0]["permit_next"] == ["applied"]  # a builder may only apply
    assert api.get(f"/api/workbench/projects/{created['id']}", headers=other).status_code == 404
    assert [p["registration_code"] for p in api.get("/api/workbench/my-projects", headers=mine).json()[
        "projects"]] == ["OWN-1"]
    assert api.get("/api/workbench/my-projects", headers=other).json()["projects"] == []


def test_preview_carries_the_rules_answer_of_the_stored_project(api, login, stored_network):
    """Rule set, activities and action of the preview are those the stored screening gives."""
    headers = login("builder", "甲建设公司")
    ring = [[float(v) for v in line.split(",")] for line in NEAR_HP.splitlines()]
    geometry = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    every = api.post("/api/projects/preview", json={"site": geometry}, headers=headers).json()
    answer = api.post("/api/projects/preview", headers=headers,
                      json={"site": geometry, "activities": ["挖掘", "piling"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["activities"] == ["excavation", "piling"]
    (conflict,) = body["conflicts"]
    (undeclared,) = every["conflicts"]
    # Declaring two activities narrows what applies to those two.
    assert set(conflict["prohibited_activities"]) | set(conflict["plan_required_activities"]) <= {
        "excavation", "piling"}
    assert conflict["required_action"] != undeclared["required_action"]
    assert len(undeclared["prohibited_activities"]) > len(conflict["prohibited_activities"])
    feature = {"type": "Feature", "properties": {"id": "PV-ACT", "name": "作业对照", "kind": "housing",
                                                  "status": "planned",
                                                  "activities": ["excavation", "piling"]},
               "geometry": geometry}
    created = api.post("/api/projects", json=feature, headers=headers)
    assert created.status_code == 201, created.text
    (stored,) = created.json()["conflicts"]
    for key in ("rule_set", "required_action", "prohibited_activities", "plan_required_activities"):
        assert stored[key] == conflict[key], key
    # The file form takes the same declaration as text.
    upload = api.post("/api/projects/preview/file", headers=headers,
                      files={"file": ("site.geojson", json.dumps(
                          {"type": "FeatureCollection", "features": [
                              {"type": "Feature", "geometry": geometry,
                               "properties": {"id": "PV-FILE", "name": "文件", "kind": "housing"}}]}),
                          "application/geo+json")},
                      data={"crs": "auto", "activities": "挖掘,打桩"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["conflicts"][0]["required_action"] == conflict["required_action"]


@pytest.mark.parametrize("activities", [["夯土"], 5, {"a": 1}, ["piling"] * 101])
def test_preview_refuses_unknown_activities(api, login, stored_network, activities):
    answer = api.post("/api/projects/preview", headers=login("builder", "甲建设公司"),
                      json={"site_text": NEAR_HP, "crs": "cgcs2000", "activities": activities})
    assert answer.status_code in (400, 422), answer.text
    assert "activities" in answer.json()["detail"]
