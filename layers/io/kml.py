"""KML and KMZ (Google Earth, 奥维互动地图, LocaMap): Placemarks in, raw table out.

Read here rather than through GDAL: its LIBKML driver turns Chinese ExtendedData names
into underscores and splits Placemarks by folder into layers. Every Placemark of the
document counts, in any folder. Its ``<name>`` is the feature's code unless the
ExtendedData carries one (then it is the name). KML is lon/lat WGS 84 by definition;
Chinese apps often write GCJ-02 into it, hence ``--crs gcj02``.

A document declaring a DTD or entities is refused (XML entity expansion).
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import shapely
from pyproj import CRS

from layers.io.errors import FeatureProblem, file_error
from layers.io.formats import extract_zip_safely
from layers.io.normalize import ID_FIELDS, alias_table, column_key

_ID_KEYS = {"id", "编号", "code", "项目编号", "管道编号", "登记编号"}
_NAME_KEYS = {"name", "名称", "项目名称", "工程名称", "管道名称"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


def _coords(element: ET.Element, row: int, problems: list[FeatureProblem]) -> list[tuple[float, float]]:
    node = next((c for c in element.iter() if _local(c.tag) == "coordinates"), None)
    points = []
    for token in (_text(node) or "").split():
        parts = token.split(",")
        try:
            points.append((float(parts[0]), float(parts[1])))
        except (ValueError, IndexError):
            problems.append(FeatureProblem(row, None, "geometry", f"KML 坐标无法解析：“{token[:40]}”"))
            return []
    return points


def _geometry(element: ET.Element, row: int, problems: list[FeatureProblem]):
    kind = _local(element.tag)
    if kind == "Point":
        pts = _coords(element, row, problems)
        return shapely.Point(pts[0]) if pts else None
    if kind == "LineString":
        pts = _coords(element, row, problems)
        return shapely.LineString(pts) if len(pts) >= 2 else None
    if kind == "LinearRing":
        pts = _coords(element, row, problems)
        return shapely.LineString(pts) if len(pts) >= 2 else None
    if kind == "Polygon":
        rings = []
        for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
            for b in _children(element, boundary):
                ring = next((c for c in b if _local(c.tag) == "LinearRing"), None)
                pts = _coords(ring, row, problems) if ring is not None else []
                if len(pts) >= 3:
                    rings.append(pts)
        return shapely.Polygon(rings[0], rings[1:]) if rings else None
    if kind == "MultiGeometry":
        parts = [g for c in element if (g := _geometry(c, row, problems)) is not None]
        if not parts:
            return None
        if all(p.geom_type == "Polygon" for p in parts):
            return shapely.MultiPolygon(parts)
        if all(p.geom_type == "LineString" for p in parts):
            return shapely.MultiLineString(parts)
        return shapely.GeometryCollection(parts)
    return None


def _placemark(pm: ET.Element, row: int, problems: list[FeatureProblem]) -> tuple[dict, Any]:
    values: dict[str, str | None] = {"__name": _text(next(iter(_children(pm, "name")), None))}
    for extended in _children(pm, "ExtendedData"):
        for data in extended.iter():
            tag = _local(data.tag)
            key = data.get("name")
            if tag == "Data" and key:
                values[key] = _text(next(iter(_children(data, "value")), None))
            elif tag == "SimpleData" and key:
                values[key] = _text(data)
    geometry = None
    for child in pm:
        if _local(child.tag) in ("Point", "LineString", "LinearRing", "Polygon", "MultiGeometry"):
            geometry = _geometry(child, row, problems)
            break
    return values, geometry


def parse_kml(data: bytes, display: Path, kind: str):
    """Return the RawTable of a KML document's Placemarks (lon/lat, EPSG:4326 declared)."""
    from layers.io.raw import RawTable

    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise file_error(display, "KML 含 DTD 或实体声明，已拒绝（可能用于 XML 实体攻击）")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise file_error(display, f"KML 不是有效的 XML（{exc}）") from exc
    if _local(root.tag) != "kml":
        raise file_error(display, f"不是 KML 文档（根元素为 {_local(root.tag)}，应为 kml）")
    problems: list[FeatureProblem] = []
    rows: list[dict] = []
    geoms: list[Any] = []
    skipped_points = 0
    wants_lines = kind == "pipelines"
    for pm in (e for e in root.iter() if _local(e.tag) == "Placemark"):
        values, geometry = _placemark(pm, len(rows) + 1, problems)
        if geometry is not None and geometry.geom_type == "Point":
            skipped_points += 1  # labels and pins, not sites or pipelines
            continue
        if (not wants_lines and geometry is not None and geometry.geom_type == "LineString"
                and geometry.is_closed and len(geometry.coords) >= 4):
            geometry = shapely.Polygon(geometry.coords)  # a site drawn as a closed path
        rows.append(values)
        geoms.append(geometry)
    what = "管道" if wants_lines else "范围"
    notes = [f"跳过 {skipped_points} 个点地标（标注点，不是{what}）"] if skipped_points else []
    frame = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1), dtype=object)
    if "__name" not in frame.columns:
        frame["__name"] = None
    keys = {column_key(c): c for c in frame.columns if c != "__name"}
    table = alias_table(kind)
    has_id = any(k in _ID_KEYS or table.get(k) == "@id" for k in keys)
    has_name = any(k in _NAME_KEYS or table.get(k) == "name" for k in keys)
    names = frame.pop("__name")
    if not has_id:
        frame.insert(0, "id", names)
        notes.append(f"地标名称（Placemark name）作为编号 {ID_FIELDS[kind]}")
    if not has_name:
        frame.insert(1, "name", names)
    for column in frame.columns:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    geometry_array = np.empty(len(geoms), dtype=object)
    geometry_array[:] = geoms
    return RawTable(frame, geometry_array, CRS.from_epsg(4326), problems, notes)


def read_kml_file(file: Path, kind: str):
    """Return the RawTable of a .kml file."""
    return parse_kml(file.read_bytes(), file, kind)


def read_kmz_file(file: Path, kind: str, max_bytes: int):
    """Return the RawTable of a .kmz: unzipped like a zipped Shapefile, then its main KML."""
    with tempfile.TemporaryDirectory(prefix="gisapp-kmz-") as tmp:
        extract_zip_safely(file, Path(tmp), max_bytes, needs=".kml")
        kmls = sorted(p for p in Path(tmp).rglob("*") if p.suffix.lower() == ".kml" and p.is_file())
        main = next((p for p in kmls if p.name.lower() == "doc.kml"), None)
        if main is None:
            top = [p for p in kmls if p.parent == Path(tmp)]
            main = (top or kmls)[0]
        return parse_kml(main.read_bytes(), file, kind)

