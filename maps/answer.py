"""Draw an answer letter (查询答复书) as HTML and as an A4 PDF, from its frozen snapshot.

Both documents draw the same map extract (``maps.report.scene.Scene``: the site, the
pipelines around it and their protection and control bands, measured from the outer
wall), as inline SVG in the HTML and with matplotlib in the PDF, and the same tables.
Nothing here reads the database: the letter is what was issued.
"""

from __future__ import annotations

import datetime as dt
import io
from html import escape
from typing import Any

import numpy as np

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from maps.report.labels import BAND_COLOUR, PRESSURE_ZH, ZONE_ZH
from maps.report.scene import Layer, Scene
from maps.report.svg import scene_svg
from spatial_rules.crs import to_metric

TITLE = "燃气管道查询答复书"
ISSUER = "崇明区燃气管理所"  # the default deployment's; each letter names its own (issuer())
ACTIVITY_KEYS = ("prohibited_activities", "plan_required_activities")
ACTIVITY_ZH = {"prohibited_activities": "禁止的作业", "plan_required_activities": "须经保护方案的作业"}


def issuer(number: str) -> str:
    """Return the office that issued the letter numbered ``number``: its district's gas office.

    The number's prefix is the issuing district's short code (``layers.services.answers``):
    PD-2026-000001 was issued by 浦东新区燃气管理所, CM-... by 崇明区燃气管理所.
    """
    from layers.jurisdictions import SHORT_CODES, jurisdiction

    by_prefix = {short: code for code, short in SHORT_CODES.items()}
    code = by_prefix.get(str(number).split("-", 1)[0])
    return f"{jurisdiction(code).name}燃气管理所" if code else ISSUER


def _metric(geojson) -> BaseGeometry:
    """A GeoJSON geometry (lon/lat) in the metric CRS (metres)."""
    project = to_metric().transform
    return shapely.transform(shape(geojson), lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))


def _fmt_time(value) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        from vocabulary.clock import SHANGHAI as LOCAL_TZ

        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _activities(value) -> str:
    if not value:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(str(v.get("label") or v.get("name") or v) if isinstance(v, dict) else str(v)
                        for v in value)
    return str(value)


def answer_scene(answer: dict) -> Scene:
    """Return the map extract: site, pipelines, their bands, the shortest distances (metres)."""
    site = _metric(answer["site"])
    reach = float(answer.get("window_m") or 80.0)
    minx, miny, maxx, maxy = site.bounds
    window = box(minx - reach, miny - reach, maxx + reach, maxy + reach)
    ranges = answer.get("ranges") or {}
    protection, control, pipes, labels = [], [], [], []
    by_pipe = {c.get("pipeline_feature_id"): c for c in answer["conflicts"]}
    for pipe in answer["pipelines"]:
        geometry = pipe.get("geometry")
        if not geometry:
            continue
        line = _metric(geometry)
        if line.is_empty:
            continue
        pipes.append(line)
        conflict = by_pipe.get(pipe.get("feature_id"))
        prot_m, ctrl_m = (
            (conflict["protection_range_m"], conflict["control_range_m"]) if conflict
            else ranges.get(pipe.get("pressure_class"), (None, None)))
        half = float(pipe.get("outer_diameter_mm") or 0) / 2000.0
        if prot_m is not None:
            protection.append(line.buffer(float(prot_m) + half).intersection(window))
            control.append(line.buffer(float(ctrl_m) + half).intersection(window))
        point = line.interpolate(0.5, normalized=True)
        labels.append((point.x, point.y, str(pipe.get("code"))))
    prot_all = shapely.union_all(protection) if protection else None
    ctrl_only = (shapely.difference(shapely.union_all(control), prot_all)
                 if control else None)
    nearest = [_metric(c["nearest_line"]) for c in answer["conflicts"] if c.get("nearest_line")]
    layers = [
        Layer(ZONE_ZH["control"], "area", [ctrl_only] if ctrl_only is not None else [],
              fill=BAND_COLOUR["control"], opacity=0.35),
        Layer(ZONE_ZH["protection"], "area", [prot_all] if prot_all is not None else [],
              fill=BAND_COLOUR["protection"], opacity=0.45),
        Layer("燃气管道", "line", pipes, stroke="#1f3a93", width=1.6),
        Layer("项目红线", "area", [site], fill="#d62728" if answer["conflicts"] else "#2ca02c",
              stroke="#333333", width=1.0, opacity=0.5),
        Layer("最近距离", "line", [n for n in nearest if n.length > 0], stroke="#000000",
              width=1.0, dashed=True),
    ]
    caption = f"{answer['number']} 地图摘录：项目红线及其周边 {reach:.0f} 米内的燃气管道"
    return Scene(window.bounds, layers, labels, caption)


