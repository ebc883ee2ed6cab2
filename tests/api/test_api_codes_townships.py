"""Townships must be known; codes may hold no invisible or text-reordering character."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.factories import site_feature

pytestmark = pytest.mark.postgis


def _stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM construction_project")).scalar()


def test_only_known_townships_are_accepted(api, login, db_engine):
    office = login("gas_office")
    r = api.post("/api/projects", json=site_feature("CM-TS-1", 121.40, 31.6299, township="不存在镇<b>"),
                 headers=office)
    assert r.status_code == 422, r.text
    body = r.json()
    assert "不是崇明区已知的乡镇" in json.dumps(body, ensure_ascii=False)
    assert any(p["field"] == "township" for p in body["problems"])
    assert _stored(db_engine) == 0
    # No township areas loaded yet: the district's towns are known.
    ok = api.post("/api/projects", json=site_feature("CM-TS-2", 121.40, 31.6299, township="城桥镇"),
                  headers=office)
    assert ok.status_code == 201, ok.text
    # With areas loaded, their names are the known ones.
    with db_engine.begin() as conn:
        conn.execute(text("INSERT INTO township (code, name, geom) VALUES ('T1', '城桥镇', "
                          "ST_GeomFromText('MULTIPOLYGON(((121.3 31.6, 121.5 31.6, 121.5 31.7, "
                          "121.3 31.7, 121.3 31.6)))', 4490))"))
    r = api.post("/api/projects", json=site_feature("CM-TS-3", 121.40, 31.6299, township="陈家镇"),
                 headers=office)
    assert r.status_code == 422 and "陈家镇" in r.text
    moved = site_feature("CM-TS-2", 121.40, 31.6299, township="不存在镇")
    r = api.put(f"/api/projects/{ok.json()['id']}", json=moved, headers=office)
    assert r.status_code == 422 and "township" in r.text
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT township FROM construction_project")).scalar() == "城桥镇"


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066", "\ufeff", "\u200f"])
def test_codes_with_invisible_or_bidi_characters_are_refused(api, login, db_engine, char):
    office = login("gas_office")
    r = api.post("/api/projects", json=site_feature(f"CM-2026{char}-01", 121.40, 31.6299), headers=office)
    assert r.status_code == 422, r.text
    body = json.dumps(r.json(), ensure_ascii=False)
    assert f"U+{ord(char):04X}" in body and "编号中不允许" in body
    assert r.json()["problems"][0]["field"].startswith("registration_code")
    pipe = {"type": "Feature", "properties": {"id": f"GP{char}1", "pressure_class": "medium_a",
                                              "outer_diameter_mm": 219},
            "geometry": {"type": "LineString", "coordinates": [[121.40, 31.63], [121.41, 31.63]]}}
    r = api.post("/api/pipelines", json=pipe, headers=office)
    assert r.status_code == 422 and f"U+{ord(char):04X}" in r.text
    assert _stored(db_engine) == 0


def test_an_import_file_is_refused_whole_for_a_bad_township_or_code(api, login, db_engine):
    office = login("gas_office")
    features = [site_feature("CM-IMP-1", 121.40, 31.6299, township="城桥镇"),
                site_feature("CM-IMP-2", 121.41, 31.6299, township="火星镇"),
                site_feature("CM-IMP\u202e-3", 121.42, 31.6299)]
    data = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    r = api.post("/api/projects/import", headers=office,
                 files={"file": ("sites.geojson", data.encode("utf-8"), "application/geo+json")})
    assert r.status_code == 422, r.text
    assert "U+202E" in r.text
    assert _stored(db_engine) == 0
    fixed = json.dumps({"type": "FeatureCollection", "features": features[:2]}, ensure_ascii=False)
    r = api.post("/api/projects/import", headers=office,
                 files={"file": ("sites.geojson", fixed.encode("utf-8"), "application/geo+json")})
    assert r.status_code == 422 and "火星镇" in r.text and "不是崇明区已知的乡镇" in r.text
    assert _stored(db_engine) == 0
