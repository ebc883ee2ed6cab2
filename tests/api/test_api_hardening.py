"""Issue 12 against the real app: bad bytes, implausible sites, held sites, the network's
visibility for builders, alert bursts, login throttling, per-role upload limits.

Every refusal must be a 4xx (or 503) with a Chinese message, never a 500, and must
leave the stored tables as they were.
"""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gisapp.api.app import create_app
from gisapp.localdb import free_port
from gisapp.settings import Settings
from tests.factories import site_feature
from tests.servers import live_server

pytestmark = pytest.mark.postgis
LON, LAT = 121.40, 31.6299  # on HP-T1 of ``stored_network``
TABLES = ("construction_project", "pipeline_conflict", "alert", "permit", "outbox_message",
          "project_review")


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def _chinese(response) -> str:
    detail = response.json()["detail"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in detail), detail
    return detail


def _rect(code: str, lon: float, lat: float, dlon: float, dlat: float) -> dict:
    feature = site_feature(code, lon, lat)
    ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]
    feature["geometry"]["coordinates"] = [ring]
    return feature


# --- item 9: 4xx, never 500 -----------------------------------------------------------------


def test_bad_bytes_and_shapes_are_4xx_and_store_nothing(api, login, stored_network):
    builder = login("builder", "甲公司")
    before = _counts(stored_network)
    r = api.post("/api/auth/token", data={"username": "a\x00b", "password": "x" * 12})
    assert r.status_code == 422 and "NUL" in _chinese(r)
    r = api.get("/api/projects", params={"q": "a\x00b"}, headers=builder)
    assert r.status_code == 422 and "参数 q" in _chinese(r)
    r = api.post("/api/projects", json=site_feature("CM-N1", LON, LAT, name="a\x00b"), headers=builder)
    assert r.status_code == 422 and "NUL" in _chinese(r)
    raw = json.dumps(site_feature("CM-S1", LON, LAT)).replace('"CM-S1"', '"CM-S1\\ud800"', 1)
    r = api.post("/api/projects", content=raw, headers={**builder, "content-type": "application/json"})
    assert r.status_code == 422 and "代理字符" in _chinese(r)
    r = api.post("/api/projects", json=site_feature("X" * 65, LON, LAT), headers=builder)
    assert r.status_code == 422 and "编号过长" in _chinese(r)

    def chunks():
        for _ in range(30):
            yield b" " * 100_000

    r = api.post("/api/projects", content=chunks(), headers={**builder, "content-type": "application/json"})
    assert r.status_code == 413 and "请求体过大" in _chinese(r)
    office = login("gas_office")
    geojson = json.dumps({"type": "FeatureCollection", "features": [site_feature("CM-M1", LON, LAT)]})
    for form in ({"crs": "4326\x00"}, {"layer": "\x00"}, {"encoding": "gbk\x00"},
                 {"field_map": '{"a\\u0000": "name"}'}):
        r = api.post("/api/projects/import", data=form, headers=office,
                     files={"file": ("s.geojson", geojson.encode(), "application/geo+json")})
        assert 400 <= r.status_code < 500, (form, r.text)
        _chinese(r)
    for path in ("/api/reports/2026-0%001", "/api/projects/1%00", "/api/permits?status=a%00"):
        r = api.get(path, headers=office)
        assert 400 <= r.status_code < 500, (path, r.text)
    assert _counts(stored_network) == before
    # A valid surrogate pair (an emoji) and Z coordinates are fine: altitudes are dropped.
    ok = json.dumps(site_feature("CM-S2", LON, LAT)).replace('"CM-S2"', '"CM-S2\\ud83d\\ude00"', 1)
    assert api.post("/api/projects", content=ok,
                    headers={**builder, "content-type": "application/json"}).status_code == 201
    z = site_feature("CM-Z1", LON + 0.01, LAT)
    z["geometry"]["coordinates"] = [[[*c, 4.5] for c in z["geometry"]["coordinates"][0]]]
    r = api.post("/api/projects", json=z, headers=builder)
    assert r.status_code == 201, r.text
    assert len(r.json()["geometry"]["coordinates"][0][0][0]) == 2


