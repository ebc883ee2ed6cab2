"""Draw a scene as a PNG with matplotlib (Agg canvas, no global pyplot state)."""

from __future__ import annotations

import io
from typing import Literal

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import shapely
from shapely.geometry.base import BaseGeometry
from shapely.plotting import patch_from_polygon

from maps.report.fonts import matplotlib_font
from maps.report.scene import Scene
from maps.report.svg import NICE_STEPS_M


def _polygons(geom: BaseGeometry):
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for part in geom.geoms for p in _polygons(part)]
    return []


def _lines(geom: BaseGeometry):
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type in ("LineString", "LinearRing"):
        return [list(geom.coords)]
    if hasattr(geom, "geoms"):
        return [c for part in geom.geoms for c in _lines(part)]
    return []


def render_png(
    scene: Scene, size_in: tuple[float, float], dpi: int = 150, legend: bool = False,
    scale_bar: bool = True,
) -> bytes:
    """Return the scene drawn as PNG bytes, ``size_in`` inches at ``dpi``."""
    font = matplotlib_font()
    figure = Figure(figsize=size_in, dpi=dpi)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_facecolor("#eaf2f8")
    handles: list[Artist] = []
    for layer in scene.layers:
        if not layer.geometries:
            continue
        style: Literal["--", "-"] = "--" if layer.dashed else "-"
        if layer.kind == "area":
            for geom in layer.geometries:
                for polygon in _polygons(geom):
                    ax.add_patch(patch_from_polygon(
                        polygon, facecolor=layer.fill, edgecolor=layer.stroke,
                        linewidth=layer.width if layer.stroke != "none" else 0,
                        alpha=layer.opacity,
                    ))
            handles.append(Patch(facecolor=layer.fill, edgecolor=layer.stroke, alpha=layer.opacity,
                                 label=layer.label))
        elif layer.kind == "line":
            segments = [c for g in layer.geometries for c in _lines(g)]
            ax.add_collection(LineCollection(segments, colors=layer.stroke, linewidths=layer.width,
                                             linestyles=style, alpha=layer.opacity))
            handles.append(Line2D([], [], color=layer.stroke, linewidth=layer.width,
                                  linestyle=style, label=layer.label))
        elif layer.kind == "marker":
            ax.scatter(shapely.get_x(layer.geometries), shapely.get_y(layer.geometries),
                       s=(layer.radius * 1.6) ** 2, c=layer.fill,
                       edgecolors=layer.strokes or layer.stroke, linewidths=layer.width, zorder=3)
            handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor=layer.fill,
                                  markeredgecolor="#333333", markersize=layer.radius * 1.6,
                                  label=layer.label))
    for x, y, text in scene.labels:
        # parse_math=False: a name with two "$" is a name, not a formula (bad TeX would raise).
        ax.text(x, y, text, fontproperties=font, fontsize=6, ha="center", va="center",
                color="#555555", zorder=4, parse_math=False)
    bounds = _fit(scene.bounds, size_in[0] / size_in[1])
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    if scale_bar:
        _scale_bar(ax, bounds, font)
    if legend:
        small = font.copy()
        small.set_size(6)
        ax.legend(handles=handles, prop=small, loc="lower right", framealpha=0.9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _fit(bounds, aspect: float) -> tuple[float, float, float, float]:
    """Grow the frame so its width/height ratio equals the picture's (metres kept square)."""
    minx, miny, maxx, maxy = bounds
    width, height = maxx - minx, maxy - miny
    if width / height < aspect:
        grow = (height * aspect - width) / 2
        return minx - grow, miny, maxx + grow, maxy
    grow = (width / aspect - height) / 2
    return minx, miny - grow, maxx, maxy + grow


def _scale_bar(ax, bounds, font) -> None:
    minx, miny, maxx, maxy = bounds
    target = (maxx - minx) / 5
    step = max((s for s in NICE_STEPS_M if s <= target), default=NICE_STEPS_M[0])
    x0 = minx + (maxx - minx) * 0.04
    y0 = miny + (maxy - miny) * 0.05
    ax.plot([x0, x0 + step], [y0, y0], color="black", linewidth=1.5, zorder=5)
    label = f"{step // 1000} 公里" if step >= 1000 else f"{step} 米"
    ax.text(x0 + step / 2, y0 + (maxy - miny) * 0.015, label, fontproperties=font, fontsize=6,
            ha="center", va="bottom", zorder=5)
