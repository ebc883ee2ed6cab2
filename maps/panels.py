"""HTML fragments and styled GeoJSON built from query results: pop-ups, panels, choropleth.

All text comes from ``maps.i18n`` and every value is HTML-escaped, so the page script
only inserts ready fragments and carries no strings of its own.
"""

from __future__ import annotations

import json
from html import escape

from maps import i18n
from vocabulary import ProjectKind, ProjectStatus
from vocabulary.activities import Activity

# Choropleth classes of the supervision rate: (upper bound exclusive, colour); 100 % apart.
CHOROPLETH_COLORS = ("#d9d9d9", "#d73027", "#fc8d59", "#fee08b", "#1a9850")


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _table(head: tuple[str, ...], rows: list[tuple]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="gis-table"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _fields(detail: dict, names: tuple[str, ...]) -> str:
    rows = "".join(f"<tr><th>{_e(i18n.POPUP[n])}</th><td>{_e(detail.get(n) or '—')}</td></tr>"
                   for n in names)
    return f'<table class="gis-fields">{rows}</table>'


def project_popup(detail: dict, view: str) -> str:
    """Return the pop-up HTML of one project (``layers_data.project_detail``) for a map view."""
    p = i18n.POPUP
    shown = {**detail, "kind": ProjectKind.label_of(detail["kind"]),
             "status": ProjectStatus.label_of(detail["status"])}
    parts = [f'<div class="gis-popup"><h4>{_e(detail["code"])} {_e(detail["name"])}</h4>',
             _fields(shown, ("builder", "organisation", "contractor", "township", "kind", "status"))]
    if view == "permits":
        parts.append(_conflicts(detail))
    elif view == "supervision":
        flag = detail["under_supervision"]
        value = p["unknown"] if flag is None else (p["yes"] if flag else p["no"])
        parts.append(_fields({"under_supervision": value, "supervised_since": detail["supervised_since"],
                              "supervisor": detail["supervisor"]},
                             ("under_supervision", "supervised_since", "supervisor")))
    else:
        parts.append(_inspections(detail))
    parts.append("</div>")
    return "".join(parts)


def _activity_labels(codes) -> str:
    """Return activity codes as their Chinese names (vocabulary.activities), or a dash."""
    return "、".join(Activity(c).label for c in codes) if codes else "—"


def _conflicts(detail: dict) -> str:
    p = i18n.POPUP
    if not detail["conflicts"]:
        return f"<p>{_e(p['no_conflict'])}</p>"
    rows = [(c["pipeline_code"], i18n.PRESSURE_ZH.get(c["pressure_class"], c["pressure_class"]),
             i18n.ZONE_ZH.get(c["zone"], c["zone"]), f"{c['distance_m']:.2f}",
             i18n.PERMIT_STATUS_ZH.get(c["permit_status"], c["permit_status"]),
             c.get("rule_set") or "", _activity_labels(c.get("prohibited_activities")),
             _activity_labels(c.get("plan_required_activities")))
            for c in detail["conflicts"]]
    out = [f"<h5>{_e(p['conflicts'])}</h5>",
           _table((p["pipeline"], p["pressure"], p["zone"], p["distance"], p["permit"],
                   p["rule_set"], p["prohibited"], p["plan_required"]), rows)]
    if detail["alerts_new"]:
        out.append(f'<p class="gis-alert">{_e(p["new_alerts"])}：{detail["alerts_new"]}</p>')
    out.append(f"<h5>{_e(p['history'])}</h5>")
    codes = {c["permit_id"]: c["pipeline_code"] for c in detail["conflicts"]}
    events = [(str(e["at"])[:16], codes.get(e["permit_id"], ""), e["username"] or "",
               f"{i18n.PERMIT_STATUS_ZH.get(e['from_status'], e['from_status'] or '—')} → "
               f"{i18n.PERMIT_STATUS_ZH.get(e['to_status'], e['to_status'])}",
               e["note"] or e["reference"] or "")
              for e in detail["permit_events"]]
    out.append(_table((p["date"], p["pipeline"], p["by"], p["change"], p["note"]), events)
               if events else f"<p>{_e(p['no_history'])}</p>")
    return "".join(out)


def _inspections(detail: dict) -> str:
    p = i18n.POPUP
    out = [f"<h5>{_e(p['inspections'])}（{detail['year']}）</h5>"]
    rows = []
    for i in detail["inspections"]:
        n = i["round_or_stage"]
        which = "" if n is None else (p["round"] if i["kind"] == "self" else p["stage"]).format(n=n)
        rows.append((i["inspected_on"], i18n.INSPECTION_KIND_ZH.get(i["kind"], i["kind"]), which,
                     i["organisation"] or ""))
    out.append(_table((p["date"], p["kind"], "", p["organisation"]), rows)
               if rows else f"<p>{_e(p['no_inspections'])}</p>")
    if detail["spot_picks"]:
        stages = "、".join(p["stage"].format(n=s["stage"]) for s in detail["spot_picks"])
        out.append(f"<p>{_e(p['spot_picks'])}：{_e(stages)}</p>")
    return "".join(out)


def coverage_panel(coverage: dict) -> str:
    """Return the panel HTML of spot-check coverage per stage against the quota."""
    rows = [(s["label"], s["candidates"], s["quota_needed"], s["picked"], s["checked"],
             _percent(s["rate"]), i18n.COVERAGE_MET if s["met"] else i18n.COVERAGE_NOT_MET)
            for s in coverage["stages"]]
    n = coverage["projects"]
    return "".join([
        f"<h4>{_e(i18n.COVERAGE_TITLE.format(year=coverage['year'], quota=coverage['quota']))}</h4>",
        _table(i18n.COVERAGE_HEAD, rows),
        f"<p>{_e(i18n.COVERAGE_ALL.format(covered=coverage['spot_covered'], n=n, rate=_percent(coverage['spot_covered'] / n if n else None)))}</p>",  # noqa: E501
        f"<p>{_e(i18n.COVERAGE_SELF.format(r1=coverage['self_round_1'], r2=coverage['self_round_2'], n=n))}</p>",  # noqa: E501
        f"<p>{_e(i18n.COVERAGE_THIRD.format(done=coverage['third_party_done'], insured=coverage['insured']))}</p>",  # noqa: E501
    ])


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


def dashboard_html(figures: dict) -> str:
    """Return the dashboard's headline figures (``layers_data.dashboard_figures``) as HTML tables."""
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
    return "".join([
        f'<p class="gis-alert-figure">{_e(s["alerts_new"])}：<b>{figures["alerts_new"]}</b></p>',
        f'<section><h3>{_e(s["pipelines"])}</h3>{_table((s["pressure"], s["segments"], s["km"]), pipes)}</section>',  # noqa: E501
        f'<section><h3>{_e(s["projects"])}</h3>{_table((s["project_status"], s["count"]), projects)}</section>',  # noqa: E501
        f'<section><h3>{_e(s["conflicts"])}</h3>'
        f'{_table((s["zone"], s["count"], s["projects_affected"]), conflicts)}</section>',
        f'<section><h3>{_e(s["permits"])}</h3>{_table((s["permit_status"], s["count"]), permits)}</section>',  # noqa: E501
    ])