def test_database_down_is_503_with_retry_after():
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(Settings(_env_file=None), database_url=url)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/projects", headers={"Authorization": "Bearer abc"})
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert "数据库" in _chinese(r)
        r = client.post("/api/auth/token", data={"username": "office", "password": "x" * 12})
        assert r.status_code == 503


# --- item 1: plausible sites, held sites, what a builder sees ---------------------------------


def test_district_sized_site_is_refused_naming_the_limit(api, login, stored_network):
    builder = login("builder", "甲公司")
    before = _counts(stored_network)
    r = api.post("/api/projects", json=_rect("CM-HUGE", 121.40, 31.60, 0.1, 0.06), headers=builder)
    assert r.status_code == 422
    assert "GISAPP_SITE_MAX_AREA_M2" in _chinese(r)
    assert _counts(stored_network) == before


def test_large_site_is_held_unscreened_until_the_office_releases_it(api, login, stored_network):
    builder, office = login("builder", "甲公司"), login("gas_office")
    big = _rect("CM-BIG", 121.385, 31.628, 0.006, 0.0125)  # ~570 m x 1,390 m, on both mains
    r = api.post("/api/projects", json=big, headers=builder)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["conflicts"] == [] and body["properties"]["review"]["state"] == "pending"
    assert "燃气管理所审核" in body["properties"]["review"]["detail"]
    pid = body["id"]
    with stored_network.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pipeline_conflict")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM alert")).scalar() == 0
    # Held: the builder sees no pipeline through it.
    assert api.get("/api/pipelines", headers=builder).json()["numberMatched"] == 0
    assert api.get(f"/api/projects/{pid}/review", headers=builder).json()["state"] == "pending"
    queue = api.get("/api/reviews", headers=office).json()["reviews"]
    assert [q["project_code"] for q in queue] == ["CM-BIG"]
    assert api.post(f"/api/projects/{pid}/review", json={"decision": "release"},
                    headers=builder).status_code == 403
    r = api.post(f"/api/projects/{pid}/review", json={"decision": "release", "note": "核实无误"},
                 headers=office)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "released" and len(r.json()["conflicts"]) == 2
    assert api.get("/api/pipelines", headers=builder).json()["numberMatched"] == 2
    again = api.post(f"/api/projects/{pid}/review", json={"decision": "reject"}, headers=office)
    assert again.status_code == 409 and "不是待审核" in _chinese(again)


def test_a_held_site_is_answered_only_once_released(api, login, stored_network):
    """A held site gets no answer letter (nor a renewal) until released; then it is answered."""
    builder, office = login("builder", "甲公司"), login("gas_office")
    big = _rect("CM-BIG2", 121.385, 31.628, 0.006, 0.0125)
    pid = api.post("/api/projects", json=big, headers=builder).json()["id"]
    r = api.get(f"/api/projects/{pid}/answer", headers=builder)
    assert r.status_code == 404 and "待燃气管理所审核" in _chinese(r)
    assert api.get(f"/api/projects/{pid}/answers", headers=builder).status_code == 404
    renew = api.post(f"/api/projects/{pid}/answer/renew", headers=builder)
    assert renew.status_code == 409 and "审核" in _chinese(renew)
    with stored_network.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM answer_letter")).scalar() == 0
    r = api.post(f"/api/projects/{pid}/review", json={"decision": "release"}, headers=office)
    assert r.status_code == 200, r.text
    answer = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert answer["reason"] == "registration" and answer["state"] == "current"
    assert len(answer["conflicts"]) == 2


def test_a_builders_view_of_the_network_is_capped(database_url, db_engine, clean_db, stored_network):
    settings = Settings(_env_file=None, builder_max_visible_pipelines=1)
    app = create_app(settings, database_url=database_url)
    from layers.db import session_factory
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        create_user(session, "b-cap", "correct-horse-battery", "builder", "甲公司")
    with TestClient(app) as client:
        token = client.post("/api/auth/token", data={"username": "b-cap",
                                                     "password": "correct-horse-battery"}).json()
        builder = {"Authorization": f"Bearer {token['access_token']}"}
        # A plausible site touching both mains: the builder sees only one of them.
        r = client.post("/api/projects", json=_rect("CM-TWO", 121.40, 31.6299, 0.0005, 0.0105),
                        headers=builder)
        assert r.status_code == 201 and len(r.json()["conflicts"]) == 2
        listed = client.get("/api/pipelines", headers=builder).json()
        assert listed["numberMatched"] == 1 and len(listed["features"]) == 1
        with db_engine.connect() as conn:
            hidden = conn.execute(text("SELECT max(id) FROM gas_pipeline")).scalar()
        assert client.get(f"/api/pipelines/{hidden}", headers=builder).status_code == 404


