"""Vector tiles of the pipelines (``/api/tiles/pipelines/{z}/{x}/{y}.mvt``), decoded.

Each role's tile holds exactly what that role reaches through the pipeline API: the
office everything, a builder only the pipelines near its own sites, a pipeline owner its
own network, a district office its district. Bad addresses are refused in Chinese.
"""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.overview import refresh_overview
from layers.services.tiles import ALL_CLASSES_ZOOM
from tests.api.test_api_districts import CHONGMING, _user, city_api, two_districts  # noqa: F401
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

LON, LAT = 121.40, 31.6299  # on HP-T1 of ``stored_network``
OTHER_OWNER = "上海崇明燃气有限公司"  # MP-T1's owner


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The Web Mercator tile (z, x, y) holding lon/lat."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def codes(client, headers, z: int, x: int, y: int) -> set[str]:
    r = client.get(f"/api/tiles/pipelines/{z}/{x}/{y}.mvt", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"].startswith("private")
    layers = mapbox_vector_tile.decode(r.content)
    if not r.content:
        return set()
    assert set(layers) == {"pipelines"}
    features = layers["pipelines"]["features"]
    for f in features:  # every feature is a line in tile units, with its attributes
        assert f["geometry"]["type"] in ("LineString", "MultiLineString")
        if z >= ALL_CLASSES_ZOOM:
            assert {"code", "pressure_class", "dn", "status"} <= set(f["properties"])
        else:  # a low-zoom tile: the class, and the id a click looks up
            assert set(f["properties"]) == {"pressure_class"}
    if z >= ALL_CLASSES_ZOOM:
        return {f["properties"]["code"] for f in features}
    # The same user reaches each of them through the pipeline API (as the page's click does).
    found = set()
    for f in features:
        one = client.get(f"/api/pipelines/{f['id']}", headers=headers)
        assert one.status_code == 200, one.text
        assert one.json()["properties"]["pressure_class"] == f["properties"]["pressure_class"]
        found.add(one.json()["properties"]["external_code"])
    return found


@pytest.fixture()
def api(database_url, clean_db):
    """The app without its overview refresh: these tests say when the merged mains are rebuilt
    (a server rebuilds them every few seconds, which would race the tests' reads)."""
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None, overview_refresh_interval_s=0), database_url=database_url)
    with TestClient(app) as client:
        yield client


@pytest.fixture()
def crowded(stored_network):
    """The stored network, plus a high-pressure main 330 m north of HP-T1 (far from any site)."""
    with stored_network.begin() as conn:
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) VALUES ('FAR-HP', 'high_b', 2.0, 508, :owner, "
            "ST_GeomFromText('MULTILINESTRING((121.38 31.633, 121.42 31.633))', 4490))"),
            {"owner": OTHER_OWNER})
    return stored_network


def test_office_tile_holds_the_network_and_low_zooms_only_the_major_mains(api, login, crowded):
    office = login("gas_office")
    z, x, y = tile_of(LON, 31.631, 15)
    assert codes(api, office, z, x, y) == {"HP-T1", "FAR-HP"}
    assert "MP-T1" in codes(api, office, *tile_of(LON, 31.64, 15))
    # Below zoom 14 only sub-high pressure and above, as the GeoJSON map data.
    assert codes(api, office, *tile_of(LON, 31.635, 11)) == {"HP-T1", "FAR-HP"}
    # A tile far from the network is empty, not an error.
    assert codes(api, office, *tile_of(100.0, 10.0, 12)) == set()
    # The page's widest zoom (8) carries the mains too.
    assert codes(api, office, *tile_of(LON, LAT, 8)) == {"HP-T1", "FAR-HP"}


