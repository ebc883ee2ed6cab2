"""OGC API – Features at /ogc: the interface itself, and GDAL's OAPIF driver as the real client.

A small world is built in the database: a grid of pipelines (more than one page), two
organisations' sites, a screening pass for conflicts, two townships. Counts read through
the API and through ``ogr2ogr`` are compared with counts the test asks the database for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from pyproj import Transformer

from layers.db import session_factory
from layers.screening_db import search_distance_m
from layers.services.features import WriteContext, screen_district
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature
from tests.servers import live_http as http
from tests.servers import live_server

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"
ORG_A, ORG_B = "甲建设集团", "乙市政公司"
N_PIPES = 30 * 41  # 1,230: more than one default page of 1,000


def _world(engine) -> None:
    with engine.begin() as conn:
        # A 30 x 41 grid of short east-west medium-pressure pipes, 0.002 deg apart.
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, owner, geom) "
            "SELECT format('G-%s-%s', i, j), CASE WHEN (i + j) % 5 = 0 THEN 'high_b' ELSE 'medium_a' END, "
            "160, '上海崇明燃气有限公司', ST_Multi(ST_MakeLine("
            "ST_Point(121.38 + i * 0.002, 31.60 + j * 0.002, 4490), "
            "ST_Point(121.3815 + i * 0.002, 31.60 + j * 0.002, 4490))) "
            "FROM generate_series(0, 29) i, generate_series(0, 40) j"))
        conn.execute(text(
            "INSERT INTO township (code, name, synthetic, geom) VALUES "
            "('T1', '城桥镇', true, ST_Multi(ST_MakeEnvelope(121.30, 31.55, 121.45, 31.70, 4490))), "
            "('T2', '新河镇', true, ST_Multi(ST_MakeEnvelope(121.45, 31.55, 121.60, 31.70, 4490)))"))
        sites = [(f"A-{k}", ORG_A, 121.3805 + k * 0.002, 31.6001) for k in range(3)]
        sites += [(f"B-{k}", ORG_B, 121.3805 + k * 0.002, 31.6601) for k in range(4)]
        for code, org, lon, lat in sites:
            geometry = json.dumps(site_feature(code, lon, lat, size_deg=0.0004)["geometry"])
            conn.execute(text(
                "INSERT INTO construction_project "
                "(registration_code, name, kind, status, organisation, geom) "
                "VALUES (:c, :n, 'housing', 'under_construction', :o, "
                "ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490)))"),
                {"c": code, "n": f"测试项目 {code}", "o": org, "g": geometry})
    with session_factory(engine).begin() as session:
        screen_district(session, WriteContext(actor=None, rule_set=load_rule_set("shanghai")))
        for name, role, org in (("office", "gas_office", None), ("builder-a", "builder", ORG_A),
                                ("admin", "admin", None), ("inspector", "inspector", None)):
            create_user(session, name, PASSWORD, role, org)


@pytest.fixture()
def ogc_server(database_url, clean_db):
    """The live app on a database holding the test world; yields (base URL, engine)."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _world(clean_db)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url, clean_db


