"""Validate one GeoJSON Feature of a request body without building DataFrames.

The API creates features one at a time, and the columnar validator
(``layers.io.features.validate_features``) spends milliseconds on pandas overhead
for a single row. This module parses the usual, clean feature in plain Python and
hands anything unusual (a value it does not recognise, any problem at all) to the
columnar validator. So every error message still comes from the one validator shared
with file imports, and a clean feature gets the same values either way (a property
test in ``tests/test_io_single.py`` holds the two to that).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass

import numpy as np

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from layers.io.crs_input import resolve_crs
from layers.io.features import validate_features
from layers.io.invisible import forbidden_in_code
from layers.io.normalize import (
    ID_FIELDS,
    MAX_DIAMETER_MM,
    MAX_ID_CHARS,
    MIN_DIAMETER_MM,
    SCHEMAS,
    map_columns,
)
from layers.io.validate import check_geometry, points_inside
from layers.io.values import ENUM_LABELS, activities_text
from spatial_rules.errors import PressureError
from spatial_rules.pressure import classify_pressure, parse_pressure_class
from vocabulary.activities import ActivityError

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# Years a date column accepts without doubt (pandas' own bounds are wider or narrower
# depending on its resolution); anything else goes to the columnar parser.
_PLAIN_YEARS = range(1900, 2201)
_EXACT_INT = 2**53


@dataclass
class ValidFeature:
    """One validated feature: canonical values (plain Python), EPSG:4490 geometry, notes."""

    values: dict
    geometry: BaseGeometry
    notes: list[str]


class _Unsure(Exception):
    """The fast path cannot vouch for a value: the columnar validator decides."""


def validate_feature(
    feature: object, kind: str, *, margin_m: float = 2000.0, repair: bool = True
) -> ValidFeature:
    """Return the canonical values and EPSG:4490 geometry of one GeoJSON Feature (lon/lat).

    Raises ``InputFileError`` with exactly the problems the file validator reports.
    """
    try:
        return _fast(feature, kind, margin_m, repair)
    except _Unsure:
        return _columnar(feature, kind, margin_m, repair)


def _columnar(feature: object, kind: str, margin_m: float, repair: bool) -> ValidFeature:
    # validate_features checks that each item is a Feature dict and names the problem.
    features: list = [feature]
    result = validate_features(features, kind, margin_m=margin_m, repair=repair)
    frame = result.frame
    row = frame.iloc[0]
    values = {f: _plain(row[f]) for f in SCHEMAS[kind] if f in frame.columns}
    return ValidFeature(values, row.geometry, list(result.notes))


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fast(feature: object, kind: str, margin_m: float, repair: bool) -> ValidFeature:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _Unsure
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise _Unsure
    props = dict(props)
    if "id" not in props and feature.get("id") is not None:
        props["id"] = feature["id"]
    mapping, problems, _ignored = map_columns(list(props), kind, None)
    if problems:
        raise _Unsure
    source_of = {canonical: column for column, canonical in mapping.items()}
    values = {}
    for canonical, (type_name, required) in SCHEMAS[kind].items():
        column = source_of.get(canonical)
        value = None if column is None else _parse(props[column], type_name, canonical)
        if value is None and required:
            raise _Unsure
        values[canonical] = value
    if len(str(values[ID_FIELDS[kind]])) > MAX_ID_CHARS:
        raise _Unsure  # the columnar validator names the field and the limit
    if kind == "pipelines":
        _pipeline_rules(values, source_of)
    if forbidden_in_code(values[ID_FIELDS[kind]] or ""):
        raise _Unsure  # the columnar validator names the field and the character
    geometry, notes = _geometry(feature.get("geometry"), kind, values[ID_FIELDS[kind]], margin_m, repair)
    return ValidFeature(values, geometry, notes)


def _text(value) -> str | None:
    """Return a value as the columnar ``as_text`` would, for str and int only."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _EXACT_INT:
        return str(value)
    raise _Unsure


def _parse(value, type_name: str, canonical: str):
    if value is None:
        return None
    if type_name == "str":
        return _text(value)
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Unsure
        if not math.isfinite(value) or abs(value) >= _EXACT_INT:
            raise _Unsure
        return float(value)
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        raise _Unsure
    if type_name == "date":
        return _date(value)
    if type_name == "activities":
        try:
            return activities_text(value)
        except ActivityError:
            raise _Unsure from None
    text = _text(value)
    if text is None:
        return None
    if type_name == "pressure_class":
        try:
            return parse_pressure_class(text).value
        except PressureError as exc:
            raise _Unsure from exc
    code = ENUM_LABELS[type_name].get(text.lower())
    if code is None:
        raise _Unsure
    return code


def _date(value) -> dt.date | None:
    if not isinstance(value, str):
        raise _Unsure
    text = value.strip()
    if not text:
        return None
    match = _ISO_DATE.match(text)
    if match is None or int(match[1]) not in _PLAIN_YEARS:
        raise _Unsure
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise _Unsure from exc


def _pipeline_rules(values: dict, source_of: dict) -> None:
    """Diameter in range; pressure class given, derived from the MPa, and consistent."""
    diameter = values["outer_diameter_mm"]
    if not MIN_DIAMETER_MM < diameter < MAX_DIAMETER_MM:
        raise _Unsure
    if "pressure_class" not in source_of and "design_pressure_mpa" not in source_of:
        raise _Unsure
    mpa, given = values["design_pressure_mpa"], values["pressure_class"]
    if mpa is not None:
        try:
            derived = classify_pressure(mpa).value
        except PressureError as exc:
            raise _Unsure from exc
        if given is not None and given != derived:
            raise _Unsure
        values["pressure_class"] = derived
    elif given is None:
        raise _Unsure
    if values["status"] is None:
        values["status"] = "in_service"


def _geometry(geojson, kind: str, feature_id, margin_m: float, repair: bool):
    if not isinstance(geojson, dict):
        raise _Unsure
    try:
        geom = shapely.force_2d(shape(geojson))  # altitudes dropped: storage is 2D
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise _Unsure from exc
    plain = _plain_geometry(geom, kind, margin_m)
    if plain is not None:
        return plain, []
    checked = check_geometry(
        np.array([geom], dtype=object), _lonlat(), kind, [feature_id],
        margin_m=margin_m, repair=repair, crs_assumed=True,
    )
    if checked.problems:
        raise _Unsure
    return checked.geometry[0], list(checked.notes)


_PLAIN_TYPES = {"pipelines": ("LineString", "MultiLineString"), "projects": ("Polygon", "MultiPolygon")}


def _plain_geometry(geom, kind: str, margin_m: float):
    """Return the stored form of a clean lon/lat geometry in a few scalar calls, else None.

    Clean: the right type, 2D, not empty, finite, every vertex inside the district (so
    plausibly lon/lat, in order), valid (polygons) or of non-zero length (lines).
    RFC 7946 lon/lat is stored as it is (D1). Anything else, None: ``check_geometry``
    decides, and names the problem.
    """
    if geom.geom_type not in _PLAIN_TYPES[kind] or geom.is_empty or geom.has_z:
        return None
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all() or not points_inside(coords[:, 0], coords[:, 1], margin_m).all():
        return None
    if kind == "pipelines" and geom.length == 0 or kind == "projects" and not geom.is_valid:
        return None
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "LineString":
        return shapely.MultiLineString([geom])
    return geom


@functools.cache
def _lonlat():
    """Return the RFC 7946 input CRS, resolved once."""
    return resolve_crs("EPSG:4326")
