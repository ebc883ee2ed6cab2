"""Township labels on the supervision map: permanent for a few townships, on hover for many.

Shanghai's sample has 605 townships: as many permanent labels overlapped at every zoom
that shows them all, and each cost the browser a layout. Above ``LABEL_LIMIT`` (60) in
``maps.js`` the choropleth's figures come as the pointer's tooltip instead.
"""

from __future__ import annotations

import pytest

import geopandas as gpd
from shapely.geometry import box

from layers.db import session_factory
from layers.importer import load_townships
from tests.maps.test_browser_maps import (  # noqa: F401  (fixtures)
    PASSWORD,
    USER,
    _login,
    _settled,
    _truncate,
    browser,
    page,
)
from tests.servers import live_server

pytestmark = pytest.mark.postgis

COLUMNS, ROWS = 10, 7  # 70 townships of 0.03 degrees over Chongming


@pytest.fixture(scope="module")
def server(database_url, db_engine):
    from gisapp.api.app import create_app
    from gisapp.settings import Settings
    from layers.services.users import create_user

    names = [f"测试镇{i:02d}" for i in range(COLUMNS * ROWS)]
    squares = [box(121.45 + c * 0.03, 31.55 + r * 0.03, 121.48 + c * 0.03, 31.58 + r * 0.03)
               for r in range(ROWS) for c in range(COLUMNS)]
    frame = gpd.GeoDataFrame({"code": [f"T{i:02d}" for i in range(len(names))], "name": names,
                              "synthetic": True}, geometry=squares, crs="EPSG:4490")
    with session_factory(db_engine).begin() as session:
        load_townships(session, frame, source="test")
        create_user(session, USER, PASSWORD, "gas_office", None)
    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url
    _truncate(db_engine)


def test_seventy_townships_are_labelled_on_hover_not_permanently(page, server):  # noqa: F811
    page.goto(f"{server}/maps/supervision")
    _login(page)
    _settled(page, 2)
    choropleth = page.evaluate("""() => { var n = 0; GisMaps.groups.choropleth.eachLayer(function (g) {
        g.eachLayer(function () { n += 1; }); }); return n; }""")
    assert choropleth == COLUMNS * ROWS
    assert page.locator(".gis-label").count() == 0  # no permanent label
    # The middle of a township away from the page's controls: its name and figures on hover.
    point = page.evaluate("""() => {
        var p = GisMaps.map.latLngToContainerPoint([31.565 + 3 * 0.03, 121.465 + 5 * 0.03]),
            r = GisMaps.map.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""")
    page.mouse.move(point[0] - 5, point[1])
    page.mouse.move(*point, steps=3)
    page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip")
    text = page.inner_text(".leaflet-tooltip-pane")
    assert "测试镇35：无在建燃气工程" in text, text
