"""A marker layer too large to annotate is drawn as dots at exactly its circles' positions."""

from __future__ import annotations

import re

import numpy as np

from shapely.geometry import Point

from maps.report import svg
from maps.report.scene import Layer, Scene


def _scene(n: int) -> Scene:
    rng = np.random.default_rng(3)
    points = [Point(x, y) for x, y in rng.uniform(0, 20_000, (n, 2))]
    layer = Layer("施工项目：无冲突", "marker", points, fill="#b0b0b0", stroke="#ffffff", radius=2.2,
                  titles=[f"SH-{i}" for i in range(n)])
    return Scene((0, 0, 20_000, 20_000), [layer], [])


def _circle_positions(text: str) -> set[str]:
    return {f"{x} {y}" for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', text)}


def _dot_positions(text: str) -> set[str]:
    d = re.search(r'class="layer dots"[^>]* d="([^"]*)"', text).group(1)
    return set(re.findall(r"M([\d.]+ [\d.]+)h0", d))


def test_dots_sit_where_the_circles_would_and_are_much_smaller(monkeypatch):
    scene = _scene(6_000)
    dots = svg.scene_svg(scene)
    monkeypatch.setattr(svg, "DETAILED_MARKERS", 10_000)
    circles = svg.scene_svg(scene)
    assert "<circle" not in dots and "SH-1<" not in dots
    assert _dot_positions(dots) == _circle_positions(circles)
    assert "6000 个" in dots
    assert len(dots) * 5 < len(circles)


def test_small_layers_keep_one_circle_and_title_per_site():
    text = svg.scene_svg(_scene(50))
    assert text.count("<circle") == 50 and "<title>SH-49</title>" in text
