"""DXF site plans and pipeline drawings from CAD (read with ezdxf).

Closed polylines are sites, open polylines (and lines) are pipelines. A drawing holds
more than the sites (roads, labels, frames), so the user may name the CAD layers to
read. A drawing has no attribute table: the code of each feature comes from where the
user says (``code_from``):

- ``layer``: the CAD layer name of the polyline is its code;
- ``text`` or ``text:LAYER``: the TEXT/MTEXT inside the closed polyline (for lines: the
  nearest one), optionally only texts on CAD layer LAYER;
- ``attrib:TAG``: a block reference (INSERT) whose attribute TAG holds the code,
  inside the polyline (or nearest to the line); the block's other attributes become
  the feature's attributes (管径, 压力 ...).

A DXF carries no coordinate system, so ``--crs`` is required (``layers.io.reader``).
Arcs in polylines (bulges) are flattened to 1 cm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import shapely

from layers.io.errors import FeatureProblem, InputFileError, file_error

FLATTEN_M = 0.01
NEAREST_TEXT_M = 50.0  # a line's code text farther than this is not its label


@dataclass(frozen=True)
class DxfOptions:
    """How to read a drawing: the CAD layers to use and where the codes are."""

    layers: tuple[str, ...] = ()
    code_from: str | None = None

    def code_source(self) -> tuple[str, str | None]:
        """Return (``layer`` | ``text`` | ``attrib``, its argument)."""
        given = (self.code_from or "").strip()
        how, _, arg = given.partition(":")
        how = how.strip().lower()
        if how not in ("layer", "text", "attrib") or (how == "attrib" and not arg.strip()):
            raise ValueError(given)
        return how, arg.strip() or None


@dataclass
class _Label:
    point: shapely.Point
    text: str
    attributes: dict[str, str] = field(default_factory=dict)


def _open(file: Path):
    import ezdxf
    from ezdxf import recover

    try:
        doc, auditor = recover.readfile(str(file))
    except (OSError, ezdxf.DXFStructureError) as exc:
        raise file_error(file, f"无法读取 DXF 文件（{exc}）") from exc
    if auditor.has_errors:
        raise file_error(file, f"DXF 文件已损坏（{len(auditor.errors)} 处结构错误），请在 CAD 中修复后另存")
    return doc


def _outline(entity) -> tuple[np.ndarray, bool] | None:
    from ezdxf import path

    kind = entity.dxftype()
    if kind == "LINE":
        start, end = entity.dxf.start, entity.dxf.end
        return np.array([[start.x, start.y], [end.x, end.y]]), False
    if kind not in ("LWPOLYLINE", "POLYLINE"):
        return None
    if kind == "POLYLINE" and not (entity.is_2d_polyline or entity.is_3d_polyline):
        return None  # polyface and mesh entities are not outlines
    points = [(v.x, v.y) for v in path.make_path(entity).flattening(FLATTEN_M)]
    closed = bool(entity.closed) if kind == "LWPOLYLINE" else bool(entity.is_closed)
    if len(points) >= 2 and points[0] == points[-1] and len(points) >= 4:
        closed = True
    return np.array(points, dtype=float), closed


def _labels(msp, how: str, arg: str | None) -> list[_Label]:
    labels: list[_Label] = []
    if how == "text":
        for entity in msp.query("TEXT MTEXT"):
            if arg is not None and entity.dxf.layer != arg:
                continue
            value = entity.plain_text() if entity.dxftype() == "MTEXT" else entity.dxf.text
            where = entity.dxf.insert
            if value and value.strip():
                labels.append(_Label(shapely.Point(where.x, where.y), value.strip()))
    elif how == "attrib":
        for insert in msp.query("INSERT"):
            attributes = {a.dxf.tag: a.dxf.text.strip() for a in insert.attribs}
            code = attributes.pop(arg, None)
            if code:
                where = insert.dxf.insert
                labels.append(_Label(shapely.Point(where.x, where.y), code, attributes))
    return labels


def _match(geometry, labels: list[_Label]) -> list[_Label]:
    if geometry.geom_type == "Polygon":
        return [label for label in labels if geometry.covers(label.point)]
    near = [(geometry.distance(label.point), label) for label in labels]
    near = [(d, label) for d, label in near if d <= NEAREST_TEXT_M]
    return [min(near, key=lambda pair: pair[0])[1]] if near else []


def read_dxf(file: Path, kind: str, options: DxfOptions | None):
    """Return the RawTable of a drawing's outlines (coordinates as drawn, in the user's CRS)."""
    from layers.io.raw import RawTable

    options = options or DxfOptions()
    try:
        how, arg = options.code_source()
    except ValueError:
        raise InputFileError(file, [FeatureProblem(None, None, "code_from", (
            "DXF 没有属性表，请用 --code-from 指定编号来源：layer（CAD 图层名即编号）、"
            "text 或 text:图层名（范围内的文字）、attrib:属性标记（图块属性）"))]) from None
    doc = _open(file)
    msp = doc.modelspace()
    present = sorted({e.dxf.layer for e in msp})
    missing = [name for name in options.layers if name not in present]
    if missing:
        raise InputFileError(file, [FeatureProblem(None, None, "cad_layer", (
            f"图纸中没有 CAD 图层 {'、'.join(missing)}（现有：{'、'.join(present) or '无'}）"))])
    wanted = set(options.layers)
    polygons = kind != "pipelines"
    outlines, skipped = [], 0
    for entity in msp.query("LWPOLYLINE POLYLINE LINE"):
        if wanted and entity.dxf.layer not in wanted:
            continue
        found = _outline(entity)
        if found is None:
            continue
        coords, closed = found
        if polygons != closed:
            skipped += 1  # open lines among sites, closed outlines among pipelines
            continue
        geometry = shapely.Polygon(coords) if polygons else shapely.LineString(coords)
        outlines.append((entity, geometry))
    what = "闭合多段线（范围）" if polygons else "多段线（管道）"
    if not outlines:
        scope = f"CAD 图层 {'、'.join(options.layers)} 中" if options.layers else "图纸中"
        raise file_error(file, f"{scope}没有{what}")
    labels = _labels(msp, how, arg) if how != "layer" else []
    rows, geoms, problems = [], [], []
    for row, (entity, geometry) in enumerate(outlines, start=1):
        values: dict[str, str | None] = {"cad_layer": entity.dxf.layer, "cad_handle": entity.dxf.handle}
        if how == "layer":
            values["id"] = entity.dxf.layer
        else:
            matched = _match(geometry, labels)
            codes = sorted({label.text for label in matched})
            source = "文字" if how == "text" else f"图块属性 {arg}"
            if not codes:
                problems.append(FeatureProblem(row, None, "id", (
                    f"CAD 图层 {entity.dxf.layer} 上的{what}（句柄 {entity.dxf.handle}）找不到编号{source}")))
            elif len(codes) > 1:
                problems.append(FeatureProblem(row, None, "id", (
                    f"CAD 图层 {entity.dxf.layer} 上的{what}（句柄 {entity.dxf.handle}）有多个编号{source}："
                    f"{'、'.join(codes)}")))
            values["id"] = codes[0] if codes else None
            if matched:
                values.update(matched[0].attributes)
        rows.append(values)
        geoms.append(geometry)
    if problems:
        raise InputFileError(file, problems)
    notes = [f"读取 DXF 中 {len(rows)} 个{what}，编号取自"
             + {"layer": "CAD 图层名", "text": "范围内文字", "attrib": f"图块属性 {arg}"}[how]]
    if skipped:
        notes.append(f"跳过 {skipped} 个{'未闭合的多段线' if polygons else '闭合多段线'}")
    attributes = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1), dtype=object)
    geometry_array = np.empty(len(geoms), dtype=object)
    geometry_array[:] = geoms
    return RawTable(attributes, geometry_array, None, [], notes)
