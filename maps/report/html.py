"""Write the self-contained HTML report: inline CSS and SVG maps, no external reference."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from maps.report.labels import CONFLICT_MAPS_HEADING, TABLE_TITLES, report_title
from maps.report.scene import Scene
from maps.report.svg import scene_svg

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:0 auto;max-width:1100px;padding:16px;color:#222;line-height:1.5}
h1{font-size:24px;margin:8px 0}h2{font-size:18px;border-bottom:2px solid #2e86c1;padding-bottom:2px;
margin-top:28px}.sub{color:#555}.note{color:#666;font-size:12px}
table.table{border-collapse:collapse;font-size:13px;margin:6px 0}
table.table th,table.table td{border:1px solid #b8c2cc;padding:3px 7px;text-align:left}
table.table th{background:#dfe6ee}table.table tr:last-child td{font-weight:600}
table.list tr:last-child td{font-weight:normal}
.map{border:1px solid #9aa5b1;background:#eaf2f8}.legend{display:flex;flex-wrap:wrap;gap:6px 16px;
font-size:12px;margin:6px 0}.legend span{display:inline-flex;align-items:center;gap:4px}
.swatch{display:inline-block;width:18px;height:10px;border:1px solid #555}
.line{display:inline-block;width:22px;height:0;border-top-width:3px;border-top-style:solid}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;border:1px solid #333}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}
figure{margin:0}figcaption{font-size:12px}
td,th,figcaption,h2,.sub{overflow-wrap:anywhere}
svg .layer path:hover,svg circle:hover{stroke:#000;stroke-width:2}
"""


def _legend(scene: Scene) -> str:
    items = []
    for layer in scene.layers:
        if not layer.legend or not layer.geometries:
            continue
        if layer.kind == "line":
            style = "dashed" if layer.dashed else "solid"
            mark = f'<i class="line" style="border-top-color:{layer.stroke};border-top-style:{style}"></i>'
        elif layer.kind == "marker":
            mark = f'<i class="dot" style="background:{layer.fill}"></i>'
        else:
            fill = layer.fill if layer.fill != "none" else "transparent"
            mark = (f'<i class="swatch" style="background:{fill};opacity:{layer.opacity};'
                    f'border-color:{layer.stroke if layer.stroke != "none" else "#555"}"></i>')
        items.append(f"<span>{mark}{escape(layer.label)}</span>")
    return f'<div class="legend">{"".join(items)}</div>'


def _table(frame: pd.DataFrame, extra_class: str = "") -> str:
    return frame.to_html(index=False, border=0, classes=f"table {extra_class}".strip(),
                         na_rep="", escape=True)


def write_html(
    path: Path,
    *,
    heading: str,
    notes: list[str],
    tables: dict[str, pd.DataFrame],
    overview: Scene,
    conflict_scenes: list[Scene],
    omitted_conflicts: int,
    scope: str | None = None,
    title: str | None = None,
    area: str = "全区",
) -> Path:
    """Write the HTML report to ``path`` (UTF-8, everything inline) and return it.

    ``title``: the report's title (``report_title``); ``area``: the word for its whole area.
    """
    title = title or report_title()
    sections = [
        f"<h2>{TABLE_TITLES['summary']}</h2>{_table(tables['summary'], 'list')}",
        f"<h2>{escape(f'{scope}地图' if scope else f'{area}地图')}</h2>"
        f"{_legend(overview)}{scene_svg(overview, 1000)}"
        + "".join(f'<p class="note">{escape(n)}</p>' for n in notes),
    ]
    for stem in ("conflicts_by_township", "permit_status", "supervision_coverage",
                 "inspection_progress", "spot_check_stages"):
        extra = "list" if stem in ("inspection_progress", "spot_check_stages") else ""
        sections.append(f"<h2>{escape(TABLE_TITLES[stem])}</h2>{_table(tables[stem], extra)}")
    conflicts = tables["conflict_list"]
    sections.append(
        f"<h2>{TABLE_TITLES['conflict_list']}</h2>"
        + (_table(conflicts, "list") if len(conflicts) else "<p>本月末无未关闭的冲突。</p>")
    )
    figures = "".join(
        f"<figure>{scene_svg(scene, 320)}<figcaption>{escape(scene.caption)}</figcaption></figure>"
        for scene in conflict_scenes
    )
    legend = _legend(conflict_scenes[0]) if conflict_scenes else ""
    omitted = (f'<p class="note">另有 {omitted_conflicts} 处冲突未单独绘图，详见冲突清单。</p>'
               if omitted_conflicts else "")
    sections.append(
        f"<h2>{CONFLICT_MAPS_HEADING}</h2>{legend}<div class=\"grid\">{figures}</div>{omitted}"
        if conflict_scenes else f"<h2>{CONFLICT_MAPS_HEADING}</h2><p>本月末无未关闭的冲突。</p>"
    )
    document = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} {escape(heading)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"sub\">{escape(heading)}</p>"
        + "".join(f"<section>{s}</section>" for s in sections)
        + "</body></html>"
    )
    path.write_text(document, encoding="utf-8")
    return path
