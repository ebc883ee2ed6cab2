"""A large network's pipelines drawn from vector tiles, in a real headless Chromium.

The server's threshold (``map_tiles_from_segments``) is lowered to 0 so that a small
network counts as large: the page loads Leaflet.VectorGrid, fetches /api/tiles/... with
its session cookie, draws the decoded features and never asks /maps/data/pipelines.
"""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.overview import refresh_overview
from tests.maps.test_browser_maps import (  # noqa: F401  (fixtures)
    PASSWORD,
    USER,
    _check_network,
    _login,
    _settled,
    _shot,
    _truncate,
    browser,
    page,
)
from tests.servers import live_server
from vocabulary import PressureClass

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def server(database_url, db_engine):
    """A server that draws every network from tiles, with mains across Chongming."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        # Ten east-west high-pressure mains across the island, and ten medium ones.
        session.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) SELECT 'T-' || cls || '-' || i, cls, 1.6, 323, '甲燃气', "
            "ST_Multi(ST_MakeLine(ST_MakePoint(121.30, 31.55 + i * 0.02 + off), "
            "ST_MakePoint(121.80, 31.55 + i * 0.02 + off))) FROM generate_series(1, 10) i, "
            "(VALUES ('high_b', 0.0), ('medium_a', 0.005)) c(cls, off)"))
        create_user(session, USER, PASSWORD, "gas_office", None)
        refresh_overview(session)  # the low-zoom tiles' merged mains (the server would, in seconds)
    app = create_app(Settings(_env_file=None, map_tiles_from_segments=0), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url
    _truncate(db_engine)


def test_overview_map_draws_the_pipelines_from_vector_tiles(page, server, tmp_path):  # noqa: F811
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    page.wait_for_function("() => GisMaps.status.tiles.pipelines === true && GisMaps.status.pending === 0",
                           timeout=20_000)
    # At the district's zoom only the ten high-pressure mains are in the tiles, merged per
    # ~5 km cell by the server's refresh (layers.services.overview).
    assert _merged_mains(page) == {"high_b": 10}
    tiles = [u for u in page.requests if "/api/tiles/pipelines/" in u and u.endswith(".mvt")]
    assert tiles, page.requests
    assert not [u for u in page.requests if "/maps/data/pipelines" in u]
    assert any("leaflet.vectorgrid" in u for u in page.requests)
    # Closer in, the medium-pressure network comes with the tiles of zoom 14.
    page.evaluate("() => GisMaps.map.setView([31.655, 121.55], 14, { animate: false })")
    page.wait_for_function("() => GisMaps.status.pending === 0 && GisMaps.status.loads >= 3",
                           timeout=20_000)
    classes = page.evaluate("""() => { var grid = null, out = {};
        GisMaps.groups.pipelines.eachLayer(function (l) { grid = l; });
        Object.values(grid._vectorTiles).forEach(function (t) {
          Object.values(t._features).forEach(function (f) {
            out[f.feature.properties.pressure_class] = true; }); });
        return Object.keys(out).sort(); }""")
    assert classes == ["high_b", "medium_a"]
    assert any("/api/tiles/pipelines/14/" in u for u in page.requests)
    _only_tiles_over_the_jurisdiction(page)
    # The township areas are preloaded by the page and taken by the script: asked once
    # since the page came back from the login.
    since = page.requests[max(i for i, u in enumerate(page.requests) if u.endswith("/maps/permits")):]
    assert len([u for u in since if u.endswith("/maps/data/township-areas")]) == 1, since
    _shot(page, tmp_path, "tiles-permits")
    _check_network(page, server)


def _merged_mains(page) -> dict[str, int]:  # noqa: F811
    """Per class, the segments the merged mains of the tiles on screen stand for.

    Every feature must be a merged one (``segments``), and each is counted once though a
    line reaches into several tiles.
    """
    seen = page.evaluate("""() => { var grid = null, out = {};
        GisMaps.groups.pipelines.eachLayer(function (l) { grid = l; });
        Object.values(grid._vectorTiles).forEach(function (t) {
          Object.keys(t._features).forEach(function (id) {
            out[id] = t._features[id].feature.properties; }); });
        return out; }""")
    assert seen and all(key.startswith("m") and p.get("segments") for key, p in seen.items()), seen
    total: dict[str, int] = {}
    for properties in seen.values():
        cls = properties["pressure_class"]
        total[cls] = total.get(cls, 0) + properties["segments"]
    return total


def _tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return (west, south, east, north) of a web-mercator tile."""
    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / 2**z))))
    return x / 2**z * 360 - 180, lat(y + 1), (x + 1) / 2**z * 360 - 180, lat(y)


