"""Pop-ups and panels as content blocks, and styled GeoJSON, built from query results.

A block is plain data (``heading``, ``text``, ``fields``, ``table``, ``section``); the
page script turns each into elements and puts every string in as text
(``textContent``), never as HTML, so a project called ``<img onerror=...>`` shows as
those characters. All labels come from ``maps.i18n``.
"""

from __future__ import annotations

import json

from maps import i18n
from vocabulary import ProjectKind, ProjectStatus
from vocabulary.activities import Activity

# Choropleth classes of the supervision rate: (upper bound exclusive, colour); 100 % apart.
CHOROPLETH_COLORS = ("#d9d9d9", "#d73027", "#fc8d59", "#fee08b", "#1a9850")


def _s(value) -> str:
    return "" if value is None else str(value)


def heading(text: str, level: int = 4) -> dict:
    """Return a heading block (h``level``)."""
    return {"type": "heading", "level": level, "text": _s(text)}


def paragraph(text: str, css_class: str = "", strong=None) -> dict:
    """Return a paragraph block; ``strong`` is shown after the text in bold."""
    block = {"type": "text", "text": _s(text), "class": css_class}
    if strong is not None:
        block["strong"] = _s(strong)
    return block


def table(head: tuple[str, ...], rows: list[tuple]) -> dict:
    """Return a table block: a header row and rows of cells (all shown as text)."""
    return {"type": "table", "head": [_s(h) for h in head], "rows": [[_s(c) for c in r] for r in rows]}


def _fields(detail: dict, names: tuple[str, ...]) -> dict:
    return {"type": "fields", "rows": [[i18n.POPUP[n], _s(detail.get(n) or "—")] for n in names]}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def project_popup(detail: dict, view: str) -> list[dict]:
    """Return the pop-up blocks of one project (``layers_data.project_detail``) for a map view."""
    p = i18n.POPUP
    shown = {**detail, "kind": ProjectKind.label_of(detail["kind"]),
             "status": ProjectStatus.label_of(detail["status"])}
    blocks = [heading(f'{_s(detail["code"])} {_s(detail["name"])}'),
              _fields(shown, ("builder", "organisation", "contractor", "township", "kind", "status"))]
    if view == "permits":
        blocks += _conflicts(detail)
    elif view == "supervision":
        flag = detail["under_supervision"]
        value = p["unknown"] if flag is None else (p["yes"] if flag else p["no"])
        blocks.append(_fields({"under_supervision": value, "supervised_since": detail["supervised_since"],
                               "supervisor": detail["supervisor"]},
                              ("under_supervision", "supervised_since", "supervisor")))
    else:
        blocks += _inspections(detail)
    return blocks


def _activity_labels(codes) -> str:
    """Return activity codes as their Chinese names (vocabulary.activities), or a dash."""
    return "、".join(Activity(c).label for c in codes) if codes else "—"


def _conflicts(detail: dict) -> list[dict]:
    p = i18n.POPUP
    if not detail["conflicts"]:
        return [paragraph(p["no_conflict"])]
    rows = [(c["pipeline_code"], i18n.PRESSURE_ZH.get(c["pressure_class"], c["pressure_class"]),
             i18n.ZONE_ZH.get(c["zone"], c["zone"]), f"{c['distance_m']:.2f}",
             i18n.PERMIT_STATUS_ZH.get(c["permit_status"], c["permit_status"]),
             c.get("rule_set") or "", _activity_labels(c.get("prohibited_activities")),
             _activity_labels(c.get("plan_required_activities")))
            for c in detail["conflicts"]]
    out = [heading(p["conflicts"], 5),
           table((p["pipeline"], p["pressure"], p["zone"], p["distance"], p["permit"],
                  p["rule_set"], p["prohibited"], p["plan_required"]), rows)]
    if detail["alerts_new"]:
        out.append(paragraph(f'{p["new_alerts"]}：{detail["alerts_new"]}', "gis-alert"))
    out.append(heading(p["history"], 5))
    codes = {c["permit_id"]: c["pipeline_code"] for c in detail["conflicts"]}
    events = [(str(e["at"])[:16], codes.get(e["permit_id"], ""), e["username"] or "",
               f"{i18n.PERMIT_STATUS_ZH.get(e['from_status'], e['from_status'] or '—')} → "
               f"{i18n.PERMIT_STATUS_ZH.get(e['to_status'], e['to_status'])}",
               e["note"] or e["reference"] or "")
              for e in detail["permit_events"]]
    out.append(table((p["date"], p["pipeline"], p["by"], p["change"], p["note"]), events)
               if events else paragraph(p["no_history"]))
    return out


