"""Validate GeoJSON features given in a request body with the same rules as files.

The API and file imports share one validator, so a feature rejected in a file is
rejected in a request with the same message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely
from shapely.geometry import shape

from layers.io.crs_input import describe_crs, resolve_crs
from layers.io.errors import FeatureProblem, InputFileError
from layers.io.normalize import SCHEMAS, map_columns, normalize_attributes
from layers.io.reader import LayerReadResult
from layers.io.validate import check_geometry
from spatial_rules.crs import STORAGE_EPSG


def _geometry(feature: dict, row: int, problems: list[FeatureProblem]):
    geom = feature.get("geometry")
    if geom is None:
        return None
    try:
        # Altitudes (RFC 7946 allows a third number) are dropped: storage is 2D, as for files.
        return shapely.force_2d(shape(geom))
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        problems.append(FeatureProblem(row, None, "geometry", f"无法解析的 GeoJSON 几何：{exc}"))
        return None


def validate_features(
    features: list[dict],
    kind: str,
    *,
    source: str | None = None,
    crs: str | None = None,
    margin_m: float = 2000.0,
    repair: bool = True,
) -> LayerReadResult:
    """Return canonical attributes and EPSG:4490 geometry for GeoJSON feature dicts.

    ``crs`` is the declared CRS of the coordinates (default: RFC 7946 lon/lat).
    Raises ``InputFileError`` naming the source, the feature and the field.
    """
    problems: list[FeatureProblem] = []
    rows: list[dict[str, object]] = []
    geoms: list[object] = []
    unparsed: set[int] = set()
    for row, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(FeatureProblem(row, None, None, "不是 GeoJSON Feature 对象"))
            rows.append({})
            geoms.append(None)
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            problems.append(FeatureProblem(row, None, "properties", "properties 应为对象"))
            props = {}
        props = dict(props)
        if "id" not in props and feature.get("id") is not None:
            props["id"] = feature["id"]
        rows.append(props)
        before = len(problems)
        geoms.append(_geometry(feature, row, problems))
        if len(problems) > before:
            unparsed.add(row)
    attributes = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1))
    for column in attributes.columns:
        attributes[column] = attributes[column].astype(object)
    target = resolve_crs(crs) if crs else resolve_crs("EPSG:4326")
    mapping, map_problems, _ignored = map_columns(list(attributes.columns), kind, None)
    values, value_problems = normalize_attributes(attributes, kind, mapping)
    ids = values[SCHEMAS_ID[kind]].tolist()
    checked = check_geometry(
        np.asarray(geoms, dtype=object), target, kind, ids, margin_m=margin_m, repair=repair,
        crs_assumed=crs is None, unparsed_rows=frozenset(unparsed),
    )
    problems += map_problems + value_problems + checked.problems
    if problems:
        problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        raise InputFileError(source, problems)
    columns = [c for c in SCHEMAS[kind] if c in values.columns]
    frame = gpd.GeoDataFrame(values[columns], geometry=checked.geometry, crs=STORAGE_EPSG)
    return LayerReadResult(frame, list(checked.notes), describe_crs(target), source)


SCHEMAS_ID = {"pipelines": "external_code", "projects": "registration_code", "sites": "registration_code"}