def _token(base: str, username: str) -> str:
    answer = http.post(f"{base}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _builder_pipelines(engine) -> int:
    reach = search_distance_m(load_rule_set("shanghai"))
    return _count(engine, "SELECT count(*) FROM gas_pipeline g WHERE g.deleted_at IS NULL AND EXISTS "
                  "(SELECT 1 FROM construction_project p WHERE p.organisation = :o AND p.deleted_at IS NULL "
                  "AND ST_DWithin(p.geom_m, g.geom_m, :r))", o=ORG_A, r=reach)


def _walk(client: httpx.Client, url: str, headers: dict) -> list[dict]:
    """Follow next links to the end; return every feature."""
    features: list[dict] = []
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("application/geo+json")
        body = page.json()
        features += body["features"]
        assert body["numberReturned"] == len(body["features"])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return features


def _no_crs_member(value) -> bool:
    if isinstance(value, dict):
        return "crs" not in value and all(_no_crs_member(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_crs_member(v) for v in value)
    return True


def test_landing_conformance_openapi_are_public(ogc_server):
    base, _ = ogc_server
    landing = http.get(f"{base}/ogc")
    assert landing.status_code == 200
    rels = {link["rel"]: link["href"] for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    conformance = http.get(rels["conformance"]).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    api = http.get(rels["service-desc"])
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    items = api.json()["paths"]["/collections/pipelines/items"]["get"]["parameters"]
    names = {p["name"] for p in items}
    assert {"limit", "bbox", "bbox-crs", "crs", "pressure_class"} <= names
    assert http.get(rels["data"]).status_code == 401


def test_collections_by_role(ogc_server):
    base, _ = ogc_server
    office = {"Authorization": f"Bearer {_token(base, 'office')}"}
    listed = http.get(f"{base}/ogc/collections", headers=office).json()["collections"]
    assert [c["id"] for c in listed] == ["projects", "pipelines", "conflicts", "townships",
                                         "protection_bands", "control_bands"]
    assert "http://www.opengis.net/def/crs/EPSG/0/4549" in listed[0]["crs"]
    admin = {"Authorization": f"Bearer {_token(base, 'admin')}"}
    assert http.get(f"{base}/ogc/collections", headers=admin).json()["collections"] == []
    denied = http.get(f"{base}/ogc/collections/pipelines/items", headers=admin)
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]  # names the role
    missing = http.get(f"{base}/ogc/collections/nothing", headers=office)
    assert missing.status_code == 404 and "nothing" in missing.json()["detail"]


def test_paging_counts_and_visibility(ogc_server):
    base, engine = ogc_server
    office = {"Authorization": f"Bearer {_token(base, 'office')}"}
    builder = {"Authorization": f"Bearer {_token(base, 'builder-a')}"}
    with http.client() as client:
        first = client.get(f"{base}/ogc/collections/pipelines/items?limit=500", headers=office).json()
        assert first["numberMatched"] == N_PIPES and first["numberReturned"] == 500
        pipes = _walk(client, f"{base}/ogc/collections/pipelines/items?limit=500", office)
        assert len(pipes) == N_PIPES and len({f["id"] for f in pipes}) == N_PIPES
        assert _no_crs_member(pipes)
        # Full geometry: every vertex as stored.
        stored = _count(engine, "SELECT sum(ST_NPoints(geom)) FROM gas_pipeline")
        assert sum(len(line) for f in pipes for line in f["geometry"]["coordinates"]) == stored

        own = _walk(client, f"{base}/ogc/collections/projects/items", builder)
        assert sorted(f["properties"]["registration_code"] for f in own) == ["A-0", "A-1", "A-2"]
        near = _walk(client, f"{base}/ogc/collections/pipelines/items?limit=7", builder)
        assert 0 < len(near) == _builder_pipelines(engine) < N_PIPES
        conflicts = _walk(client, f"{base}/ogc/collections/conflicts/items", builder)
        assert conflicts and {f["properties"]["project_code"][0] for f in conflicts} == {"A"}
        bands = _walk(client, f"{base}/ogc/collections/protection_bands/items", builder)
        assert {f["id"] for f in bands} == {f["id"] for f in near}
        assert all(f["geometry"]["type"] == "MultiPolygon" for f in bands)
        hidden = next(f["id"] for f in pipes if f["id"] not in {n["id"] for n in near})
        one = client.get(f"{base}/ogc/collections/pipelines/items/{hidden}", headers=builder)
        assert one.status_code == 404
        seen = client.get(f"{base}/ogc/collections/pipelines/items/{hidden}", headers=office)
        assert seen.status_code == 200 and seen.json()["id"] == hidden


def test_filters_bbox_and_crs(ogc_server):
    base, engine = ogc_server
    office = {"Authorization": f"Bearer {_token(base, 'office')}"}
    with http.client() as client:
        high = _walk(client, f"{base}/ogc/collections/pipelines/items?pressure_class=high_b", office)
        stored_high = _count(engine, "SELECT count(*) FROM gas_pipeline WHERE pressure_class = 'high_b'")
        assert len(high) == stored_high
        box = "121.379,31.599,121.3855,31.6045"  # 3 x 3 pipes
        in_box = _walk(client, f"{base}/ogc/collections/pipelines/items?bbox={box}", office)
        expected = _count(engine, "SELECT count(*) FROM gas_pipeline WHERE ST_Intersects(geom, "
                          "ST_MakeEnvelope(121.379, 31.599, 121.3855, 31.6045, 4490))")
        assert len(in_box) == expected == 9

        # Gauss-Krüger CM 120E, northing first (EPSG axis order); a bbox in the same CRS.
        to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
        e0, n0 = to_gk.transform(121.379, 31.599)
        e1, n1 = to_gk.transform(121.3855, 31.6045)
        url = (f"{base}/ogc/collections/pipelines/items?crs=http://www.opengis.net/def/crs/EPSG/0/4549"
               f"&bbox-crs=EPSG:4549&bbox={n0},{e0},{n1},{e1}")
        gk = client.get(url, headers=office)
        assert gk.status_code == 200
        assert gk.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
        gk_features = gk.json()["features"]
        assert {f["id"] for f in gk_features} == {f["id"] for f in in_box}
        by_id = {f["id"]: f for f in in_box}
        for f in gk_features:
            lon, lat = by_id[f["id"]]["geometry"]["coordinates"][0][0]
            north, east = f["geometry"]["coordinates"][0][0]
            e, n = to_gk.transform(lon, lat)
            assert abs(north - n) < 0.001 and abs(east - e) < 0.001
        # EPSG:4490 is latitude first; zone 40 carries the zone number in front of the easting.
        lat_lon = client.get(f"{base}/ogc/collections/pipelines/items/{gk_features[0]['id']}"
                             "?crs=EPSG:4490", headers=office).json()
        lon, lat = by_id[gk_features[0]["id"]]["geometry"]["coordinates"][0][0]
        assert lat_lon["geometry"]["coordinates"][0][0] == pytest.approx([lat, lon], abs=1e-9)
        zone40 = client.get(f"{base}/ogc/collections/pipelines/items/{gk_features[0]['id']}"
                            "?crs=EPSG:4528", headers=office).json()
        assert 40_000_000 < zone40["geometry"]["coordinates"][0][0][1] < 41_000_000


@pytest.mark.parametrize("query, field", [
    ("limit=abc", "limit"), ("bbox=1,2,3", "bbox"), ("crs=EPSG:3857", "crs"),
    ("bbox-crs=EPSG:4549", "bbox-crs"), ("colour=red", "colour"), ("cursor=-1", "cursor"),
    ("name=x", "name"),
])
def test_bad_parameters_are_named(ogc_server, query, field):
    base, _ = ogc_server
    office = {"Authorization": f"Bearer {_token(base, 'office')}"}
    answer = http.get(f"{base}/ogc/collections/pipelines/items?{query}", headers=office)
    assert answer.status_code == 400
    assert f"参数 {field}" in answer.json()["detail"]


def test_api_geojson_has_no_crs_member(ogc_server):
    base, _ = ogc_server
    office = {"Authorization": f"Bearer {_token(base, 'office')}"}
    listed = http.get(f"{base}/api/pipelines?limit=5", headers=office)
    assert listed.headers["content-type"].startswith("application/geo+json")
    assert _no_crs_member(listed.json())
    one = http.get(f"{base}/api/projects/{listed.json()['features'][0]['id']}", headers=office)
    assert _no_crs_member(one.json())


# --- GDAL's OGC API Features driver, the client QGIS is built on -------------------------

needs_gdal = pytest.mark.skipif(shutil.which("ogr2ogr") is None,
                                reason="gdal-bin not installed (scripts/setup.sh installs it)")


def _gdal(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    config = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token}"] if token else []
    return subprocess.run([args[0], *config, *args[1:]], capture_output=True, text=True, timeout=300)


def _ogr2ogr_count(base: str, collection: str, token: str, out: Path) -> int:
    target = out / f"{collection}.geojson"
    done = _gdal("ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{base}/ogc", collection, token=token)
    assert done.returncode == 0, done.stderr
    return len(json.loads(target.read_text())["features"])


@needs_gdal
def test_gdal_lists_and_copies_whole_collections(ogc_server, tmp_path):
    base, engine = ogc_server
    office = _token(base, "office")
    listing = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc", token=office)
    assert listing.returncode == 0, listing.stderr
    for name in ("projects", "pipelines", "conflicts", "townships", "protection_bands", "control_bands"):
        assert name in listing.stdout
    assert _ogr2ogr_count(base, "pipelines", office, tmp_path) == N_PIPES
    assert _ogr2ogr_count(base, "projects", office, tmp_path) == 7
    open_conflicts = _count(engine, "SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NULL")
    assert _ogr2ogr_count(base, "conflicts", office, tmp_path) == open_conflicts > 0
    assert _ogr2ogr_count(base, "control_bands", office, tmp_path) == N_PIPES
    # Coordinates survive GDAL's reading of the storage CRS (EPSG:4490, latitude first).
    copied = json.loads((tmp_path / "pipelines.geojson").read_text())["features"]
    lon, lat = copied[0]["geometry"]["coordinates"][0][0] if copied[0]["geometry"]["type"] == \
        "MultiLineString" else copied[0]["geometry"]["coordinates"][0]
    assert 121.3 < lon < 121.5 and 31.5 < lat < 31.7

    builder = _token(base, "builder-a")
    assert _ogr2ogr_count(base, "projects", builder, tmp_path) == 3
    assert _ogr2ogr_count(base, "pipelines", builder, tmp_path) == _builder_pipelines(engine)
    refused = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc", "pipelines", token="wrong")
    assert refused.returncode != 0


@needs_gdal
def test_personal_access_token_for_desktop_gis(ogc_server, tmp_path):
    base, engine = ogc_server
    session_token = _token(base, "builder-a")
    auth = {"Authorization": f"Bearer {session_token}"}
    made = http.post(f"{base}/api/auth/personal-tokens", json={"name": "QGIS 办公室"}, headers=auth)
    assert made.status_code == 201, made.text
    pat = made.json()["token"]
    assert pat.startswith("gpat_")
    stored = _count(engine, "SELECT count(*) FROM personal_access_token WHERE token_sha256 = "
                    "encode(sha256(convert_to(:t, 'UTF8')), 'hex')", t=pat)
    assert stored == 1  # only the digest is kept
    assert _count(engine, "SELECT count(*) FROM personal_access_token WHERE token_sha256 = :t", t=pat) == 0
    assert _ogr2ogr_count(base, "projects", pat, tmp_path) == 3
    listed = http.get(f"{base}/api/auth/personal-tokens", headers=auth).json()
    assert [t["name"] for t in listed["tokens"]] == ["QGIS 办公室"] and "token" not in listed["tokens"][0]
    bad = http.post(f"{base}/api/auth/personal-tokens", json={"name": ""}, headers=auth)
    assert bad.status_code == 422 and "name" in bad.json()["detail"]
    revoked = http.delete(f"{base}/api/auth/personal-tokens/{made.json()['id']}", headers=auth)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    after = http.get(f"{base}/ogc/collections", headers={"Authorization": f"Bearer {pat}"})
    assert after.status_code == 401
    other = http.delete(f"{base}/api/auth/personal-tokens/{made.json()['id']}",
                         headers={"Authorization": f"Bearer {_token(base, 'office')}"})
    assert other.status_code == 404


def test_every_role_reads_exactly_the_collections_the_permission_table_grants(ogc_server):
    from layers.services.actors import Actor
    from layers.services.ogc import COLLECTIONS
    from layers.services.permissions import USER_ROLES, allowed, needs_organisation

    base, engine = ogc_server
    with session_factory(engine).begin() as session:
        for role in USER_ROLES:
            create_user(session, f"table-{role}", PASSWORD, role, ORG_A if needs_organisation(role) else None)
    for role in USER_ROLES:
        actor = Actor(None, f"table-{role}", role, ORG_A if needs_organisation(role) else None)
        headers = {"Authorization": f"Bearer {_token(base, f'table-{role}')}"}
        listed = http.get(f"{base}/ogc/collections", headers=headers).json()["collections"]
        granted = [cid for cid, spec in COLLECTIONS.items() if allowed(actor, spec.action)]
        assert [c["id"] for c in listed] == granted
        for cid in COLLECTIONS:
            answer = http.get(f"{base}/ogc/collections/{cid}/items?limit=1", headers=headers)
            assert answer.status_code == (200 if cid in granted else 403), (role, cid, answer.text)
            if answer.status_code == 403:
                assert role in answer.json()["detail"]
