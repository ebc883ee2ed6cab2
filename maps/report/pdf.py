"""Write the PDF report: A4, the Chinese font embedded, static maps and the tables."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from maps.report.fonts import register_pdf_font
from maps.report.labels import CONFLICT_MAPS_HEADING, TABLE_TITLES, report_title
from maps.report.scene import Scene
from maps.report.static_maps import render_png

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN
MAPS_PER_ROW = 3
# Longest text kept in a table cell, caption or heading: a row taller than a page cannot be
# laid out, so longer text (a 1,500-character project name) is cut with a mark; the CSV and
# XLSX tables keep it whole.
MAX_CELL_CHARS = 200
MAX_LINE_CHARS = 120
CUT_MARK = "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain(value: object, limit: int = MAX_CELL_CHARS) -> str:
    """Return ``value`` as one plain line of at most ``limit`` characters, cut with a mark."""
    text = _CONTROL.sub(" ", "" if value is None else str(value))
    return text if len(text) <= limit else text[: limit - 1] + CUT_MARK


def markup(value: object, limit: int = MAX_CELL_CHARS) -> str:
    """Return ``value`` as reportlab paragraph text: cut to ``limit``, then escaped.

    reportlab reads a Paragraph's text as XML-like markup, so a name such as
    ``<img src=x>`` or ``<para>`` would be taken for a tag and fail the whole report.
    """
    return escape(plain(value, limit))


def _para(value: object, style: ParagraphStyle, limit: int = MAX_CELL_CHARS) -> Paragraph:
    """Return a Paragraph of user or fixed text, never read as markup."""
    return Paragraph(markup(value, limit), style)


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=24, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10,
                                   textColor=colors.HexColor("#555555")),
        "h1": ParagraphStyle("h1", parent=base, fontSize=13, leading=18, spaceBefore=10, keepWithNext=1,
                             spaceAfter=5),
        "body": base,
        "note": ParagraphStyle("note", parent=base, fontSize=7.5, leading=10,
                               textColor=colors.HexColor("#555555")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5),
        "caption": ParagraphStyle("caption", parent=base, fontSize=6.5, leading=8.5),
    }


def _widths(frame: pd.DataFrame, style: ParagraphStyle) -> list[float]:
    """Size columns to their longest text (points), shrunk to the body width when too wide."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    padding = 13.0  # the table's cell padding is 6 pt each side
    def width(value) -> float:
        return stringWidth(plain(value), style.fontName, style.fontSize)

    # Headers may wrap onto two lines; data cells should not.
    natural = [
        min(max(width(column) / 2, *(width(v) for v in frame[column].head(300)), 12.0) + padding,
            BODY_WIDTH * 0.4)
        for column in frame.columns
    ]
    # Too wide: narrow the widest (free-text) columns first, so codes and dates stay on one line.
    for index in sorted(range(len(natural)), key=lambda i: -natural[i]):
        excess = sum(natural) - BODY_WIDTH
        if excess <= 0:
            break
        natural[index] = max(natural[index] - excess, min(natural[index], 60.0))
    total = sum(natural)
    return natural if total <= BODY_WIDTH else [w * BODY_WIDTH / total for w in natural]


def _table(frame: pd.DataFrame, styles, widths=None) -> Table:
    cell = styles["cell"]
    widths = widths or _widths(frame, cell)
    rows = [[_para(c, cell) for c in frame.columns]]
    rows += [[_para(v, cell) for v in record] for record in frame.itertuples(index=False)]
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe6ee")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))
    return table


def _image(png: bytes, width: float, height: float) -> Image:
    return Image(io.BytesIO(png), width=width, height=height)


def write_pdf(
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
    """Write the PDF report to ``path`` and return it (``title``, ``area``: as ``write_html``)."""
    title = title or report_title()
    font = register_pdf_font()
    map_heading = f"{plain(scope, MAX_LINE_CHARS)}地图" if scope else f"{area}地图"
    styles = _styles(font)
    story: list = [
        _para(title, styles["title"]),
        _para(heading, styles["subtitle"], MAX_LINE_CHARS),
        Spacer(1, 4 * mm),
    ]
    number = iter("一二三四五六七八九十")

    def section(title: str) -> Paragraph:
        return _para(f"{next(number)}、{title}", styles["h1"], MAX_LINE_CHARS)

    story += [section(TABLE_TITLES["summary"]),
              _table(tables["summary"], styles, [60 * mm, 70 * mm])]
    map_height = BODY_WIDTH * 0.64
    story += [
        section(map_heading),
        _image(render_png(overview, (BODY_WIDTH / 72, map_height / 72), dpi=200, legend=True),
               BODY_WIDTH, map_height),
        *[_para(n, styles["note"]) for n in notes],
    ]
    for stem in ("conflicts_by_township", "permit_status", "supervision_coverage",
                 "inspection_progress", "spot_check_stages"):
        story += [section(TABLE_TITLES[stem]), _table(tables[stem], styles)]
    story += [PageBreak(), section(TABLE_TITLES["conflict_list"])]
    # The PDF leaves out the range and plan columns (in the CSV/XLSX) so codes fit on one line.
    conflicts = tables["conflict_list"].drop(
        columns=["保护范围（米）", "控制范围（米）", "须商定保护方案的作业"])
    story.append(_table(conflicts, styles) if len(conflicts)
                 else _para("本月末无未关闭的冲突。", styles["body"]))
    story.append(section(CONFLICT_MAPS_HEADING))
    story += _conflict_grid(conflict_scenes, styles)
    if omitted_conflicts:
        story.append(_para(
            f"另有 {omitted_conflicts} 处冲突未单独绘图，详见冲突清单。", styles["note"]
        ))
    if not conflict_scenes:
        story.append(_para("本月末无未关闭的冲突。", styles["body"]))

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(MARGIN, 8 * mm, plain(f"{title}　{heading}", 80))
        canvas.drawRightString(PAGE_WIDTH - MARGIN, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    document = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN + 3 * mm, title=plain(f"{title} {heading}", MAX_LINE_CHARS),
        author="gisapp", subject=plain(heading, MAX_LINE_CHARS), lang="zh-CN",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return path


def _conflict_grid(scenes: list[Scene], styles) -> list:
    cell_width = BODY_WIDTH / MAPS_PER_ROW - 2 * mm
    cell_height = cell_width * 0.8
    cells: list[Any] = [
        [
            _image(render_png(scene, (cell_width / 72, cell_height / 72), dpi=170),
                   cell_width, cell_height),
            _para(scene.caption, styles["caption"]),
        ]
        for scene in scenes
    ]
    flow = []
    for start in range(0, len(cells), MAPS_PER_ROW):
        row = cells[start:start + MAPS_PER_ROW]
        row += [""] * (MAPS_PER_ROW - len(row))
        table = Table([row], colWidths=[BODY_WIDTH / MAPS_PER_ROW] * MAPS_PER_ROW)
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 1),
                                   ("RIGHTPADDING", (0, 0), (-1, -1), 1)]))
        flow.append(KeepTogether(table))
    return flow