def _rows(answer: dict) -> dict[str, list[list[str]]]:
    """The letter's tables as rows of text (header first), shared by HTML and PDF."""
    project = answer.get("project") or {}
    facts = [
        ["答复书编号", answer["number"]],
        ["校验码", answer["verification_code"]],
        ["签发时间", _fmt_time(answer["issued_at"])],
        ["有效期至", f"{answer['valid_until']}（签发后 {_validity_days(answer)} 天）"],
        ["状态", answer["state_zh"] + ("（即将到期）" if answer.get("near_expiry") else "")],
        ["签发原因", answer["reason_zh"]],
        ["适用规则", f"{answer.get('rule_set_title') or ''}（{answer['rule_set']}）"],
        ["项目编号", str(project.get("code", answer.get("project_code", "")))],
        ["项目名称", str(project.get("name") or "")],
        ["建设单位", str(project.get("builder") or project.get("organisation") or "")],
        ["施工单位", str(project.get("contractor") or "")],
        ["所在乡镇", str(project.get("township") or "")],
    ]
    conflicts = [["序号", "管道编号", "权属单位", "压力级制", "所在范围", "距管壁外缘（米）",
                  "保护/控制范围（米）", "须办事项"]]
    for index, c in enumerate(answer["conflicts"], 1):
        conflicts.append([
            str(index), str(c.get("pipeline_code")), str(c.get("owner") or "未登记"),
            PRESSURE_ZH.get(c.get("pressure_class"), str(c.get("pressure_class"))),
            ZONE_ZH.get(c.get("zone"), str(c.get("zone"))), f"{float(c['distance_m']):.2f}",
            f"{float(c['protection_range_m']):g} / {float(c['control_range_m']):g}",
            str(c.get("required_action") or ""),
        ])
    activities = [["管道编号", "作业类别", "作业"]]
    for c in answer["conflicts"]:
        for key in ACTIVITY_KEYS:
            listed = _activities(c.get(key))
            if listed:
                activities.append([str(c.get("pipeline_code")), ACTIVITY_ZH[key], listed])
    pipelines = [["管道编号", "权属单位", "压力级制", "外径（毫米）", "是否进入范围"]]
    for p in answer["pipelines"]:
        pipelines.append([str(p.get("code")), str(p.get("owner") or "未登记"),
                          PRESSURE_ZH.get(p.get("pressure_class"), str(p.get("pressure_class"))),
                          f"{float(p.get('outer_diameter_mm') or 0):g}",
                          "是" if p.get("in_range") else "否"])
    owners = [["权属单位", "联系人", "电话", "应急电话", "电子邮件", "地址"]]
    for o in answer["owners"]:
        owners.append([str(o.get("name")), *(str(o.get(k) or "—") for k in
                                             ("contact_person", "phone", "emergency_phone", "email",
                                              "address"))])
    return {"facts": facts, "conflicts": conflicts, "activities": activities,
            "pipelines": pipelines, "owners": owners}


def _validity_days(answer: dict) -> int:
    issued = answer["issued_at"]
    if isinstance(issued, str):
        issued = dt.datetime.fromisoformat(issued)
    from vocabulary.clock import SHANGHAI as LOCAL_TZ

    until = answer["valid_until"]
    if isinstance(until, str):
        until = dt.date.fromisoformat(until)
    return (until - issued.astimezone(LOCAL_TZ).date()).days


def conclusion(answer: dict) -> str:
    """The letter's conclusion in one paragraph."""
    if not answer["conflicts"]:
        return ("经查询，本项目红线范围未进入任何燃气管道的安全保护范围或安全控制范围"
                "（无管道在范围内）。施工中如发现未登记的燃气管道，应立即停止作业并报告燃气管理所。")
    protection = sum(1 for c in answer["conflicts"] if c.get("zone") == "protection")
    return (f"经查询，本项目红线进入 {len(answer['conflicts'])} 条燃气管道的保护或控制范围"
            f"（其中安全保护范围 {protection} 处）。开工前须与管道权属单位商定保护方案，"
            "办理燃气管道保护手续，并按要求落实现场监护；本答复书过期或被取代后不能作为开工依据。")


def _verify_note(answer: dict) -> str:
    return (f"真伪核验：GET /api/answers/{answer['number']}/verify?code={answer['verification_code']}"
            "（无需登录，仅显示编号、项目编号、签发日期、有效期与是否有效）")


# --- HTML ---------------------------------------------------------------------------------

_CSS = (
    "body{font-family:'WenQuanYi Zen Hei','Noto Sans CJK SC',sans-serif;max-width:980px;"
    "margin:24px auto;color:#222}table{border-collapse:collapse;width:100%;margin:8px 0 16px}"
    "th,td{border:1px solid #9aa5b1;padding:4px 6px;font-size:13px;text-align:left}"
    "th{background:#dfe6ee}.state-current{color:#1a7f37}.state-expired,.state-superseded,.state-withdrawn"
    "{color:#b42318}.note{color:#555;font-size:12px}svg.map{border:1px solid #ccc}"
)