def test_deleted_projects_conflicts_and_permits_are_invisible_to_builders(api, login, stored_network):
    builder, office = login("builder", "甲公司"), login("gas_office")
    r = api.post("/api/projects", json=site_feature("CM-DEL", LON, LAT), headers=builder)
    assert r.status_code == 201 and r.json()["conflicts"]
    assert api.delete(f"/api/projects/{r.json()['id']}", headers=builder).status_code == 204
    closed = api.get("/api/conflicts", params={"include_closed": True}, headers=builder).json()
    assert closed["conflicts"] == []
    assert api.get("/api/permits", headers=builder).json()["permits"] == []
    office_view = api.get("/api/conflicts", params={"include_closed": True}, headers=office).json()
    assert len(office_view["conflicts"]) == 1  # the gas office keeps the history


def test_a_burst_of_alerts_is_one_webhook_message(database_url, db_engine, clean_db, stored_network):
    from layers.db import session_factory
    from layers.services.actors import Actor
    from layers.services.features import WriteContext, create_feature
    from spatial_rules.rulesets import load_rule_set

    with db_engine.begin() as conn:  # 30 short pipes crossing one site
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) SELECT 'B-' || i, 'medium_a', 0.3, 160, '甲燃气', "
            "ST_GeomFromText('MULTILINESTRING((' || (121.45 + i * 0.00005) || ' 31.60, ' || "
            "(121.45 + i * 0.00005) || ' 31.601))', 4490) FROM generate_series(1, 30) i"))
    ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"),
                       webhook_urls=["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"], alert_burst=20)
    with session_factory(db_engine).begin() as session:
        created = create_feature(session, "projects",
                                 _rect("CM-BURST", 121.4495, 31.6004, 0.0025, 0.0002), ctx)
    assert len(created["properties"]["conflicts"]) == 30
    with db_engine.connect() as conn:
        rows = conn.execute(text("SELECT alert_id, target_url, payload FROM outbox_message "
                                 "ORDER BY target_url")).all()
        alerts = conn.execute(text("SELECT count(*) FROM alert")).scalar()
    assert alerts == 30  # every alert is in the inbox
    assert len(rows) == 2 and all(r.alert_id is None for r in rows)  # one message per receiver
    payload = rows[0].payload
    assert payload["event"] == "conflict_alert_summary" and payload["alert_count"] == 30
    assert len(payload["alert_ids"]) == 30 and "30 条冲突告警" in payload["message"]


# --- item 10: vertex and size limits per role ----------------------------------------------


def test_vertex_limit_per_role(api, login, stored_network):
    builder, office = login("builder", "甲公司"), login("gas_office")
    import math

    n = 6000  # a circle of 6,000 vertices, ~60 m across
    ring = [[121.43 + 0.0003 * math.cos(2 * math.pi * i / n), 31.62 + 0.0003 * math.sin(2 * math.pi * i / n)]
            for i in range(n)]
    ring.append(ring[0])
    feature = site_feature("CM-VTX", 121.43, 31.62)
    feature["geometry"]["coordinates"] = [ring]
    r = api.post("/api/projects", json=feature, headers=builder)
    assert r.status_code == 422 and "5,000" in _chinese(r) and "顶点" in r.json()["detail"]
    assert api.post("/api/projects", json=feature, headers=office).status_code == 201


