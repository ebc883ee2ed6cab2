"""Write a scene as inline SVG (no namespace URL, no external reference; opens offline)."""

from __future__ import annotations

import math
from html import escape

import shapely
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from maps.report.scene import Scene

NICE_STEPS_M = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


class _Projector:
    """Map metric x/y to SVG pixels (y downwards) inside a ``width`` wide picture."""

    def __init__(self, bounds: tuple[float, float, float, float], width: float) -> None:
        minx, miny, maxx, maxy = bounds
        self.minx, self.maxy = minx, maxy
        self.scale = width / max(maxx - minx, 1e-9)
        self.width = width
        self.height = (maxy - miny) * self.scale

    def xy(self, x: float, y: float) -> str:
        return f"{(x - self.minx) * self.scale:.1f} {(self.maxy - y) * self.scale:.1f}"


def _ring(coords, proj: _Projector, close: bool) -> str:
    points = [proj.xy(x, y) for x, y, *_ in coords]
    if not points:
        return ""
    return "M" + " L".join(points) + (" Z" if close else "")


def _point_xy(point: BaseGeometry) -> tuple[float, float]:
    """Return the x, y of a point (markers are points: the site's representative point)."""
    return shapely.get_x(point), shapely.get_y(point)


def path_data(geom: BaseGeometry, proj: _Projector) -> str:
    """Return the SVG path data of a (multi)polygon or (multi)line in metres."""
    if geom is None or geom.is_empty:
        return ""
    if isinstance(geom, MultiPolygon | MultiLineString | GeometryCollection):
        return " ".join(path_data(part, proj) for part in geom.geoms)
    if isinstance(geom, Polygon):
        rings = [geom.exterior, *geom.interiors]
        return " ".join(_ring(r.coords, proj, True) for r in rings)
    if isinstance(geom, LineString):  # LinearRing included
        return _ring(geom.coords, proj, False)
    return ""


def _scale_bar(proj: _Projector) -> str:
    target = (proj.width / 5) / proj.scale
    step = max((s for s in NICE_STEPS_M if s <= target), default=NICE_STEPS_M[0])
    length = step * proj.scale
    x0, y0 = 12.0, proj.height - 14.0
    label = f"{step // 1000} 公里" if step >= 1000 else f"{step} 米"
    return (
        f'<g class="scale"><path d="M{x0} {y0 - 5} L{x0} {y0} L{x0 + length:.1f} {y0} '
        f'L{x0 + length:.1f} {y0 - 5}" stroke="#000" fill="none" stroke-width="1.5"/>'
        f'<text x="{x0 + length / 2:.1f}" y="{y0 - 7}" text-anchor="middle" '
        f'font-size="11">{label}</text></g>'
        f'<g class="north"><text x="{proj.width - 18:.1f}" y="22" text-anchor="middle" '
        f'font-size="14" font-weight="bold">北</text><path d="M{proj.width - 18:.1f} 26 '
        f'L{proj.width - 23:.1f} 40 L{proj.width - 18:.1f} 36 L{proj.width - 13:.1f} 40 Z" '
        'fill="#000"/></g>'
    )


# A marker layer with more sites than this (all of Shanghai's sites without conflict:
# 85,000 circles with their hover titles made a 13 MB report) is drawn as dots: one path
# of zero-length strokes with round caps, one per distinct pixel position, no titles.
DETAILED_MARKERS = 5_000


def _dots(layer, proj: _Projector, title: str) -> str:
    """Return a marker layer as one path of dots at the same positions as its circles."""
    positions = dict.fromkeys(proj.xy(*_point_xy(point)) for point in layer.geometries)
    d = "".join(f"M{xy}h0" for xy in positions)
    return (
        f'<path class="layer dots" data-layer="{title}" d="{d}" fill="none" stroke="{layer.fill}" '
        f'stroke-width="{2 * layer.radius:g}" stroke-linecap="round"><title>{title}（'
        f'{len(layer.geometries)} 个，逐个标注过多，仅示位置）</title></path>'
    )


def scene_svg(scene: Scene, width: float = 900.0, scale_bar: bool = True) -> str:
    """Return the scene as an ``<svg>`` element sized to ``width`` pixels."""
    proj = _Projector(scene.bounds, width)
    parts = [
        f'<svg viewBox="0 0 {width:.0f} {proj.height:.0f}" width="100%" role="img" '
        f'aria-label="{escape(scene.caption or "地图")}" class="map">',
        f'<rect width="{width:.0f}" height="{proj.height:.0f}" fill="#eaf2f8"/>',
    ]
    for layer in scene.layers:
        if not layer.geometries:
            continue
        title = escape(layer.label)
        if layer.kind == "marker" and len(layer.geometries) > DETAILED_MARKERS:
            parts.append(_dots(layer, proj, title))
            continue
        if layer.kind == "marker":
            parts.append(f'<g class="layer" data-layer="{title}">')
            strokes = layer.strokes or [layer.stroke] * len(layer.geometries)
            titles = layer.titles or [layer.label] * len(layer.geometries)
            for point, stroke, text in zip(layer.geometries, strokes, titles, strict=True):
                cx, cy = proj.xy(*_point_xy(point)).split()
                parts.append(
                    f'<circle cx="{cx}" cy="{cy}" r="{layer.radius}" fill="{layer.fill}" '
                    f'stroke="{stroke}" stroke-width="{layer.width}"><title>{escape(text)}'
                    "</title></circle>"
                )
            parts.append("</g>")
            continue
        style = (
            f'fill="{layer.fill}" stroke="{layer.stroke}" stroke-width="{layer.width}" '
            f'opacity="{layer.opacity}" stroke-linejoin="round" stroke-linecap="round"'
            + (' stroke-dasharray="4 3"' if layer.dashed else "")
            + (' fill-rule="evenodd"' if layer.kind == "area" else "")
        )
        if layer.titles:
            parts.append(f'<g class="layer" data-layer="{title}" {style}>')
            for geom, text in zip(layer.geometries, layer.titles, strict=True):
                parts.append(f'<path d="{path_data(geom, proj)}"><title>{escape(text)}</title></path>')
            parts.append("</g>")
        else:
            d = " ".join(path_data(g, proj) for g in layer.geometries)
            parts.append(f'<path class="layer" data-layer="{title}" d="{d}" {style}/>')
    for x, y, text in scene.labels:
        px, py = proj.xy(x, y).split()
        parts.append(
            f'<text x="{px}" y="{py}" font-size="11" text-anchor="middle" fill="#555" '
            f'paint-order="stroke" stroke="#fff" stroke-width="2">{escape(text)}</text>'
        )
    if scale_bar and math.isfinite(proj.scale):
        parts.append(_scale_bar(proj))
    parts.append("</svg>")
    return "".join(parts)
