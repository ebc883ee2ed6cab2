"""Map data endpoints on real PostGIS: roles, bbox and zoom rules, bands, project states, figures."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from shapely.geometry import Point, shape

from maps import layers_data
from maps.panels import blocks_text
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

BBOX = "121.37,31.62,121.43,31.65"
M_PER_DEG_LAT = 110_900.0  # near 31.6 N, enough for offsets of a few metres


def _get(api, headers, path, **params):
    r = api.get(path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_data_needs_gas_office_or_inspector(api, login, stored_network):
    path = "/maps/data/pipelines"
    assert api.get(path, params={"bbox": BBOX, "zoom": 15}).status_code == 401
    for role, status in (("gas_office", 200), ("inspector", 200), ("builder", 403), ("admin", 403)):
        r = api.get(path, params={"bbox": BBOX, "zoom": 15}, headers=login(role, "甲公司"))
        assert r.status_code == status, (role, r.text)
    for path in ("/maps/data/summary", "/maps/data/search", "/maps/data/inspection-coverage",
                 "/maps/data/townships", "/maps/data/township-areas"):
        assert api.get(path, headers=login("builder", "甲公司")).status_code == 403
        assert api.get(path).status_code == 401


def test_pages_and_static_files_are_served(api):
    for path in ("/maps/", "/maps/permits", "/maps/supervision", "/maps/inspections"):
        r = api.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert api.get("/static/leaflet/leaflet.js").status_code == 200
    assert api.get("/static/gisapp/maps.js").status_code == 200
    assert api.get("/static/../maps/i18n.py").status_code == 404
    assert api.get("/static/leaflet/none.js").status_code == 404


def test_bad_bbox_is_refused_in_chinese(api, login):
    r = api.get("/maps/data/projects", params={"bbox": "1,2,3", "zoom": 10, "view": "permits"},
                headers=login("gas_office"))
    assert r.status_code == 422 and "bbox" in r.json()["detail"]
    r = api.get("/maps/data/pipelines", params={"bbox": "121.5,31,121.4,32", "zoom": 10},
                headers=login("gas_office"))
    assert r.status_code == 422 and "范围无效" in r.json()["detail"]


def test_low_zoom_sends_only_sub_high_and_above(api, login, stored_network):
    h = login("inspector")
    far = _get(api, h, "/maps/data/pipelines", bbox=BBOX, zoom=12)
    near = _get(api, h, "/maps/data/pipelines", bbox=BBOX, zoom=15)
    assert [f["properties"]["code"] for f in far["features"]] == ["HP-T1"]
    assert sorted(f["properties"]["code"] for f in near["features"]) == ["HP-T1", "MP-T1"]
    outside = _get(api, h, "/maps/data/pipelines", bbox="121.70,31.50,121.80,31.55", zoom=15)
    assert outside["features"] == [] and outside["truncated"] is False


def test_row_limit_truncates(stored_network):
    with Session(stored_network) as session:
        out = layers_data.pipelines_geojson(session, layers_data.parse_bbox(BBOX), 15, limit=1)
    data = json.loads(out)
    assert data["truncated"] is True and len(data["features"]) == 1
    assert data["features"][0]["properties"]["code"] == "HP-T1"  # highest pressure kept first


def test_bands_follow_the_rule_set(api, login, stored_network):
    h = login("gas_office")
    protection = _get(api, h, "/maps/data/ranges", bbox=BBOX, zoom=16, zone="protection")
    control = _get(api, h, "/maps/data/ranges", bbox=BBOX, zoom=16, zone="control")
    band = {f["properties"]["code"]: shape(f["geometry"]) for f in protection["features"]}
    ring = {f["properties"]["code"]: shape(f["geometry"]) for f in control["features"]}
    # Today's version (shanghai@2026.1, GB 55009-2021 figures).
    # HP-T1: high_b, DN 508: protection to 5 + 0.254 m from the centreline, control to 50.254 m.
    at = lambda metres: Point(121.40, 31.63 + metres / M_PER_DEG_LAT)  # noqa: E731
    assert band["HP-T1"].contains(at(4.8)) and not band["HP-T1"].contains(at(6.0))
    assert ring["HP-T1"].contains(at(20)) and not ring["HP-T1"].contains(at(2))
    assert not ring["HP-T1"].contains(at(52))
    # MP-T1: medium_a, DN 160: protection 0.5 + 0.08 m.
    assert band["MP-T1"].contains(Point(121.40, 0.45 / M_PER_DEG_LAT + 31.64))
    assert not band["MP-T1"].contains(Point(121.40, 0.9 / M_PER_DEG_LAT + 31.64))
    far = _get(api, h, "/maps/data/ranges", bbox=BBOX, zoom=12, zone="protection")
    assert far["features"] == [] and far["min_zoom"] == layers_data.RANGE_MIN_ZOOM


def test_project_states_popup_search_and_figures(api, login, stored_network):
    office = login("gas_office")
    inside = api.post("/api/projects", json=site_feature("MAP-IN", 121.40, 31.6299), headers=office)
    away = api.post("/api/projects", json=site_feature("MAP-OUT", 121.40, 31.6350, kind="gas_engineering",
                                                      under_supervision=False), headers=office)
    assert inside.status_code == 201 and away.status_code == 201, (inside.text, away.text)
    params = {"bbox": BBOX, "zoom": 15, "view": "permits"}
    states = {f["properties"]["code"]: f["properties"] for f in
              _get(api, office, "/maps/data/projects", **params)["features"]}
    assert states["MAP-IN"]["state"] == "not_started" and states["MAP-IN"]["alert"] is True
    assert states["MAP-OUT"]["state"] == "no_conflict" and states["MAP-OUT"]["alert"] is False
    points = _get(api, office, "/maps/data/projects", **{**params, "zoom": 11})
    assert points["points"] is True and {f["geometry"]["type"] for f in points["features"]} == {"Point"}

    permit = _get(api, office, "/api/permits", project_id=inside.json()["id"])["permits"][0]
    moved = api.post(f"/api/permits/{permit['id']}/transitions", json={"to_status": "applied"},
                     headers=office)
    assert moved.status_code == 200, moved.text
    states = {f["properties"]["code"]: f["properties"]["state"] for f in
              _get(api, office, "/maps/data/projects", **params)["features"]}
    assert states["MAP-IN"] == "applied"

    popup = blocks_text(_get(api, office, f"/maps/data/projects/{inside.json()['id']}/popup",
                             view="permits")["blocks"])
    for text in ("MAP-IN", "HP-T1", "高压B", "保护范围", "已申请", "未办理 → 已申请"):
        assert text in popup
    assert api.get("/maps/data/projects/999999/popup", params={"view": "permits"},
                   headers=office).status_code == 404

    supervision = _get(api, office, "/maps/data/projects", **{**params, "view": "supervision"})
    assert [(f["properties"]["code"], f["properties"]["state"]) for f in supervision["features"]] == [
        ("MAP-OUT", "not_supervised")]
    inspections = _get(api, office, "/maps/data/projects", **{**params, "view": "inspections"})
    assert {f["properties"]["state"] for f in inspections["features"]} == {"not_covered"}

    found = _get(api, office, "/maps/data/search", q="map-in")["results"]
    assert [r["code"] for r in found] == ["MAP-IN"] and found[0]["west"] < found[0]["east"]
    assert _get(api, office, "/maps/data/search", q="%")["results"] == []

    figures = _get(api, office, "/maps/data/summary")
    assert figures["alerts_new"] == 1
    assert {r["pressure_class"]: r["segments"] for r in figures["pipelines"]} == {"high_b": 1, "medium_a": 1}
    km = {r["pressure_class"]: r["km"] for r in figures["pipelines"]}
    assert 3.5 < km["high_b"] < 4.3  # 0.04 degrees of longitude at 31.63 N is about 3.8 km
    assert {r["status"]: r["n"] for r in figures["permits"]} == {"applied": 1}
    assert "待处理新告警" in blocks_text(figures["blocks"])

    coverage = _get(api, office, "/maps/data/inspection-coverage", year=2026)
    assert [s["stage"] for s in coverage["stages"]] == [1, 2, 3]
    assert coverage["projects"] == 2 and "30%" in blocks_text(coverage["blocks"])


def test_configured_tiles_and_their_credit_are_on_the_served_pages(database_url, clean_db):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    settings = Settings(_env_file=None, tile_url="https://tiles.example.org/{z}/{x}/{y}.png",
                        tile_attribution="示例底图 © 测绘院")
    with TestClient(create_app(settings, database_url=database_url)) as client:
        html = client.get("/maps/permits").text
    assert "https://tiles.example.org/{z}/{x}/{y}.png" in html
    assert "示例底图 © 测绘院" in html  # in the page's data-config (escaped JSON)