def _html_table(rows: list[list[str]], header: bool = True) -> str:
    if len(rows) <= (1 if header else 0):
        return ""
    head = ("<thead><tr>" + "".join(f"<th scope=\"col\">{escape(c)}</th>" for c in rows[0])
            + "</tr></thead>") if header else ""
    body_rows = rows[1:] if header else rows
    body = "".join(
        "<tr>" + "".join(
            (f"<th scope=\"row\">{escape(c)}</th>" if not header and i == 0 else f"<td>{escape(c)}</td>")
            for i, c in enumerate(r)) + "</tr>" for r in body_rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def render_html(answer: dict) -> str:
    """Return the letter as one offline HTML page (inline SVG map, no script, no external file)."""
    rows = _rows(answer)
    state = escape(answer["state"])
    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{TITLE} {escape(answer['number'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{TITLE}</h1><p>{escape(issuer(answer['number']))}　"
        f"编号 <strong>{escape(answer['number'])}</strong>　"
        f"<span class=\"state-{state}\">{escape(answer['state_zh'])}</span></p>",
        "<h2>一、答复信息</h2>", _html_table(rows["facts"], header=False),
        "<h2>二、结论</h2>", f"<p>{escape(conclusion(answer))}</p>",
        "<h2>三、地图摘录</h2>", scene_svg(answer_scene(answer), width=900),
        "<p class=\"note\">红色：安全保护范围；黄色：安全控制范围（自管壁外缘起算）；虚线：最近距离。</p>",
    ]
    if answer["conflicts"]:
        parts += ["<h2>四、进入范围的管道与须办事项</h2>", _html_table(rows["conflicts"])]
        if len(rows["activities"]) > 1:
            parts += ["<h3>作业限制</h3>", _html_table(rows["activities"])]
    else:
        parts += ["<h2>四、进入范围的管道与须办事项</h2>", "<p>无管道在范围内。</p>"]
    parts += ["<h2>五、周边燃气管道</h2>",
              _html_table(rows["pipelines"]) if len(rows["pipelines"]) > 1
              else "<p>地图范围内无燃气管道。</p>"]
    if len(rows["owners"]) > 1:
        parts += ["<h2>六、管道权属单位联系方式</h2>", _html_table(rows["owners"])]
    parts += [f"<p class=\"note\">{escape(_verify_note(answer))}</p>", "</body></html>"]
    return "".join(parts)


# --- PDF ----------------------------------------------------------------------------------

def render_pdf(answer: dict) -> bytes:
    """Return the letter as an A4 PDF with the Chinese font embedded and the map drawn."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from maps.report.fonts import register_pdf_font
    from maps.report.static_maps import render_png

    font = register_pdf_font()
    margin = 15 * mm
    width = A4[0] - 2 * margin
    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
    title = ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=1)
    h2 = ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=6, spaceAfter=3)
    cell = ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5)
    note = ParagraphStyle("note", parent=base, fontSize=7.5, leading=10, textColor=colors.HexColor("#555555"))
    rows = _rows(answer)

    def table(data, widths=None, header=True):
        flow = Table([[Paragraph(escape(c), cell) for c in r] for r in data], colWidths=widths,
                     repeatRows=1 if header else 0, hAlign="LEFT")
        style: list[Any] = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
        style.append(("BACKGROUND", (0, 0), (-1 if header else 0, 0 if header else -1),
                      colors.HexColor("#dfe6ee")))
        flow.setStyle(TableStyle(style))
        return flow

    map_height = width * 0.55
    png = render_png(answer_scene(answer), (width / 72, map_height / 72), dpi=150, legend=True)
    story = [
        Paragraph(TITLE, title),
        Paragraph(f"{escape(issuer(answer['number']))}　编号 {escape(answer['number'])}　"
                  f"{escape(answer['state_zh'])}", base),
        Spacer(1, 3 * mm),
        Paragraph("一、答复信息", h2), table(rows["facts"], [32 * mm, width - 32 * mm], header=False),
        Paragraph("二、结论", h2), Paragraph(escape(conclusion(answer)), base),
        Paragraph("三、地图摘录", h2), Image(io.BytesIO(png), width=width, height=map_height),
        Paragraph("红色：安全保护范围；黄色：安全控制范围（自管壁外缘起算）；虚线：最近距离。", note),
        Paragraph("四、进入范围的管道与须办事项", h2),
    ]
    if answer["conflicts"]:
        story.append(table(rows["conflicts"], [8 * mm, 22 * mm, 30 * mm, 16 * mm, 20 * mm, 17 * mm,
                                               20 * mm, width - 133 * mm]))
        if len(rows["activities"]) > 1:
            story.append(table(rows["activities"], [24 * mm, 30 * mm, width - 54 * mm]))
    else:
        story.append(Paragraph("无管道在范围内。", base))
    story.append(Paragraph("五、周边燃气管道", h2))
    story.append(table(rows["pipelines"]) if len(rows["pipelines"]) > 1
                 else Paragraph("地图范围内无燃气管道。", base))
    if len(rows["owners"]) > 1:
        story += [Paragraph("六、管道权属单位联系方式", h2), table(rows["owners"])]
    story += [Spacer(1, 3 * mm), Paragraph(escape(_verify_note(answer)), note)]

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(margin, 8 * mm, f"{TITLE} {answer['number']}　校验码 {answer['verification_code']}")
        canvas.drawRightString(A4[0] - margin, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=margin,
                      bottomMargin=margin + 3 * mm, title=f"{TITLE} {answer['number']}",
                      author=issuer(answer["number"]), subject=answer["number"], lang="zh-CN",
                      ).build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
