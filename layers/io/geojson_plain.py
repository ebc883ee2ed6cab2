"""A plain GeoJSON FeatureCollection read without GDAL, as GDAL would read it.

GDAL's GeoJSON driver builds a json-c tree and an OGR feature per record: about 3 s of
CPU for the city sample's 130 MB of pipelines, the larger part of a ``gisapp screen``
of GeoJSON files. orjson and shapely's vectorised constructors read the same file in
about half that. Only a plain file takes this path: a FeatureCollection of features
without a top-level ``id``, all with the same property keys in the same order, each with
a (Multi)LineString or (Multi)Polygon of 2D positions (rings closed) and properties that
are text, numbers, booleans or null, a column never mixing them; a text column whose
first value looks like a date (GDAL types it as a date) only when every value is a
calendar date written YYYY-MM-DD (the form our exports and GDAL's write).
Anything else returns None and the file is read by GDAL as before, so problems and notes
keep their words; the result is the ``RawTable`` GDAL's reading gives (a test compares
the two on the sample files).
"""

from __future__ import annotations

import gc
import mmap
import operator
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from layers.io.raw import RawTable

_LINE_TYPES = ("LineString", "MultiLineString")
_POLYGON_TYPES = ("Polygon", "MultiPolygon")
# Text GDAL would type as a date, time or date-time field.
_DATE_LIKE = re.compile(r"^\s*(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}:\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXACT_INT = 2**53


class _NotPlain(Exception):
    """The file holds something only GDAL's reading gives the right answer for."""


def read_plain_geojson_file(
    file: Path, pick: Callable[[list[str]], list[str]] | None
) -> RawTable | None:
    """Return the raw table of a plain GeoJSON file, or None when it is not plain.

    The file is mapped, not read: orjson parses the page cache in place, without a copy
    of the whole file (130 MB for the city pipelines: a tenth of a second of page faults).
    """
    with open(file, "rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # an empty file cannot be mapped
            return read_plain_geojson(fh.read(), pick)
    with mapped, memoryview(mapped) as view:
        return read_plain_geojson(view, pick)


def read_plain_geojson(
    data: bytes | memoryview, pick: Callable[[list[str]], list[str]] | None
) -> RawTable | None:
    """Return the raw table of a plain GeoJSON file's bytes, or None when it is not plain.

    ``pick``: given every column, the ones to read (all when None).
    """
    if data[:3] == b"\xef\xbb\xbf":
        return None
    doc: object = None
    with _collector_paused():
        try:
            # orjson checks the UTF-8 and refuses NaN and Infinity (GDAL's reading names them).
            doc = orjson.loads(data)
            return _table(doc, pick)
        except (orjson.JSONDecodeError, ValueError, TypeError, RecursionError, _NotPlain):
            return None
        finally:
            # Freed while the collector is still off: alive when it is back on, the
            # parsed tree's millions of objects were all scanned by its next pass
            # (0.45 s of a city-size read).
            doc = None


_PAUSE_LOCK = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off while any thread parses (``gisapp screen`` reads two files at once).

    Millions of dicts, lists and floats, none in a reference cycle: the collector's passes
    over them would cost more than the parsing. It runs again when the last parse ends,
    not when the first does (the other file's parse would then pay those passes).
    """
    global _pauses, _was_enabled
    with _PAUSE_LOCK:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def _table(doc: object, pick: Callable[[list[str]], list[str]] | None) -> RawTable:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise _NotPlain
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise _NotPlain
    crs = _crs(doc.get("crs"))
    # Each check is one pass in C over every feature (``map`` of a method, ``set`` of the
    # results): a Python loop over 300,000 features cost a second of a city-size read.
    if set(map(type, features)) != {dict} or any(map(operator.contains, features, repeat("id"))):
        raise _NotPlain
    if set(map(dict.get, features, repeat("type"))) != {"Feature"}:
        raise _NotPlain
    geometries: list[Any] = list(map(dict.get, features, repeat("geometry")))
    if set(map(type, geometries)) != {dict}:
        raise _NotPlain
    properties: list[Any] = list(map(dict.get, features, repeat("properties")))
    kinds = set(map(type, properties))
    if not kinds <= {dict, type(None)}:
        raise _NotPlain
    if type(None) in kinds:
        properties = [{} if props is None else props for props in properties]
    # GDAL merges differing key orders of features by rules of its own: such a file
    # is GDAL's to read. Exported files repeat one set of keys, in one order.
    if len(set(map(tuple, properties))) != 1:
        raise _NotPlain
    every = [str(name) for name in properties[0]]
    wanted = set(every if pick is None else pick(every))
    chosen = [c for c in every if c in wanted]
    index = pd.RangeIndex(1, len(features) + 1)
    attributes = pd.DataFrame(
        {name: _series(_column(list(map(itemgetter(name), properties))), index) for name in chosen},
        index=index,
    )
    return RawTable(attributes, _geometries(geometries), crs, columns=every)


def _series(values: np.ndarray, index: pd.RangeIndex) -> pd.Series:
    # Text stays object dtype, as ``layers.io.raw`` keeps GDAL's (pandas would infer str).
    return pd.Series(values, index=index, dtype=object if values.dtype == object else None, copy=False)


def _crs(member: object) -> CRS:
    """Return the CRS GDAL reports: the named one of an old-style ``crs`` member, else WGS 84."""
    if member is None:
        return CRS.from_epsg(4326)
    if not isinstance(member, dict) or member.get("type") != "name":
        raise _NotPlain
    name = (member.get("properties") or {}).get("name")
    if not isinstance(name, str):
        raise _NotPlain
    try:
        return CRS.from_user_input(name)
    except CRSError:
        raise _NotPlain from None


def _column(values: list) -> np.ndarray:
    """Return the column as GDAL types it.

    Text (None when null), dates (NaT when null), booleans (float 1/0, NaN when null, as
    GDAL's integer subtype reads with nulls), int, or float (NaN when null).
    """
    types = set(map(type, values)) - {type(None)}
    if not types or types == {str}:
        first = next((v for v in values if v is not None), None)
        if first is not None and _DATE_LIKE.match(first):
            return _dates(values)
        return np.array(values, dtype=object)
    has_null = None in values
    if types == {bool}:
        if has_null:
            return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        return np.array(values, dtype=bool)
    if not types <= {int, float}:
        raise _NotPlain  # lists, objects, text mixed with numbers, booleans with numbers
    if types == {int} and not has_null:
        array = np.array(values, dtype=np.int64)
        if np.abs(array).max() >= _EXACT_INT:
            raise _NotPlain
        small = np.abs(array).max() < 2**31
        return array.astype(np.int32) if small else array
    if int in types and any(abs(v) >= _EXACT_INT for v in values if v.__class__ is int):
        raise _NotPlain
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _dates(values: list) -> np.ndarray:
    """Return a column of YYYY-MM-DD calendar dates as pyogrio gives GDAL's date field (days, NaT).

    Any other form (times, slashes, one-digit months, text among the dates) is left to
    GDAL: its rules for merging dates, times and text are its own.
    """
    given = [v for v in values if v is not None]
    if not all(map(_ISO_DATE.fullmatch, given)):
        raise _NotPlain
    # numpy refuses a date that is not in the calendar (ValueError: GDAL's to read).
    return np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]")


def _geometries(geometries: list[dict]) -> np.ndarray:
    """Return the shapely geometries, every one built in a few vectorised calls per type."""
    out = np.empty(len(geometries), dtype=object)
    names = list(map(dict.get, geometries, repeat("type")))
    kinds = set(names)
    if not kinds <= {*_LINE_TYPES, *_POLYGON_TYPES}:
        raise _NotPlain
    types = np.array(names, dtype=object)
    coordinates = list(map(dict.get, geometries, repeat("coordinates")))
    for kind in kinds:
        rows = np.flatnonzero(types == kind)
        of_kind = coordinates if len(kinds) == 1 else [coordinates[i] for i in rows]
        # Every kind nests parts the same way; a single one is a multi of one part.
        single = kind in ("LineString", "Polygon")
        depth = 2 if kind in _LINE_TYPES else 3
        built = _build(of_kind, depth - (1 if single else 0), polygon=kind in _POLYGON_TYPES,
                       single=single)
        out[rows] = built
    return out


def _flatten(nested: list, depth: int) -> tuple[list, list[np.ndarray]]:
    """Return the positions of ``depth``-deep nested lists and the item counts at each level."""
    counts = []
    level = nested
    for _ in range(depth):
        if set(map(type, level)) != {list}:
            raise _NotPlain
        count = np.fromiter(map(len, level), dtype=np.int64, count=len(level))
        if not count.all():
            raise _NotPlain  # an empty list of parts, rings or positions
        counts.append(count)
        level = list(chain.from_iterable(level))
    return level, counts


def _build(coordinates: list, depth: int, *, polygon: bool, single: bool) -> np.ndarray:
    positions, counts = _flatten(coordinates, depth)
    # 2D positions only: 3D or ragged ones are GDAL's to read (and name).
    if set(map(type, positions)) != {list} or set(map(len, positions)) != {2}:
        raise _NotPlain
    numbers = list(chain.from_iterable(positions))
    if set(map(type, numbers)) - {float, int}:
        raise _NotPlain  # numbers written as text or booleans: not for numpy to convert
    xy = np.array(numbers, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(xy).all():
        raise _NotPlain  # not a finite number: GDAL's reading says what it is
    # counts[-1]: positions per line or ring; the levels above group them.
    per_path = counts[-1]
    path_of_point = np.repeat(np.arange(len(per_path)), per_path)
    if polygon:
        first = np.concatenate([[0], np.cumsum(per_path)[:-1]])
        last = first + per_path - 1
        if (per_path < 4).any() or not (xy[first] == xy[last]).all():
            raise _NotPlain
        rings = np.asarray(shapely.linearrings(xy, indices=path_of_point), dtype=object)
        rings_per_polygon = counts[-2]
        ring_owner = np.repeat(np.arange(len(rings_per_polygon)), rings_per_polygon)
        parts = np.asarray(shapely.polygons(rings, indices=ring_owner), dtype=object)
    else:
        if (per_path < 2).any():
            raise _NotPlain
        parts = np.asarray(shapely.linestrings(xy, indices=path_of_point), dtype=object)
    if single:
        return parts
    parts_per_geometry = counts[0]
    owner = np.repeat(np.arange(len(parts_per_geometry)), parts_per_geometry)
    build = shapely.multipolygons if polygon else shapely.multilinestrings
    return np.asarray(build(parts, indices=owner), dtype=object)
