"""Pipeline owners (``utility``) at /ogc with their own personal access tokens.

Two gas utilities each own a grid of pipelines; one site lies on each utility's network,
one straddles both, one lies on an ownerless pipe. Each utility creates a personal access
token (the ``account.token`` grant) and reads every collection with it: its own pipelines
and their bands, the open conflicts on them and the projects involved, never the other
utility's, whatever the paging, bbox, CRS, property filter or feature id asked for.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest
from sqlalchemy import text

from pyproj import Transformer

from layers.db import session_factory
from layers.services.features import WriteContext, screen_district
from layers.services.users import create_user
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature
from tests.servers import live_http as http
from tests.servers import live_server

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"
GAS_A, GAS_B = "甲燃气公司", "乙燃气公司"
LAT_A, LAT_B = 31.600, 31.610  # first row of each utility's grid
N_EACH = 5 * 4
# code -> (lon, lat, height in degrees): S-AB runs north from A's last row to B's first.
SITES = {"S-A": (121.3805, 31.5999, 0.0003), "S-B": (121.3805, 31.6099, 0.0003),
         "S-AB": (121.3835, 31.6059, 0.0042), "S-N": (121.3805, 31.6249, 0.0003),
         "S-FAR": (121.3805, 31.6400, 0.0003)}
SEEN_BY = {GAS_A: {"S-A", "S-AB"}, GAS_B: {"S-B", "S-AB"}}
COLLECTIONS = ["projects", "pipelines", "conflicts", "townships", "protection_bands", "control_bands"]


def _world(engine) -> None:
    with engine.begin() as conn:
        for owner, prefix, lat in ((GAS_A, "A", LAT_A), (GAS_B, "B", LAT_B)):
            # 5 x 4 short east-west medium-pressure pipes, 0.003 deg x 0.002 deg apart.
            conn.execute(text(
                "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, owner, geom) "
                "SELECT format('%s-%s-%s', CAST(:p AS text), i, j), 'medium_a', 160, :o, "
                "ST_Multi(ST_MakeLine("
                "ST_Point(121.38 + i * 0.003, :lat + j * 0.002, 4490), "
                "ST_Point(121.3815 + i * 0.003, :lat + j * 0.002, 4490))) "
                "FROM generate_series(0, 4) i, generate_series(0, 3) j"),
                {"p": prefix, "o": owner, "lat": lat})
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, geom) VALUES "
            "('N-0', 'medium_a', 160, "
            "ST_GeomFromText('MULTILINESTRING((121.38 31.625, 121.3815 31.625))', 4490))"))
        conn.execute(text(
            "INSERT INTO township (code, name, synthetic, geom) VALUES "
            "('T1', '城桥镇', true, ST_Multi(ST_MakeEnvelope(121.30, 31.55, 121.45, 31.70, 4490))), "
            "('T2', '新河镇', true, ST_Multi(ST_MakeEnvelope(121.45, 31.55, 121.60, 31.70, 4490)))"))
        for code, (lon, lat, height) in SITES.items():
            geometry = json.dumps(site_feature(code, lon, lat, size_deg=height, width_deg=0.0003)["geometry"])
            conn.execute(text(
                "INSERT INTO construction_project "
                "(registration_code, name, kind, status, organisation, geom) "
                "VALUES (:c, :n, 'housing', 'under_construction', '丙建设公司', "
                "ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490)))"),
                {"c": code, "n": f"测试项目 {code}", "g": geometry})
    with session_factory(engine).begin() as session:
        screen_district(session, WriteContext(actor=None, rule_set=load_rule_set("shanghai")))
        for name, role, org in (("office", "gas_office", None), ("gas-a", "utility", GAS_A),
                                ("gas-b", "utility", GAS_B)):
            create_user(session, name, PASSWORD, role, org)


@pytest.fixture()
def owners_server(database_url, clean_db):
    """The live app on the two utilities' world; yields (base URL, engine, personal tokens)."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    _world(clean_db)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base:
        tokens = {}
        for name, org in (("gas-a", GAS_A), ("gas-b", GAS_B)):
            login = http.post(f"{base}/api/auth/token", data={"username": name, "password": PASSWORD})
            assert login.status_code == 200, login.text
            made = http.post(f"{base}/api/auth/personal-tokens", json={"name": f"QGIS {name}"},
                              headers={"Authorization": f"Bearer {login.json()['access_token']}"})
            assert made.status_code == 201, made.text  # the utility role's account.token grant
            tokens[org] = made.json()
        yield base, clean_db, tokens


