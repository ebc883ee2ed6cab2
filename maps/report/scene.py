"""What a map shows, independent of how it is drawn: layers of metric geometries with styles.

The same scene is written as inline SVG for the HTML report and drawn with matplotlib
for the PDF, so both maps always agree. Coordinates are metres in the metric CRS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from maps.report.data import CONFLICT_WINDOW_MARGIN_M, ReportData
from maps.report.labels import (
    BAND_COLOUR,
    PERMIT_STATUS_ZH,
    PIPE_GROUP_STYLE,
    PIPE_GROUP_ZH,
    PRESSURE_ZH,
    PROJECT_STATE_COLOUR,
    PROJECT_STATE_ZH,
    ZONE_COLOUR,
    ZONE_ZH,
)


@dataclass
class Layer:
    """One styled set of geometries; ``kind`` is "area", "line" or "marker"."""

    label: str
    kind: str
    geometries: list[BaseGeometry]
    fill: str = "none"
    stroke: str = "none"
    width: float = 1.0
    radius: float = 3.0  # markers, in points / pixels
    opacity: float = 1.0
    dashed: bool = False
    titles: list[str] | None = None  # hover text per geometry (SVG only)
    strokes: list[str] | None = None  # per-geometry outline (markers)
    legend: bool = True


@dataclass
class Scene:
    """A map: its frame (minx, miny, maxx, maxy in metres), layers bottom-up, and text labels."""

    bounds: tuple[float, float, float, float]
    layers: list[Layer]
    labels: list[tuple[float, float, str]] = field(default_factory=list)
    caption: str = ""


def _frame(geom: BaseGeometry, pad_ratio: float = 0.03) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * pad_ratio
    return minx - pad, miny - pad, maxx + pad, maxy + pad


def overview_scene(data: ReportData) -> Scene:
    """Return the district (or township) map: boundary, townships, pipelines, project sites."""
    layers = [
        Layer("乡镇", "area", [g for _, g in data.townships], fill="#f3f0e8", stroke="#9a9a9a",
              width=0.6, titles=[n for n, _ in data.townships]),
        Layer("区界", "area", [data.district], stroke="#333333", width=1.4),
    ]
    for group, geoms in data.pipes.items():
        colour, width = PIPE_GROUP_STYLE[group]
        layers.append(Layer(f"燃气管道（{PIPE_GROUP_ZH[group]}）", "line", geoms, stroke=colour,
                            width=width))
    projects = data.projects
    for state in reversed(PROJECT_STATE_ZH):  # conflicts drawn last, on top
        mine = projects[projects["state"] == state]
        if state != "no_conflict" and mine.empty:
            continue
        layers.append(Layer(
            f"施工项目：{PROJECT_STATE_ZH[state]}", "marker",
            [g.representative_point() for g in mine["geom"]],
            fill=PROJECT_STATE_COLOUR[state],
            stroke="#ffffff" if state == "no_conflict" else "#333333",
            radius=2.2 if state == "no_conflict" else 3.6,
            width=0.4 if state == "no_conflict" else 0.9,
            titles=[
                f"{c} {n}｜{PROJECT_STATE_ZH[state]}"
                + (f"｜{ZONE_ZH[z]}" if isinstance(z, str) else "")
                for c, n, z in zip(mine["code"], mine["name"], mine["zone"], strict=True)
            ],
            strokes=[ZONE_COLOUR[z] if isinstance(z, str) else "#ffffff" for z in mine["zone"]],
        ))
    labels = []
    if len(data.townships) > 1:
        for name, geom in data.townships:
            if geom is None or geom.is_empty:
                continue  # a sliver the simplification at city scale reduced to nothing
            point = geom.representative_point()
            labels.append((point.x, point.y, name))
    focus = data.focus if data.township else data.district
    return Scene(_frame(focus), layers, labels)


def conflict_scene(row, number: int) -> Scene:
    """Return the small map of one conflict: site, pipe, its bands and the shortest distance.

    ``row`` is a row of ``ReportData.conflicts`` (geometries in metres).
    """
    half_od_m = float(row["outer_diameter_mm"]) / 2000.0
    site: BaseGeometry = row["site"]
    reach = float(row["control_range_m"]) + half_od_m + CONFLICT_WINDOW_MARGIN_M
    minx, miny, maxx, maxy = site.bounds
    window = box(minx - reach, miny - reach, maxx + reach, maxy + reach)
    pipe: BaseGeometry = row["pipe"]
    # Ranges are measured from the outer wall, so the bands grow from the centreline by r + D/2.
    protection = pipe.buffer(float(row["protection_range_m"]) + half_od_m).intersection(window)
    control = pipe.buffer(float(row["control_range_m"]) + half_od_m).intersection(window)
    control_only = shapely.difference(control, protection)
    state = row["permit_status"]
    layers = [
        Layer(f"{ZONE_ZH['control']}", "area", [control_only], fill=BAND_COLOUR["control"],
              opacity=0.35),
        Layer(f"{ZONE_ZH['protection']}", "area", [protection], fill=BAND_COLOUR["protection"],
              opacity=0.45),
        Layer("燃气管道", "line", [pipe], stroke="#1f3a93", width=1.4),
        Layer("项目红线", "area", [site], fill=PROJECT_STATE_COLOUR.get(state, "#d62728"),
              stroke="#333333", width=0.8, opacity=0.55),
    ]
    line = row["line"]
    distance = float(row["distance_m"])
    if line is not None and not line.is_empty and line.length > 0:
        layers.append(Layer("最近距离", "line", [line], stroke="#000000", width=1.0, dashed=True))
    caption = (
        f"{number}. {row['project_code']} × {row['pipeline_code']}"
        f"（{PRESSURE_ZH.get(row['pressure_class'], row['pressure_class'])}）"
        f" {ZONE_ZH[row['zone']]}，距管壁外缘 {distance:.2f} 米，"
        f"保护手续：{PERMIT_STATUS_ZH.get(state, state)}"
    )
    bounds = window.bounds
    return Scene(bounds, layers, [], caption)