def test_uploads_are_refused_by_role_before_the_body_is_read(api, login, stored_network):
    builder = login("builder", "甲公司")
    big = b"{" + b" " * 21_000_000 + b"}"
    files = {"file": ("big.geojson", big, "application/geo+json")}
    r = api.post("/api/projects/import", files=files, headers=builder)
    assert r.status_code == 413 and "20000000" in _chinese(r)
    r = api.post("/api/projects/import", files={"file": ("a.geojson", b"{}", "application/json")})
    assert r.status_code == 401 and "登录" in _chinese(r)


def test_a_builders_import_holds_its_large_sites(api, login, stored_network):
    builder = login("builder", "甲公司")
    collection = {"type": "FeatureCollection", "features": [
        site_feature("CM-IMP-1", 121.41, LAT),
        _rect("CM-IMP-BIG", 121.385, 31.628, 0.006, 0.0125),
    ]}
    files = {"file": ("sites.geojson", json.dumps(collection).encode(), "application/geo+json")}
    r = api.post("/api/projects/import", files=files, headers=builder)
    assert r.status_code == 201, r.text
    assert r.json()["new_conflicts"] == 1 and any("CM-IMP-BIG" in n for n in r.json()["notes"])
    with stored_network.connect() as conn:
        held = conn.execute(text("SELECT p.registration_code FROM project_review r JOIN "
                                 "construction_project p ON p.id = r.project_id")).scalars().all()
    assert held == ["CM-IMP-BIG"]


# --- item 6: login throttling ------------------------------------------------------------------