def test_low_zoom_geometry_is_simplified_to_the_tile_grid(api, login, crowded):
    office = login("gas_office")
    with crowded.begin() as conn:  # a wiggly main: 400 vertices over 4 km
        wiggle = conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) SELECT 'WIGGLE', 'high_a', 4.0, 610, '甲燃气', "
            "ST_Multi(ST_MakeLine(ST_MakePoint(121.45 + i * 0.0001, 31.70 + (i % 2) * 0.00001) "
            "ORDER BY i)) FROM generate_series(0, 399) i RETURNING id")).scalar_one()
    coarse = mapbox_vector_tile.decode(api.get(
        "/api/tiles/pipelines/{}/{}/{}.mvt".format(*tile_of(121.47, 31.70, 10)), headers=office).content)
    fine = mapbox_vector_tile.decode(api.get(
        "/api/tiles/pipelines/{}/{}/{}.mvt".format(*tile_of(121.4701, 31.70, 21)), headers=office).content)

    def vertices(layers, code):  # found by its id (a low-zoom tile carries no codes)
        (f,) = [f for f in layers["pipelines"]["features"] if f["id"] == wiggle]
        coords = f["geometry"]["coordinates"]
        return len(coords) if f["geometry"]["type"] == "LineString" else sum(map(len, coords))

    assert vertices(coarse, "WIGGLE") <= 4  # a 1 m zig-zag is invisible at zoom 10
    assert vertices(fine, "WIGGLE") >= 2


def test_builder_tile_holds_only_pipelines_near_its_own_sites(api, login, crowded):
    builder, other = login("builder", "甲公司"), login("builder", "乙公司")
    r = api.post("/api/projects", json=site_feature("CM-T1", LON, LAT), headers=builder)
    assert r.status_code == 201, r.text
    for z in (11, 15, 18):
        seen = codes(api, builder, *tile_of(LON, LAT, z))
        assert seen == {"HP-T1"}, (z, seen)  # never the far main in the same tile
    assert codes(api, builder, *tile_of(LON, LAT, 8)) == {"HP-T1"}
    # Another builder without sites sees no pipeline at all.
    assert codes(api, other, *tile_of(LON, LAT, 15)) == set()
    assert codes(api, other, *tile_of(LON, LAT, 8)) == set()


def test_builder_tile_is_capped_as_the_pipeline_api(database_url, db_engine, clean_db, crowded):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings
    from layers.db import session_factory
    from layers.services.users import create_user

    app = create_app(Settings(_env_file=None, builder_max_visible_pipelines=1), database_url=database_url)
    with session_factory(db_engine).begin() as session:
        create_user(session, "b-tile", "correct-horse-battery", "builder", "甲公司")
    with TestClient(app) as client:
        token = client.post("/api/auth/token", data={"username": "b-tile",
                                                     "password": "correct-horse-battery"}).json()
        builder = {"Authorization": f"Bearer {token['access_token']}"}
        # A site touching both HP-T1 and MP-T1: the builder reaches one segment only.
        r = client.post("/api/projects", json=site_feature("CM-TWO", 121.40, 31.6299, 0.0005,
                                                           0.0105), headers=builder)
        assert r.status_code == 201, r.text
        listed = {f["properties"]["external_code"] if "external_code" in f["properties"]
                  else f["properties"].get("id") for f in
                  client.get("/api/pipelines", headers=builder).json()["features"]}
        assert len(listed) == 1
        seen = codes(client, builder, *tile_of(LON, LAT, 8)) | codes(client, builder,
                                                                  *tile_of(LON, 31.635, 14))
        assert len(seen) == 1


def test_owner_tile_holds_only_its_own_network(api, login, crowded):
    owner = login("utility", "上海天然气管网有限公司")
    other = login("utility", OTHER_OWNER)
    assert codes(api, owner, *tile_of(LON, 31.631, 15)) == {"HP-T1"}
    assert codes(api, owner, *tile_of(LON, LAT, 8)) == {"HP-T1"}
    assert codes(api, other, *tile_of(LON, 31.631, 15)) == {"FAR-HP"}
    assert "HP-T1" not in codes(api, other, *tile_of(LON, LAT, 8))


