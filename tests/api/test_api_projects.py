"""POST /api/projects screens in the same transaction and raises exactly one alert per conflict."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import site_feature

pytestmark = pytest.mark.postgis


def test_new_project_on_the_trunk_answers_201_with_conflicts_and_one_alert(api, login, stored_network):
    office = login("gas_office")
    with stored_network.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO township (code, name, geom) VALUES ('T1', '城桥镇', "
                "ST_GeomFromText('MULTIPOLYGON(((121.3 31.6, 121.5 31.6, 121.5 31.7, "
                "121.3 31.7, 121.3 31.6)))', 4490))"
            )
        )
    # 121.40, 31.63 lies on HP-T1: the site straddles the high-pressure main.
    r = api.post("/api/projects", json=site_feature("CM-API-1", 121.40, 31.6299), headers=office)
    assert r.status_code == 201, r.text
    conflicts = r.json()["conflicts"]
    assert [c["pipeline_id"] for c in conflicts] == ["HP-T1"]
    assert conflicts[0]["zone"] == "protection" and conflicts[0]["distance_m"] == 0.0
    assert conflicts[0]["pressure_class"] == "high_b"
    assert "保护" in conflicts[0]["required_action"]
    alerts = api.get("/api/alerts", headers=office).json()["alerts"]
    assert len(alerts) == 1 and alerts[0]["project_code"] == "CM-API-1"
    with stored_network.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM permit")).scalar() == 1
        assert conn.execute(text("SELECT township FROM construction_project")).scalar() == "城桥镇"


def test_moving_the_site_away_closes_the_conflict_without_deleting(api, login, stored_network):
    office = login("gas_office")
    created = api.post("/api/projects", json=site_feature("CM-API-2", 121.40, 31.6299), headers=office).json()
    moved = site_feature("CM-API-2", 121.40, 31.6500)
    r = api.put(f"/api/projects/{created['id']}", json=moved, headers=office)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["conflicts"] == []
    with stored_network.connect() as conn:
        closed = conn.execute(
            text("SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NOT NULL")
        ).scalar()
    assert closed == 1


def test_idempotency_key_replays_instead_of_writing_twice(api, login, stored_network):
    office = login("gas_office")
    headers = {**office, "Idempotency-Key": "retry-42"}
    body = site_feature("CM-API-3", 121.40, 31.6299)
    first = api.post("/api/projects", json=body, headers=headers)
    second = api.post("/api/projects", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["id"] == first.json()["id"]
    other = api.post("/api/projects", json=site_feature("CM-API-4", 121.40, 31.6299), headers=headers)
    assert other.status_code == 409
    assert len(api.get("/api/alerts", headers=office).json()["alerts"]) == 1


def test_swapped_coordinates_are_refused_and_nothing_is_stored(api, login, stored_network):
    office = login("gas_office")
    feature = site_feature("CM-API-5", 121.40, 31.6299)
    feature["geometry"]["coordinates"] = [[[lat, lon] for lon, lat in feature["geometry"]["coordinates"][0]]]
    r = api.post("/api/projects", json=feature, headers=office)
    assert r.status_code == 422
    assert "经纬度颠倒" in r.json()["detail"] and "CM-API-5" in r.json()["detail"]
    assert api.get("/api/projects", headers=office).json()["numberMatched"] == 0


def test_creation_is_audited_with_who_and_which_record_and_a_refused_duplicate_is_not(
    api, login, stored_network
):
    office = login("gas_office")
    created = api.post("/api/projects", json=site_feature("CM-AUD-1", 121.40, 31.6299), headers=office)
    assert created.status_code == 201, created.text
    again = api.post("/api/projects", json=site_feature("CM-AUD-1", 121.41, 31.6299), headers=office)
    assert again.status_code == 409 and "CM-AUD-1" in again.json()["detail"]
    with stored_network.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.username, u.role, a.entity, a.entity_id, a.detail FROM audit_log a "
            "JOIN app_user u ON u.id = a.user_id WHERE a.action = 'project.create'")).all()
    assert len(rows) == 1
    username, role, entity, entity_id, detail = rows[0]
    assert role == "gas_office" and username
    assert (entity, entity_id) == ("construction_project", str(created.json()["id"]))
    assert detail == {"code": "CM-AUD-1", "notes": []}


def _drop_other_connections(engine) -> int:
    """Terminate every other backend of this database, as a database restart would."""
    with engine.connect() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())


def test_a_creation_survives_lost_database_connections_and_reads_get_a_503_once(
    api, login, stored_network
):
    office = login("gas_office")
    assert api.get("/api/conflicts", headers=office).status_code == 200  # the pool is in use
    assert _drop_other_connections(stored_network) >= 1
    created = api.post("/api/projects", json=site_feature("CM-LOST-1", 121.40, 31.6299), headers=office)
    assert created.status_code == 201, created.text  # found dead at the token check, retried
    assert [c["pipeline_id"] for c in created.json()["conflicts"]] == ["HP-T1"]
    assert _drop_other_connections(stored_network) >= 1
    first = api.get("/api/conflicts", headers=office)
    again = api.get("/api/conflicts", headers=office)
    # A read is not retried (the app cannot know it is safe to repeat every route): 503.
    assert first.status_code == 503, first.text
    assert first.json()["detail"] == "数据库连接中断，请稍后重试"
    assert first.headers["Retry-After"] == "1"
    assert again.status_code == 200 and len(again.json()["conflicts"]) == 1


def test_the_project_list_is_a_geojson_feature_collection_with_a_next_link(api, login, stored_network):
    office = login("gas_office")
    for i in range(3):
        created = api.post("/api/projects", json=site_feature(f"CM-LIST-{i}", 121.38 + i * 0.01, 31.65),
                           headers=office)
        assert created.status_code == 201, created.text
    page = api.get("/api/projects", params={"limit": 2, "q": "CM-LIST"}, headers=office)
    assert page.status_code == 200
    assert page.headers["content-type"] == "application/geo+json"
    body = page.json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 3
    assert [f["properties"]["registration_code"] for f in body["features"]] == ["CM-LIST-0", "CM-LIST-1"]
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    (link,) = body["links"]
    assert link["rel"] == "next" and link["type"] == "application/geo+json" and "offset=2" in link["href"]
    last = api.get("/api/projects", params={"limit": 2, "offset": 2, "q": "CM-LIST"}, headers=office).json()
    assert last["numberReturned"] == 1 and last["links"] == []