def test_login_throttled_per_account_and_address_with_audit(database_url, db_engine, clean_db):
    from layers.db import session_factory
    from layers.services.users import create_user

    settings = Settings(_env_file=None, login_max_failures_per_account=3,
                        login_max_failures_per_address=5)
    with session_factory(db_engine).begin() as session:
        create_user(session, "victim", "correct-horse-battery", "gas_office")
    app = create_app(settings, database_url=database_url)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(3):
            r = client.post("/api/auth/token", data={"username": "victim", "password": "wrong-guess-1"})
            assert r.status_code == 401
        r = client.post("/api/auth/token", data={"username": "victim", "password": "correct-horse-battery"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert "账号 victim 登录失败次数过多" in _chinese(r)
        for i in range(2):  # other names from the same address reach the address limit
            assert client.post("/api/auth/token", data={"username": f"nobody{i}",
                                                       "password": "x" * 12}).status_code == 401
        r = client.post("/api/auth/token", data={"username": "nobody9", "password": "x" * 12})
        assert r.status_code == 429 and "来自本地址" in _chinese(r)
    with db_engine.connect() as conn:
        audited = conn.execute(text(
            "SELECT detail->>'username' FROM audit_log WHERE action = 'auth.login_failed' ORDER BY id"
        )).scalars().all()
    assert audited == ["victim"] * 3 + ["nobody0", "nobody1"]


def test_a_geojson_with_too_many_vertices_is_refused_while_it_is_saved(api, login, stored_network):
    builder = login("builder", "甲公司")
    before = _counts(stored_network)
    # 45 sites of 5,001 points: under the byte limit, over the builder's 200,000 vertices.
    ring = ",".join(f"[{121.40 + i * 1e-7:.7f},{31.60 + (i % 2) * 1e-4:.5f}]" for i in range(5001))
    geometry = '{"type":"Polygon","coordinates":[[' + ring + "]]}"
    features = ",".join(
        f'{{"type":"Feature","properties":{{"id":"V-{n}"}},"geometry":{geometry}}}' for n in range(45))
    body = ('{"type":"FeatureCollection","features":[' + features + "]}").encode()
    assert len(body) < 20_000_000
    r = api.post("/api/projects/import", headers=builder,
                 files={"file": ("many.geojson", body, "application/geo+json")})
    assert r.status_code == 413, r.text[:300]
    assert "200,000 个顶点的上限" in _chinese(r)
    assert _counts(stored_network) == before


def test_an_edit_that_grows_a_site_into_the_review_size_holds_it_again(api, login, stored_network):
    """The answer given for the small site is withdrawn at once; the builder is told (D36, D51)."""
    builder, office = login("builder", "甲公司"), login("gas_office")
    small = site_feature("CM-GROW", LON, LAT)
    r = api.post("/api/projects", json=small, headers=builder)
    assert r.status_code == 201 and r.json()["conflicts"], r.text
    pid = r.json()["id"]
    first = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert first["state"] == "current" and first["valid_for_work"]
    big = _rect("CM-GROW", 121.385, 31.628, 0.006, 0.0125)
    r = api.put(f"/api/projects/{pid}", json=big, headers=builder)
    assert r.status_code == 202, r.text
    review = r.json()["properties"]["review"]
    assert review["state"] == "pending" and review["answers_withdrawn"] == [first["number"]]
    assert f"原查询答复书 {first['number']} 已撤回" in review["detail"]
    assert r.json()["properties"]["conflicts"] == []
    # No current answer while held; the old one reads as withdrawn, not valid for work.
    held = api.get(f"/api/projects/{pid}/answer", headers=builder)
    assert held.status_code == 404 and "待燃气管理所审核" in _chinese(held)
    old = api.get(f"/api/projects/{pid}/answers", headers=builder).json()["answers"]
    assert [(a["number"], a["state"], a["valid_for_work"]) for a in old] == [
        (first["number"], "withdrawn", False)]
    assert "已撤回" in old[0]["state_zh"]
    with stored_network.connect() as conn:
        code = conn.execute(text("SELECT verification_code FROM answer_letter WHERE number = :n"),
                            {"n": first["number"]}).scalar_one()
    verified = api.get(f"/api/answers/{first['number']}/verify", params={"code": code}).json()
    assert verified["state"] == "withdrawn" and verified["current"] is False
    assert api.get("/api/pipelines", headers=builder).json()["numberMatched"] == 0
    assert [q["project_code"] for q in api.get("/api/reviews", headers=office).json()["reviews"]] == [
        "CM-GROW"]
    # Released: screened and answered anew, as a registration.
    r = api.post(f"/api/projects/{pid}/review", json={"decision": "release"}, headers=office)
    assert r.status_code == 200 and len(r.json()["conflicts"]) == 2, r.text
    answer = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert answer["state"] == "current" and answer["number"] != first["number"]
    # An edit of the released site's attributes alone does not hold it again ...
    r = api.put(f"/api/projects/{pid}", json={"type": "Feature", "properties": {"name": "改名"}},
                headers=builder)
    assert r.status_code == 200 and "review" not in r.json()["properties"], r.text
    assert api.get(f"/api/projects/{pid}/answer", headers=builder).json()["number"] == answer["number"]
    # ... but moving it (still large) does, and withdraws that answer too.
    moved = _rect("CM-GROW", 121.386, 31.628, 0.006, 0.0125)
    r = api.put(f"/api/projects/{pid}", json=moved, headers=builder)
    assert r.status_code == 202 and r.json()["properties"]["review"]["answers_withdrawn"] == [
        answer["number"]]


def test_an_import_replace_that_grows_a_site_withdraws_its_answer(api, login, stored_network, tmp_path):
    builder = login("builder", "甲公司")
    path = tmp_path / "site.geojson"

    def upload(feature, **form):
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]},
                                   ensure_ascii=False), encoding="utf-8")
        with open(path, "rb") as fh:
            return api.post("/api/projects/import", headers=builder, data=form,
                            files={"file": (path.name, fh, "application/geo+json")})

    assert upload(site_feature("CM-REP", LON, LAT)).status_code == 201
    pid = api.get("/api/projects", params={"q": "CM-REP"}, headers=builder).json()["features"][0]["id"]
    first = api.get(f"/api/projects/{pid}/answer", headers=builder).json()
    assert first["state"] == "current"
    r = upload(_rect("CM-REP", 121.385, 31.628, 0.006, 0.0125), replace="true")
    assert r.status_code == 201 and r.json()["replaced"] == 1, r.text
    assert any("燃气管理所审核" in note for note in r.json()["notes"])
    held = api.get(f"/api/projects/{pid}/answer", headers=builder)
    assert held.status_code == 404 and "待燃气管理所审核" in _chinese(held)
    states = [a["state"] for a in api.get(f"/api/projects/{pid}/answers", headers=builder).json()["answers"]]
    assert states == ["withdrawn"]