def _only_tiles_over_the_jurisdiction(page) -> None:  # noqa: F811
    """Every tile asked for touches the page's tile bounds (the jurisdiction and its margin)."""
    (south, west), (north, east) = page.evaluate(
        "() => JSON.parse(document.getElementById('gis-map').getAttribute('data-config')).tileBounds")
    # The margin (2 km) is in them: wider than the district itself.
    assert west < 121.2 and east > 121.95 and south < 31.4 and north > 31.85
    for url in page.requests:
        found = re.search(r"/api/tiles/pipelines/(\d+)/(\d+)/(\d+)\.mvt", url)
        if found:
            w, s, e, n = _tile_lonlat(*map(int, found.groups()))
            assert w <= east and e >= west and s <= north and n >= south, url


def test_a_zoomed_out_view_asks_only_for_the_tiles_over_the_jurisdiction(page, server):  # noqa: F811
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    # Zoom 8 over Chongming shows the Yangtze delta: sea and two provinces around it.
    page.evaluate("() => GisMaps.map.setView([31.6, 121.6], 8, { animate: false })")
    page.wait_for_function("() => GisMaps.status.pending === 0 && GisMaps.status.loads >= 3",
                           timeout=20_000)
    zoom8 = [u for u in page.requests if "/api/tiles/pipelines/8/" in u]
    assert zoom8 and len(zoom8) < 6, zoom8   # a 1280-px-wide view holds 24 or more
    _only_tiles_over_the_jurisdiction(page)
    assert _merged_mains(page) == {"high_b": 10}


def test_an_ended_session_sends_the_tile_map_to_the_login(page, server):  # noqa: F811
    """VectorGrid draws a refused tile as an empty one: the page must go to the login instead."""
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    page.wait_for_function("() => GisMaps.status.tiles.pipelines === true && GisMaps.status.pending === 0",
                           timeout=20_000)
    # Only the tiles are left to load: every GeoJSON layer is switched off, so a login
    # that follows can only come from a tile's answer.
    page.evaluate("""() => Object.keys(GisMaps.groups).forEach(function (k) {
        if (k !== 'pipelines') GisMaps.map.removeLayer(GisMaps.groups[k]); })""")
    refused = []
    page.on("response", lambda r: r.status == 401 and refused.append(r.url))
    page.context.clear_cookies()  # the session ended (expired, or logged out elsewhere)
    page.evaluate("() => GisMaps.map.setView([31.70, 121.45], 15, { animate: false })")
    page.wait_for_url("**/?next=*", timeout=20_000)
    assert refused and all("/api/tiles/pipelines/" in u for u in refused), refused
    assert "next=%2Fmaps%2Fpermits" in page.url or "next=/maps/permits" in page.url, page.url


def test_a_main_clicked_at_low_zoom_is_looked_up_by_place(page, server):  # noqa: F811
    """Low-zoom tiles carry merged mains without codes: the click asks the map data for the
    mains under it and names the nearest."""
    page.goto(f"{server}/maps/permits")
    _login(page)
    _settled(page, 2)
    page.evaluate("() => GisMaps.map.setView([31.57, 121.55], 12, { animate: false })")
    page.wait_for_function("() => GisMaps.status.pending === 0 && GisMaps.status.loads >= 3",
                           timeout=20_000)
    codes = page.evaluate("""() => { var grid = null, out = [];
        GisMaps.groups.pipelines.eachLayer(function (l) { grid = l; });
        Object.values(grid._vectorTiles).forEach(function (t) {
          Object.values(t._features).forEach(function (f) {
            out.push(f.feature.properties.code || null); }); });
        return out; }""")
    assert codes and set(codes) == {None}
    # The page's own canvas (projects, township areas) lies over the tiles: the click goes
    # through it to the map, which finds the main under it in the tile.
    point = page.evaluate("""() => { var p = GisMaps.map.latLngToContainerPoint([31.57, 121.55]),
        r = GisMaps.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""")
    with page.expect_response(lambda r: "/maps/data/pipelines?" in r.url) as answer:
        page.mouse.click(*point)
    assert answer.value.status == 200
    page.wait_for_selector(".leaflet-popup-content span")
    # The class by its Chinese name (the page's code -> label map), not the raw code.
    assert PressureClass.HIGH_B.label == "高压B"
    assert page.inner_text(".leaflet-popup-content") == "T-high_b-1 高压B"
