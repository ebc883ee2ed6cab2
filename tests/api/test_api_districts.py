"""District scope end to end: a whole-city deployment, a Chongming office and a Pudong site.

The district office sees nothing of Pudong through the API, the map data, a query with
no district filter at all (a bug simulated) under the server's own database role, or a
direct SQL session under its district's read-only role.
"""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from layers.db import make_engine
from layers.district import use_jurisdiction
from layers.services.districts import APP_ROLE, create_district_role
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

CHONGMING, PUDONG = "310151", "310115"
PASSWORD = "correct-horse-battery"


@pytest.fixture()
def city_api(database_url, clean_db):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None, jurisdiction="shanghai"), database_url=database_url)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        use_jurisdiction("chongming")  # the other tests' deployment


def _user(api, db_engine, name: str, district: str | None) -> dict:
    from layers.db import session_factory
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        create_user(session, name, PASSWORD, "gas_office", district=district)
    token = api.post("/api/auth/token", data={"username": name, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture()
def two_districts(city_api, db_engine):
    city = _user(city_api, db_engine, "city-office", None)
    with db_engine.begin() as conn:  # a main through each site-to-be
        for code, lon, lat in (("CM-P1", 121.55, 31.62), ("PD-P1", 121.62, 31.20)):
            conn.execute(text(
                "INSERT INTO gas_pipeline (external_code, owner, pressure_class, outer_diameter_mm, geom) "
                "VALUES (:c, '上海燃气有限公司', 'medium_a', 219, ST_Multi(ST_SetSRID(ST_MakeLine("
                "ST_MakePoint(:x - 0.002, :y + 0.00015), ST_MakePoint(:x + 0.002, :y + 0.00015)), 4490)))"),
                {"c": code, "x": lon, "y": lat})
    ids = {}
    for code, lon, lat in (("CM-1", 121.55, 31.62), ("PD-1", 121.62, 31.20)):
        r = city_api.post("/api/projects", json=site_feature(code, lon, lat), headers=city)
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
    with db_engine.connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT registration_code, district FROM construction_project")).all())
    assert stored == {"CM-1": CHONGMING, "PD-1": PUDONG}  # filled by the database
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alert")).scalar_one() == 2
    return city, ids


def test_district_office_sees_only_its_district_through_the_api_and_maps(city_api, db_engine,
                                                                       two_districts):
    city, ids = two_districts
    chongming = _user(city_api, db_engine, "cm-office", CHONGMING)
    assert city_api.get("/api/auth/me", headers=chongming).json()["district"] == CHONGMING

    listed = city_api.get("/api/projects", headers=chongming)
    assert listed.status_code == 200, listed.text
    assert [f["properties"]["registration_code"] for f in listed.json()["features"]] == ["CM-1"]
    everything = city_api.get("/api/projects", headers=city).json()["features"]
    assert sorted(f["properties"]["registration_code"] for f in everything) == ["CM-1", "PD-1"]

    assert city_api.get(f"/api/projects/{ids['PD-1']}", headers=chongming).status_code == 404
    for path in ("/api/pipelines", "/api/conflicts", "/api/alerts", "/api/permits"):
        mine, all_ = (city_api.get(path, headers=h) for h in (chongming, city))
        assert mine.status_code == 200 and all_.status_code == 200, (path, mine.text)
        assert "CM-" in mine.text and "PD-" not in mine.text, (path, mine.text)
        assert "PD-" in all_.text, path
    pipes = city_api.get("/maps/data/pipelines?bbox=120.8,30.6,122.2,31.9&zoom=14", headers=chongming)
    assert pipes.status_code == 200 and "PD-P1" not in pipes.text and "CM-P1" in pipes.text, pipes.text
    assert city_api.get(f"/api/projects/{ids['CM-1']}", headers=chongming).status_code == 200

    whole = "120.8,30.6,122.2,31.9"
    mapped = city_api.get(f"/maps/data/projects?bbox={whole}&zoom=12&view=permits", headers=chongming)
    assert mapped.status_code == 200, mapped.text
    codes = {f["properties"].get("code") or f["properties"].get("id") for f in mapped.json()["features"]}
    assert "PD-1" not in str(mapped.json()) and codes
    assert city_api.get(f"/maps/data/projects/{ids['PD-1']}/popup?view=permits",
                        headers=chongming).status_code == 404

    # A site in another district is refused with the reason, and nothing is stored.
    r = city_api.post("/api/projects", json=site_feature("PD-2", 121.63, 31.21), headers=chongming)
    assert r.status_code == 403 and "浦东新区" in r.json()["detail"] and "崇明区" in r.json()["detail"]
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM construction_project")).scalar_one() == 2


def test_users_api_takes_a_district_and_refuses_an_unknown_one(city_api, db_engine):
    from layers.db import session_factory
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        create_user(session, "root-admin", PASSWORD, "admin")
    token = city_api.post("/api/auth/token", data={"username": "root-admin", "password": PASSWORD})
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    made = city_api.post("/api/users", headers=admin, json={
        "username": "pd-office", "password": PASSWORD, "role": "inspector", "district": "浦东新区"})
    assert made.status_code == 201 and made.json()["district"] == PUDONG, made.text
    bad = city_api.post("/api/users", headers=admin, json={
        "username": "xx-office", "password": PASSWORD, "role": "gas_office", "district": "火星区"})
    assert bad.status_code == 422 and "字段 district" in bad.json()["detail"]
    moved = city_api.patch(f"/api/users/{made.json()['id']}", headers=admin, json={"district": "310151"})
    assert moved.status_code == 200 and moved.json()["district"] == CHONGMING, moved.text
    assert moved.json()["tokens_revoked"] == 0  # never signed in
    # An account manager scoped to a district manages that district's users only.
    with session_factory(db_engine).begin() as session:
        create_user(session, "cm-admin", PASSWORD, "admin", district=CHONGMING)
    token = city_api.post("/api/auth/token", data={"username": "cm-admin", "password": PASSWORD})
    cm_admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    other = city_api.post("/api/users", headers=cm_admin, json={
        "username": "pd2", "password": PASSWORD, "role": "inspector", "district": PUDONG})
    assert other.status_code == 403 and "崇明区" in other.json()["detail"]
    own = city_api.post("/api/users", headers=cm_admin, json={
        "username": "cm2", "password": PASSWORD, "role": "inspector", "district": CHONGMING})
    assert own.status_code == 201, own.text


def test_row_level_security_fails_safe_and_survives_a_query_without_filter(database_url, two_districts):
    """Under the server's role: nothing without a setting; a missing filter still stays in the district."""
    engine = make_engine(database_url, act_as=APP_ROLE)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == APP_ROLE
            for table in ("construction_project", "pipeline_conflict", "permit", "alert"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
            conn.rollback()
            conn.execute(text("SELECT set_config('gisapp.district', :d, true)"), {"d": CHONGMING})
            # The bug: a list query that forgot the district (and every other) filter.
            leaked = conn.execute(text("SELECT registration_code FROM construction_project")).scalars().all()
            assert leaked == ["CM-1"]
            # Writing into another district is refused by the database itself.
            with pytest.raises(Exception, match="row-level security"):
                conn.execute(text(
                    "UPDATE construction_project SET geom = ST_Multi(ST_Buffer(ST_SetSRID("
                    "ST_MakePoint(121.62, 31.2), 4490), 0.001)) WHERE registration_code = 'CM-1'"))
            conn.rollback()
    finally:
        engine.dispose()


def test_district_role_sees_only_its_district_whatever_it_sets(database_url, db_engine, two_districts):
    with db_engine.begin() as conn:
        role, password = create_district_role(conn, CHONGMING)
    url = make_url(database_url)
    conn = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user=role,
                            password=password)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT registration_code FROM construction_project")
            assert [r[0] for r in cur.fetchall()] == ["CM-1"]
            cur.execute("SET gisapp.district = '*'")
            cur.execute("SELECT registration_code FROM construction_project")
            assert [r[0] for r in cur.fetchall()] == ["CM-1"]
            cur.execute(f"SET gisapp.district = '{PUDONG}'")
            cur.execute("SELECT count(*) FROM construction_project")
            assert cur.fetchone()[0] == 0
            with pytest.raises(psycopg2.Error):
                cur.execute("DELETE FROM construction_project")
    finally:
        conn.close()


def test_spatial_indexes_still_serve_queries_under_row_level_security(database_url):
    """PostGIS predicates are LEAKPROOF (migration 0013), so the policy does not force a scan."""
    engine = make_engine(database_url, act_as=APP_ROLE)
    site = "ST_Transform(ST_SetSRID(ST_MakePoint(121.55, 31.62), 4490), 990001)"
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table: ask what it *can* use
            conn.execute(text("SELECT set_config('gisapp.district', '*', true)"))
            plan = "\n".join(conn.execute(text(
                f"EXPLAIN SELECT id FROM gas_pipeline WHERE ST_DWithin(geom_m, {site}, 50)")).scalars())
            bbox = "\n".join(conn.execute(text(
                "EXPLAIN SELECT id FROM construction_project "
                "WHERE geom && ST_MakeEnvelope(121.5, 31.6, 121.6, 31.7, 4490)")).scalars())
    finally:
        engine.dispose()
    assert "ix_gas_pipeline_geom_m" in plan, plan
    assert "Index" in bbox and "construction_project" in bbox, bbox