def test_after_a_refresh_the_office_gets_merged_mains_and_scoped_users_their_own(
        api, login, db_engine, crowded):
    """The low-zoom overview (layers.services.overview) serves who sees the whole network;
    an owner's or a builder's tile stays its own segments, with their ids."""
    with session_factory(db_engine).begin() as session:
        assert refresh_overview(session) == 2  # HP-T1 and FAR-HP's writes
    office, owner = login("gas_office"), login("utility", "上海天然气管网有限公司")
    for z in (8, 11):
        r = api.get("/api/tiles/pipelines/{}/{}/{}.mvt".format(*tile_of(LON, LAT, z)), headers=office)
        features = mapbox_vector_tile.decode(r.content)["pipelines"]["features"]
        # HP-T1 and FAR-HP: one cell, one class, not end to end: one feature of two lines.
        assert [(f["properties"], f["geometry"]["type"]) for f in features] == [
            ({"pressure_class": "high_b", "segments": 2}, "MultiLineString")]
        assert codes(api, owner, *tile_of(LON, LAT, z)) == {"HP-T1"}
    assert codes(api, office, *tile_of(LON, 31.631, 15)) == {"HP-T1", "FAR-HP"}


def test_admin_and_strangers_get_no_tile(api, login, crowded):
    r = api.get("/api/tiles/pipelines/0/0/0.mvt")
    assert r.status_code == 401
    r = api.get("/api/tiles/pipelines/0/0/0.mvt", headers=login("admin"))
    assert r.status_code == 403 and "瓦片" in r.json()["detail"]


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/api/tiles/pipelines/23/0/0.mvt", 422, "缩放级别 z"),
    ("/api/tiles/pipelines/-1/0/0.mvt", 422, "缩放级别 z"),
    ("/api/tiles/pipelines/3/8/0.mvt", 422, "列号 x"),
    ("/api/tiles/pipelines/3/0/8.mvt", 422, "行号 y"),
    ("/api/tiles/pipelines/3/-1/0.mvt", 422, "列号 x"),
    ("/api/tiles/pipelines/99999999999999999999/0/0.mvt", 422, "缩放级别 z"),
    ("/api/tiles/roads/3/0/0.mvt", 404, "roads"),
    ("/api/tiles/pipelines/a/0/0.mvt", 422, None),
])
def test_bad_tile_addresses_are_refused_in_chinese(api, login, crowded, path, status, words):
    office = login("gas_office")
    before = api.get("/api/pipelines", headers=office).json()["numberMatched"]
    r = api.get(path, headers=office)
    assert r.status_code == status, r.text
    detail = str(r.json()["detail"])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in detail), detail
    if words:
        assert words in detail, detail
    assert api.get("/api/pipelines", headers=office).json()["numberMatched"] == before


def test_district_office_tile_holds_only_its_district(city_api, db_engine, two_districts):  # noqa: F811
    city, _ = two_districts
    chongming = _user(city_api, db_engine, "cm-tiles", CHONGMING)
    assert codes(city_api, city, *tile_of(LON, LAT, 8)) == set()  # medium pressure: not at zoom 8
    everywhere = set()
    mine = set()
    for lon, lat in ((121.55, 31.62), (121.62, 31.20)):
        everywhere |= codes(city_api, city, *tile_of(lon, lat, 15))
        mine |= codes(city_api, chongming, *tile_of(lon, lat, 15))
    assert everywhere == {"CM-P1", "PD-P1"}
    assert mine == {"CM-P1"}


def test_map_page_uses_tiles_only_from_the_threshold(api, crowded):
    """Three segments are under the default threshold: GeoJSON, no tile library on the page."""
    html = api.get("/maps/permits").text
    assert "/api/tiles/" not in html and "vectorgrid" not in html.lower()
    assert "/maps/data/pipelines" in html


def test_map_page_of_a_large_network_names_the_tiles(database_url, clean_db, crowded):
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None, map_tiles_from_segments=0), database_url=database_url)
    with TestClient(app) as client:
        html = client.get("/maps/permits").text
    assert "/api/tiles/pipelines/{z}/{x}/{y}.mvt" in html
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in html
    # The library is served from this app with its licence, and listed.
    with TestClient(app) as client:
        vendored = "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"
        assert client.get(vendored).status_code == 200
        assert "BEER-WARE" in client.get("/static/vendor/leaflet.vectorgrid/LICENSE").text
