"""KML out: one Placemark per feature, its code as name, every attribute as ExtendedData."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

import shapely

from layers.io.crs_input import BD09, GCJ02, resolve_crs
from layers.io.errors import file_error
from layers.projection import transform_xy
from spatial_rules.bd09 import wgs84_to_bd09
from spatial_rules.gcj02 import wgs84_to_gcj02

_CODE_COLUMNS = ("external_code", "registration_code", "code", "id")


def _ring(coords) -> str:
    return " ".join(f"{x!r},{y!r}" for x, y in coords)  # full precision: a round trip is exact


def _geometry_kml(geom) -> str:
    kind = geom.geom_type
    if kind == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{_ring(r.coords)}</coordinates>"
                        "</LinearRing></innerBoundaryIs>" for r in geom.interiors)
        return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{_ring(geom.exterior.coords)}"
                f"</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>")
    if kind == "LineString":
        return f"<LineString><coordinates>{_ring(geom.coords)}</coordinates></LineString>"
    if kind == "Point":
        return f"<Point><coordinates>{_ring(geom.coords)}</coordinates></Point>"
    parts = "".join(_geometry_kml(g) for g in shapely.get_parts(geom))
    return f"<MultiGeometry>{parts}</MultiGeometry>"


def write_kml(attributes: pd.DataFrame, geometry: np.ndarray, target: Path, crs: str | None) -> Path:
    """Write features (EPSG:4490 lon/lat) as KML, optionally in GCJ-02 or BD-09."""
    shift = None
    if crs is not None:
        chosen = resolve_crs(crs)
        if chosen == GCJ02:
            shift = wgs84_to_gcj02
        elif chosen == BD09:
            shift = wgs84_to_bd09
        elif not (hasattr(chosen, "to_epsg") and chosen.to_epsg() in (4326, 4490)):
            raise file_error(target, "KML 只能是经纬度：参数 --crs 可选 wgs84、gcj02 或 bd09")
    if shift is not None:
        geometry = transform_xy(geometry, shift)
    code = next((c for c in _CODE_COLUMNS if c in attributes.columns), None)
    placemarks = []
    for (_, row), geom in zip(attributes.iterrows(), geometry, strict=True):
        name = escape(str(row[code])) if code else ""
        data = "".join(
            f"<Data name={quoteattr(str(k))}><value>{escape(str(v))}</value></Data>"
            for k, v in row.items() if v is not None and v == v
        )
        body = _geometry_kml(geom) if geom is not None else ""
        placemarks.append(f"<Placemark><name>{name}</name><ExtendedData>{data}</ExtendedData>{body}</Placemark>")
    target.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<name>{escape(target.stem)}</name>" + "\n".join(placemarks) + "</Document></kml>\n",
        encoding="utf-8",
    )
    return target
