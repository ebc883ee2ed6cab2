"""A base map from a file the office provides (MBTiles or PMTiles), served on the intranet.

The district office's network has no internet, so a tile URL on the internet shows
nothing. A raster tile archive (MBTiles: SQLite; PMTiles: one file) copied to the server
gives every map page a base layer. Only raster tiles (PNG, JPEG, WebP): Leaflet draws
those without a vector renderer.
"""

from __future__ import annotations

import gzip
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from spatial_rules.errors import DomainError

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_PMTILES_TYPES = {2: "png", 3: "jpg", 4: "webp"}  # header tile_type
TILE_PATH = "/maps/basemap/{z}/{x}/{y}"


class BasemapError(DomainError):
    """The base map file cannot be used (missing, not a tile archive, vector tiles)."""


@dataclass(frozen=True)
class BasemapInfo:
    """What the pages need: media type, zoom range and the credit to show."""

    media_type: str
    min_zoom: int
    max_zoom: int
    attribution: str
    name: str


class Basemap:
    """Read tiles from an MBTiles or PMTiles file (thread-safe, read-only)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` and read its metadata; raise BasemapError when it is unusable."""
        self.path = Path(path)
        if not self.path.is_file():
            raise BasemapError(f"底图文件 {self.path} 不存在（GISAPP_BASEMAP_FILE）")
        self._lock = threading.Lock()
        suffix = self.path.suffix.lower()
        if suffix == ".mbtiles":
            self._open_mbtiles()
        elif suffix == ".pmtiles":
            self._open_pmtiles()
        else:
            raise BasemapError(f"底图文件 {self.path.name}：只支持 .mbtiles 或 .pmtiles")

    def _open_mbtiles(self) -> None:
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            meta = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
            self._db.execute("SELECT 1 FROM tiles LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BasemapError(f"底图文件 {self.path.name} 不是有效的 MBTiles（{exc}）") from exc
        fmt = (meta.get("format") or "png").lower()
        self.info = self._info(fmt, meta.get("minzoom"), meta.get("maxzoom"), meta.get("attribution"),
                               meta.get("name"))
        self._get = self._mbtiles_tile

    def _open_pmtiles(self) -> None:
        import mmap

        from pmtiles.reader import Reader

        self._file = self.path.open("rb")
        try:
            mapping = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._reader = Reader(lambda offset, length: mapping[offset:offset + length])
            header = self._reader.header()
            meta = self._reader.metadata()
        except Exception as exc:  # the pmtiles reader raises several types on a bad file
            raise BasemapError(f"底图文件 {self.path.name} 不是有效的 PMTiles（{exc}）") from exc
        def number(value):  # the reader gives enums, older versions ints
            return getattr(value, "value", value)

        fmt = _PMTILES_TYPES.get(number(header.get("tile_type")), "pbf")
        self._pmtiles_gzip = number(header.get("tile_compression")) == 2
        self.info = self._info(fmt, header.get("min_zoom"), header.get("max_zoom"),
                               meta.get("attribution"), meta.get("name"))
        self._get = self._pmtiles_tile

    def _info(self, fmt, min_zoom, max_zoom, attribution, name) -> BasemapInfo:
        if fmt not in MEDIA_TYPES:
            raise BasemapError(f"底图文件 {self.path.name} 是 {fmt} 瓦片：只支持栅格瓦片（png、jpg、webp）")
        return BasemapInfo(MEDIA_TYPES[fmt], int(min_zoom or 0), int(max_zoom or 18),
                           str(attribution or ""), str(name or self.path.stem))

    def _mbtiles_tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:  # one sqlite connection shared by the worker's threads
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),  # MBTiles rows count from the south (TMS)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _pmtiles_tile(self, z: int, x: int, y: int) -> bytes | None:
        data = self._reader.get(z, x, y)
        if data is not None and self._pmtiles_gzip:
            data = gzip.decompress(data)
        return data

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return the tile at z/x/y (XYZ, y from the north), or None where the file has none."""
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        return self._get(z, x, y)