def _inspections(detail: dict) -> list[dict]:
    p = i18n.POPUP
    out = [heading(f"{p['inspections']}（{detail['year']}）", 5)]
    rows = []
    for i in detail["inspections"]:
        n = i["round_or_stage"]
        which = "" if n is None else (p["round"] if i["kind"] == "self" else p["stage"]).format(n=n)
        rows.append((i["inspected_on"], i18n.INSPECTION_KIND_ZH.get(i["kind"], i["kind"]), which,
                     i["organisation"] or ""))
    out.append(table((p["date"], p["kind"], "", p["organisation"]), rows)
               if rows else paragraph(p["no_inspections"]))
    if detail["spot_picks"]:
        stages = "、".join(p["stage"].format(n=s["stage"]) for s in detail["spot_picks"])
        out.append(paragraph(f"{p['spot_picks']}：{stages}"))
    return out


def coverage_panel(coverage: dict) -> list[dict]:
    """Return the panel blocks of spot-check coverage per stage against the quota."""
    rows = [(s["label"], s["candidates"], s["quota_needed"], s["picked"], s["checked"],
             _percent(s["rate"]), i18n.COVERAGE_MET if s["met"] else i18n.COVERAGE_NOT_MET)
            for s in coverage["stages"]]
    n = coverage["projects"]
    return [
        heading(i18n.COVERAGE_TITLE.format(year=coverage["year"], quota=coverage["quota"])),
        table(i18n.COVERAGE_HEAD, rows),
        paragraph(i18n.COVERAGE_ALL.format(covered=coverage["spot_covered"], n=n,
                                           rate=_percent(coverage["spot_covered"] / n if n else None))),
        paragraph(i18n.COVERAGE_SELF.format(r1=coverage["self_round_1"], r2=coverage["self_round_2"], n=n)),
        paragraph(i18n.COVERAGE_THIRD.format(done=coverage["third_party_done"], insured=coverage["insured"])),
    ]


def blocks_text(blocks: list[dict]) -> str:
    """Return every string of ``blocks`` joined by newlines (tests and logs read it)."""
    out: list[str] = []
    for b in blocks:
        if b["type"] == "section":
            out.append(blocks_text(b["blocks"]))
        elif b["type"] in ("heading", "text"):
            out.append(b["text"] + b.get("strong", ""))
        elif b["type"] == "fields":
            out.extend(f"{k} {v}" for k, v in b["rows"])
        else:
            out.append(" ".join(b["head"]))
            out.extend(" ".join(r) for r in b["rows"])
    return "\n".join(out)


def choropleth_color(supervised: int, total: int) -> str:
    """Return the fill colour of a township's supervision rate (grey when it has no project)."""
    if total == 0:
        return CHOROPLETH_COLORS[0]
    rate = supervised / total
    if rate >= 1:
        return CHOROPLETH_COLORS[4]
    return CHOROPLETH_COLORS[1 if rate < 0.5 else 2 if rate < 0.8 else 3]


def supervision_choropleth(rows: list[dict]) -> dict:
    """Return the townships (``layers_data.supervision_by_township``) as styled GeoJSON with labels."""
    features = []
    for r in rows:
        total, supervised = int(r["total"]), int(r["supervised"])
        label = (i18n.CHOROPLETH_LABEL.format(name=r["name"], supervised=supervised, total=total,
                                              rate=_percent(supervised / total))
                 if total else i18n.CHOROPLETH_EMPTY.format(name=r["name"]))
        features.append({"type": "Feature", "geometry": json.loads(r["geometry"]), "properties": {
            "name": r["name"], "total": total, "supervised": supervised,
            "rate": supervised / total if total else None,
            "color": choropleth_color(supervised, total), "label": label}})
    return {"type": "FeatureCollection", "features": features}


def dashboard_blocks(figures: dict) -> list[dict]:
    """Return the dashboard's headline figures (``layers_data.dashboard_figures``) as blocks."""
    s = i18n.SUMMARY
    pipes = [(i18n.PRESSURE_ZH.get(r["pressure_class"], r["pressure_class"]), r["segments"],
              f"{r['km']:.1f}") for r in figures["pipelines"]]
    pipes.append((s["total"], sum(r["segments"] for r in figures["pipelines"]),
                  f"{sum(r['km'] for r in figures['pipelines']):.1f}"))
    projects = [(ProjectStatus.label_of(r["status"]), r["n"]) for r in figures["projects"]]
    projects.append((s["total"], sum(r["n"] for r in figures["projects"])))
    conflicts = [(i18n.ZONE_ZH.get(r["zone"], r["zone"]), r["n"], r["projects"])
                 for r in figures["conflicts"]]
    permits = [(i18n.PERMIT_STATUS_ZH.get(r["status"], r["status"]), r["n"]) for r in figures["permits"]]

    def section(title: str, head: tuple, rows: list) -> dict:
        return {"type": "section", "blocks": [heading(title, 3), table(head, rows)]}

    return [
        paragraph(f'{s["alerts_new"]}：', "gis-alert-figure", strong=figures["alerts_new"]),
        section(s["pipelines"], (s["pressure"], s["segments"], s["km"]), pipes),
        section(s["projects"], (s["project_status"], s["count"]), projects),
        section(s["conflicts"], (s["zone"], s["count"], s["projects_affected"]), conflicts),
        section(s["permits"], (s["permit_status"], s["count"]), permits),
    ]