def _rows(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def _own_pipes(engine, owner: str) -> dict[int, str]:
    return dict(_rows(engine, "SELECT id, external_code FROM gas_pipeline WHERE owner = :o", o=owner))


def _auth(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['token']}"}


def _walk(client: httpx.Client, url: str, headers: dict) -> list[dict]:
    features: list[dict] = []
    first = True
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        if first:
            matched, first = body["numberMatched"], False
        features += body["features"]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(features) == matched == len({f["id"] for f in features})
    return features


def test_each_utility_reads_only_its_own_network_in_every_collection(owners_server):
    base, engine, tokens = owners_server
    assert len(_own_pipes(engine, GAS_A)) == len(_own_pipes(engine, GAS_B)) == N_EACH
    conflicts_by_owner = {owner: {r.id: (r.project, r.pipe) for r in _rows(
        engine, "SELECT c.id, p.registration_code AS project, g.external_code AS pipe "
        "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.closed_at IS NULL AND g.owner = :o",
        o=owner)} for owner in (GAS_A, GAS_B)}
    # The straddling site conflicts with both utilities' pipes; each sees its own conflict.
    for owner in (GAS_A, GAS_B):
        assert {project for project, _ in conflicts_by_owner[owner].values()} == SEEN_BY[owner]
    with http.client() as client:
        for owner, other in ((GAS_A, GAS_B), (GAS_B, GAS_A)):
            headers = _auth(tokens[owner])
            listed = client.get(f"{base}/ogc/collections", headers=headers).json()["collections"]
            assert [c["id"] for c in listed] == COLLECTIONS
            own = _own_pipes(engine, owner)
            read = {cid: _walk(client, f"{base}/ogc/collections/{cid}/items?limit=7", headers)
                    for cid in COLLECTIONS}
            assert {f["id"] for f in read["pipelines"]} == set(own)
            assert {f["properties"]["owner"] for f in read["pipelines"]} == {owner}
            for band in ("protection_bands", "control_bands"):
                assert {f["id"] for f in read[band]} == set(own)
                assert all(f["geometry"]["type"] == "MultiPolygon" for f in read[band])
            assert {f["properties"]["registration_code"] for f in read["projects"]} == SEEN_BY[owner]
            assert {f["id"]: (f["properties"]["project_code"], f["properties"]["pipeline_code"])
                    for f in read["conflicts"]} == conflicts_by_owner[owner]
            assert not {f["properties"]["pipeline_code"] for f in read["conflicts"]} \
                & set(_own_pipes(engine, other).values())
            assert len(read["townships"]) == 2  # district statistics: everyone's


def test_single_items_bbox_crs_and_filters_stay_within_the_owner(owners_server):
    base, engine, tokens = owners_server
    headers = _auth(tokens[GAS_A])
    own, others = _own_pipes(engine, GAS_A), _own_pipes(engine, GAS_B)
    ownerless = _rows(engine, "SELECT id FROM gas_pipeline WHERE owner IS NULL")[0].id
    project = dict(_rows(engine, "SELECT registration_code, id FROM construction_project"))
    conflict_on = {(r.code, r.owner): r.id for r in _rows(
        engine, "SELECT p.registration_code AS code, g.owner, c.id FROM pipeline_conflict c "
        "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id")}
    items = f"{base}/ogc/collections"
    with http.client() as client:
        def status(path: str) -> int:
            return client.get(f"{items}/{path}", headers=headers).status_code

        mine, theirs = min(own), min(others)
        for cid in ("pipelines", "protection_bands", "control_bands"):
            assert status(f"{cid}/items/{mine}") == 200
            assert status(f"{cid}/items/{mine}?crs=EPSG:4549") == 200
            assert status(f"{cid}/items/{theirs}") == 404, cid
            assert status(f"{cid}/items/{ownerless}") == 404, cid
        assert status(f"projects/items/{project['S-AB']}") == 200
        for code in ("S-B", "S-N", "S-FAR"):
            assert status(f"projects/items/{project[code]}") == 404, code
        assert status(f"conflicts/items/{conflict_on['S-AB', GAS_A]}") == 200
        assert status(f"conflicts/items/{conflict_on['S-AB', GAS_B]}") == 404
        assert status(f"conflicts/items/{conflict_on['S-B', GAS_B]}") == 404

        # A box over B's grid only: nothing of B's, only the straddling site A may see.
        b_box = "121.379,31.6095,121.40,31.617"
        for cid in ("pipelines", "protection_bands", "control_bands", "conflicts"):
            body = client.get(f"{items}/{cid}/items?bbox={b_box}", headers=headers).json()
            assert body["numberMatched"] == 0 and body["features"] == [], cid
        boxed = _walk(client, f"{items}/projects/items?bbox={b_box}", headers)
        assert [f["properties"]["registration_code"] for f in boxed] == ["S-AB"]
        # The same box in Gauss-Krüger (northing first), and a box over both grids.
        to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
        e0, n0 = to_gk.transform(121.379, 31.5995)
        e1, n1 = to_gk.transform(121.40, 31.617)
        both = _walk(client, f"{items}/pipelines/items?bbox-crs=EPSG:4549&bbox={n0},{e0},{n1},{e1}"
                     "&crs=EPSG:4549&limit=4", headers)
        assert {f["id"] for f in both} == set(own)

        # Property filters narrow within the scope, never widen it.
        for query, expected in ((f"owner={GAS_B}", set()), (f"owner={GAS_A}", set(own)),
                                (f"external_code={others[theirs]}", set()),
                                (f"external_code={own[mine]}", {mine})):
            found = _walk(client, f"{items}/pipelines/items?{query}", headers)
            assert {f["id"] for f in found} == expected, query
        for code, expected in ((others[theirs], set()), (own[mine], {mine})):
            bands = _walk(client, f"{items}/protection_bands/items?external_code={code}", headers)
            assert {f["id"] for f in bands} == expected, code
        on_site = _walk(client, f"{items}/conflicts/items?project_code=S-AB", headers)
        assert [f["id"] for f in on_site] == [conflict_on["S-AB", GAS_A]]
        b_pipe = next(f for f in _walk(client, f"{items}/conflicts/items", _auth(tokens[GAS_B]))
                      if f["properties"]["project_code"] == "S-AB")["properties"]["pipeline_code"]
        assert _walk(client, f"{items}/conflicts/items?pipeline_code={b_pipe}", headers) == []
        assert _walk(client, f"{items}/projects/items?registration_code=S-B", headers) == []


def test_utility_tokens_are_their_own(owners_server):
    base, _, tokens = owners_server
    a, b = tokens[GAS_A], tokens[GAS_B]
    # B cannot list or revoke A's token; A revokes it and it stops working at once.
    listed = http.get(f"{base}/api/auth/personal-tokens", headers=_auth(b)).json()["tokens"]
    assert [t["name"] for t in listed] == ["QGIS gas-b"]
    assert http.delete(f"{base}/api/auth/personal-tokens/{a['id']}", headers=_auth(b)).status_code == 404
    assert http.get(f"{base}/ogc/collections", headers=_auth(a)).status_code == 200
    revoked = http.delete(f"{base}/api/auth/personal-tokens/{a['id']}", headers=_auth(a))
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert http.get(f"{base}/ogc/collections/pipelines/items", headers=_auth(a)).status_code == 401
    assert http.get(f"{base}/ogc/collections/pipelines/items", headers=_auth(b)).status_code == 200


@pytest.mark.skipif(shutil.which("ogr2ogr") is None,
                    reason="gdal-bin not installed (scripts/setup.sh installs it)")
def test_gdal_copies_only_the_utilitys_own_collections(owners_server, tmp_path):
    base, engine, tokens = owners_server
    for owner in (GAS_A, GAS_B):
        token = tokens[owner]["token"]
        for cid, expected in (("pipelines", set(_own_pipes(engine, owner).values())),
                              ("control_bands", set(_own_pipes(engine, owner).values()))):
            target = tmp_path / f"{cid}-{owner}.geojson"
            done = subprocess.run(
                ["ogr2ogr", "--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token}",
                 "-f", "GeoJSON", str(target), f"OAPIF:{base}/ogc", cid],
                capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            copied = json.loads(target.read_text())["features"]
            assert {f["properties"]["external_code"] for f in copied} == expected


def test_personal_token_as_basic_password_for_desktop_gis_on_reads_only(owners_server):
    """QGIS 3.22 (Debian 12) has Basic but no custom-header method: user name + token."""
    base, engine, tokens = owners_server
    token = tokens[GAS_A]["token"]
    url = f"{base}/ogc/collections/pipelines/items"
    answer = http.get(url, auth=("gas-a", token))
    assert answer.status_code == 200 and answer.json()["numberMatched"] == N_EACH
    for auth, expected in ((("gas-b", token), "用户名"), (("gas-a", PASSWORD), "个人访问令牌"),
                           (("gas-a", "gpat_not-a-token"), "令牌")):
        refused = http.get(url, auth=auth)
        assert refused.status_code == 401 and expected in refused.json()["detail"], auth
        assert refused.headers["www-authenticate"] == "Bearer"
    broken = http.get(url, headers={"Authorization": "Basic %%%"})
    assert broken.status_code == 401 and "Basic" in broken.json()["detail"]
    # Never a write: browsers replay Basic credentials without any CSRF check.
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM personal_access_token")).scalar_one()
    write = http.post(f"{base}/api/auth/personal-tokens", json={"name": "x"}, auth=("gas-a", token))
    assert write.status_code == 401 and "只能用于读取" in write.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM personal_access_token")).scalar_one() == before


@pytest.mark.skipif(shutil.which("ogr2ogr") is None,
                    reason="gdal-bin not installed (scripts/setup.sh installs it)")
def test_gdal_with_the_token_as_basic_password(owners_server, tmp_path):
    base, engine, tokens = owners_server
    target = tmp_path / "pipes.geojson"
    done = subprocess.run(
        ["ogr2ogr", "--config", "GDAL_HTTP_AUTH", "BASIC", "--config", "GDAL_HTTP_USERPWD",
         f"gas-b:{tokens[GAS_B]['token']}", "-f", "GeoJSON", str(target), f"OAPIF:{base}/ogc", "pipelines"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    copied = json.loads(target.read_text())["features"]
    assert {f["properties"]["external_code"] for f in copied} == set(_own_pipes(engine, GAS_B).values())
