"""A base map from the office's own MBTiles or PMTiles file, with no internet.

Tile archives are built here (solid-colour PNG tiles over Chongming), served by the real
app, and shown in a real headless Chromium: the tiles come from 127.0.0.1 and the
credit is on the map.
"""

from __future__ import annotations

import html
import json
import math
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gisapp.api.app import create_app
from gisapp.settings import Settings
from maps.basemap import BasemapError
from tests.browsers import chromium
from tests.servers import live_server

pytestmark = pytest.mark.postgis

CREDIT = "崇明区测绘院 2026 底图"
ZOOMS = range(9, 12)


def solid_png(rgb=(200, 230, 201), size=256) -> bytes:
    """A valid PNG of one colour, built by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _tile_range(z: int):
    def tile(lon, lat):
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    (x0, y0), (x1, y1) = tile(121.0, 32.0), tile(122.4, 31.2)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def make_mbtiles(path: Path, fmt: str = "png") -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name text, value text)")
    db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, "
               "tile_data blob)")
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", "崇明底图"), ("format", fmt), ("minzoom", "9"), ("maxzoom", "11"),
        ("attribution", CREDIT)])
    png = solid_png()
    for z in ZOOMS:
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                       [(z, x, (1 << z) - 1 - y, png) for x, y in _tile_range(z)])
    db.commit()
    db.close()
    return path


def make_pmtiles(path: Path) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    png = solid_png((187, 222, 251))
    tiles = sorted((zxy_to_tileid(z, x, y), z) for z in ZOOMS for x, y in _tile_range(z))
    with write(str(path)) as writer:
        for tile_id, _z in tiles:
            writer.write_tile(tile_id, png)
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                         "min_zoom": 9, "max_zoom": 11, "min_lon_e7": 1210000000,
                         "min_lat_e7": 312000000, "max_lon_e7": 1224000000,
                         "max_lat_e7": 320000000, "center_zoom": 10,
                         "center_lon_e7": 1216000000, "center_lat_e7": 316000000},
                        {"name": "崇明底图", "attribution": CREDIT})
    return path


@pytest.mark.parametrize("make", [make_mbtiles, make_pmtiles])
def test_tiles_and_credit_are_served(database_url, clean_db, tmp_path, make):
    path = make(tmp_path / f"base{'.mbtiles' if make is make_mbtiles else '.pmtiles'}")
    app = create_app(Settings(_env_file=None, basemap_file=path), database_url=database_url)
    x, y = _tile_range(10)[0]
    with TestClient(app) as client:
        tile = client.get(f"/maps/basemap/10/{x}/{y}")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        assert tile.content.startswith(b"\x89PNG")
        outside = client.get("/maps/basemap/10/0/0")
        assert outside.status_code == 404 and "底图瓦片" in outside.json()["detail"]
        page = client.get("/maps/permits").text
        # The page hands its settings to the static script as escaped JSON in data-config.
        config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))
        assert config["tiles"]["url"] == "/maps/basemap/{z}/{x}/{y}"
        assert CREDIT in config["tiles"]["attribution"] and config["tiles"]["maxNativeZoom"]


def test_unusable_files_are_refused_at_start(tmp_path):
    with pytest.raises(BasemapError, match="不存在"):
        create_app(Settings(_env_file=None, basemap_file=tmp_path / "missing.mbtiles"))
    with pytest.raises(BasemapError, match="栅格瓦片"):
        create_app(Settings(_env_file=None, basemap_file=make_mbtiles(tmp_path / "v.mbtiles", "pbf")))
    (tmp_path / "junk.mbtiles").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(BasemapError, match="MBTiles"):
        create_app(Settings(_env_file=None, basemap_file=tmp_path / "junk.mbtiles"))


def test_map_page_draws_the_office_base_map_offline(database_url, clean_db, tmp_path):
    from layers.db import session_factory
    from layers.services.users import create_user

    with session_factory(clean_db).begin() as session:
        create_user(session, "office-basemap", "correct-horse-battery", "gas_office", None)
    app = create_app(Settings(_env_file=None, basemap_file=make_mbtiles(tmp_path / "base.mbtiles")),
                     database_url=database_url)
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        hosts, tiles = set(), []
        page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        page.on("response", lambda r: "/maps/basemap/" in r.url and tiles.append(r.status))
        # The map's data needs a session: log in once at /, which leads back to the map.
        page.goto(f"{base}/?next=/maps/permits")
        page.get_by_label("用户名").fill("office-basemap")
        page.get_by_label("密码").fill("correct-horse-battery")
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(lambda url: url.endswith("/maps/permits"))
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.leaflet-tile')]"
            ".some(i => i.complete && i.naturalWidth === 256)", timeout=20_000)
        assert 200 in tiles
        assert CREDIT in page.inner_text(".leaflet-control-attribution")
        assert hosts == {base.split("/")[2]}
