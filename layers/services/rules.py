"""The rules in force over the stored data: which version judges it, switching, impact.

The stored conflicts are judged under one rule set version at a time. Switching to
another version (``switch_rule_set``: ``gisapp screen --db --rules X``, or the server on
the day a version takes effect) re-screens every project not yet completed under the
new version in one transaction: new conflicts get their alert and permit record,
vanished ones close (their permits freeze), and a standing conflict that the new
version judges differently (zone or activities) is updated in place, keeps its permit
and raises a 'changed' alert. Completed projects keep the answers they were given.

``rule_impact`` is the dry run: both versions screen the stored data in memory (the
same engine as ``gisapp screen``, on the stored metric geometry) and every pair that
comes into a range, leaves one, or changes zone or prohibited activities is listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.screening_db import DbScreenReport
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import RuleSet
from spatial_rules.screening import PipelineSet, SiteSet, screen_sites
from vocabulary.activities import ALL_ACTIVITIES_MASK, Activity, activities_mask, mask_codes

ZONE_ZH = {"protection": "安全保护范围", "control": "安全控制范围", None: "不在范围内"}
CHANGE_ZH = {
    "enters": "进入范围",
    "leaves": "离开范围",
    "zone": "范围变化",
    "activities": "禁止作业变化",
}
CHANGE_KINDS = tuple(CHANGE_ZH)


def stored_rule_set(session: Session) -> str | None:
    """Return the version the stored conflicts are judged under (None: never screened).

    The last recorded switch decides; a database screened before switches were
    recorded answers with the version of most of its open conflicts.
    """
    last = session.execute(
        text("SELECT to_rule_set FROM rule_set_switch ORDER BY switched_at DESC, id DESC LIMIT 1")
    ).scalar_one_or_none()
    if last is not None:
        return last
    return session.execute(
        text("SELECT rule_set FROM pipeline_conflict WHERE closed_at IS NULL "
             "GROUP BY rule_set ORDER BY count(*) DESC, rule_set LIMIT 1")
    ).scalar_one_or_none()


@dataclass
class SwitchReport:
    """What a full screen under a version did, and whether it switched versions."""

    from_rule_set: str | None
    to_rule_set: str
    switched: bool
    screen: DbScreenReport
    change_alert_ids: list[int] = field(default_factory=list)


def record_switch(session: Session, from_label: str | None, report: DbScreenReport,
                  trigger: str) -> None:
    """Write the ``rule_set_switch`` row of a screen that moved the stored data."""
    session.execute(
        text("INSERT INTO rule_set_switch (from_rule_set, to_rule_set, trigger, new_conflicts, "
             "changed_conflicts, closed_conflicts) VALUES (:f, :t, :trigger, :n, :c, :x)"),
        {"f": from_label, "t": report.rule_set, "trigger": trigger,
         "n": len(report.new_conflict_ids), "c": len(report.changed), "x": report.closed},
    )


def switch_history(session: Session) -> list[dict]:
    """Return the recorded switches, newest first."""
    rows = session.execute(
        text("SELECT id, from_rule_set, to_rule_set, trigger, switched_at, new_conflicts, "
             "changed_conflicts, closed_conflicts FROM rule_set_switch ORDER BY switched_at DESC, id DESC")
    ).mappings().all()
    return [dict(r) for r in rows]


def catch_up(session: Session, ctx) -> tuple[int, int]:
    """Re-screen what a lagging worker wrote under the previous version since the switch.

    After one worker switched the stored data, another may still have screened a few
    writes under the previous version before its own check noticed the new date. Those
    features (changed since the last switch, or holding open conflicts of another
    version) are screened again under ``ctx.rule_set``; returns (projects, pipelines).
    """
    from layers.services.features import screen_and_alert

    since = session.execute(
        text("SELECT max(switched_at) FROM rule_set_switch WHERE to_rule_set = :l"),
        {"l": ctx.rule_set.label},
    ).scalar_one()
    if since is None:
        return 0, 0
    project_ids = session.execute(
        text("SELECT p.id FROM construction_project p WHERE p.deleted_at IS NULL "
             "AND p.status <> 'completed' AND (p.updated_at >= :since OR p.created_at >= :since "
             "OR EXISTS (SELECT 1 FROM pipeline_conflict c WHERE c.project_id = p.id "
             "AND c.closed_at IS NULL AND c.rule_set <> :l)) ORDER BY p.id"),
        {"since": since, "l": ctx.rule_set.label},
    ).scalars().all()
    pipeline_ids = session.execute(
        text("SELECT id FROM gas_pipeline WHERE deleted_at IS NULL "
             "AND (updated_at >= :since OR created_at >= :since) ORDER BY id"),
        {"since": since},
    ).scalars().all()
    if project_ids:
        screen_and_alert(session, "projects", project_ids, ctx)
    if pipeline_ids:
        screen_and_alert(session, "pipelines", pipeline_ids, ctx)
    return len(project_ids), len(pipeline_ids)


def rules_overview(session: Session, in_use: str) -> dict:
    """Return the built-in versions, the version a worker uses, the stored data's, and switches."""
    from spatial_rules.rulesets import list_rule_sets

    return {
        "in_use": in_use,
        "stored": stored_rule_set(session),
        "versions": [
            {"rule_set": r.label, "title": r.title, "effective_from": r.effective_from.isoformat(),
             "effective_until": r.effective_until.isoformat() if r.effective_until else None,
             "sources": dict(r.sources)}
            for r in list_rule_sets()
        ],
        "switches": switch_history(session),
    }


# --- impact (dry run) ----------------------------------------------------------------


@dataclass
class ImpactReport:
    """Pairs whose answer differs between two versions, with counts."""

    from_rule_set: str
    to_rule_set: str
    projects_screened: int
    completed_left_out: int
    table: pd.DataFrame
    by_township: pd.DataFrame
    by_pressure_class: pd.DataFrame

    def summary(self) -> dict:
        """Return the counts as plain JSON-able values."""
        counts = Counter(self.table["change"].tolist())
        return {
            "from": self.from_rule_set,
            "to": self.to_rule_set,
            "projects_screened": self.projects_screened,
            "completed_left_out": self.completed_left_out,
            "pairs_changed": len(self.table),
            # By id: two organisations may register the same code (D57).
            "projects_changed": int(self.table["project_id"].nunique()) if len(self.table) else 0,
            "by_change": {kind: int(counts.get(kind, 0)) for kind in CHANGE_KINDS},
            "by_township": _nested_counts(self.by_township, "township"),
            "by_pressure_class": _nested_counts(self.by_pressure_class, "pressure_class"),
        }

    def summary_lines(self) -> list[str]:
        """Return the summary as Chinese lines for the command line."""
        s = self.summary()
        lines = [
            f"规则变更影响：{self.from_rule_set} → {self.to_rule_set}（试算，未写入数据库）",
            f"  参与筛查的项目 {s['projects_screened']} 个（未竣工）；"
            f"已竣工项目 {s['completed_left_out']} 个不重新筛查",
            f"  受影响的项目-管道对 {s['pairs_changed']} 处，涉及项目 {s['projects_changed']} 个",
        ]
        lines.append("  " + "，".join(f"{CHANGE_ZH[k]} {n}" for k, n in s["by_change"].items()))
        for name, counts in s["by_township"].items():
            lines.append(f"  {name}：" + "，".join(f"{CHANGE_ZH[k]} {n}" for k, n in counts.items() if n))
        for cls, counts in s["by_pressure_class"].items():
            label = PressureClass(cls).label
            lines.append(f"  {label}：" + "，".join(f"{CHANGE_ZH[k]} {n}" for k, n in counts.items() if n))
        return lines

    def sheets(self) -> dict[str, pd.DataFrame]:
        """Return the tables for an XLSX workbook (Chinese sheet names)."""
        return {"变化明细": self.table, "按乡镇": self.by_township, "按压力级制": self.by_pressure_class}


def _nested_counts(frame: pd.DataFrame, key: str) -> dict:
    return {
        str(row[key]): {kind: int(row[kind]) for kind in CHANGE_KINDS}
        for row in frame.to_dict("records")
    }


def _load_sites(session: Session, include_completed: bool) -> tuple[pd.DataFrame, int]:
    rows = session.execute(
        text("SELECT id, registration_code, coalesce(organisation, '') AS organisation, name, "
             "township, status, activities, ST_AsBinary(geom_m) AS wkb FROM construction_project "
             "WHERE deleted_at IS NULL ORDER BY id")
    ).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows],
                         columns=["id", "registration_code", "organisation", "name", "township",
                                  "status", "activities", "wkb"])
    completed = frame["status"] == "completed"
    left_out = 0 if include_completed else int(completed.sum())
    if not include_completed:
        frame = frame[~completed].reset_index(drop=True)
    return frame, left_out


def _load_pipelines(session: Session) -> pd.DataFrame:
    rows = session.execute(
        text("SELECT id, external_code, pressure_class, outer_diameter_mm, ST_AsBinary(geom_m) AS wkb "
             "FROM gas_pipeline WHERE deleted_at IS NULL AND status <> ALL(:unscreened) ORDER BY id"),
        {"unscreened": list(UNSCREENED_PIPELINE_STATUSES)},
    ).mappings().all()
    return pd.DataFrame([dict(r) for r in rows],
                        columns=["id", "external_code", "pressure_class", "outer_diameter_mm", "wkb"])


def _masks(activities: list) -> np.ndarray:
    """Return the declared-activity mask of each stored declaration (None/NaN: every activity)."""
    texts = [v if isinstance(v, str) and v else None for v in activities]
    cache: dict[str | None, int] = {None: ALL_ACTIVITIES_MASK}
    for value in texts:
        if value is not None and value not in cache:
            cache[value] = activities_mask(Activity(c) for c in value.split(","))
    return np.fromiter((cache[v] for v in texts), dtype=np.int32, count=len(texts))


def _judged(pipes: PipelineSet, sites: SiteSet, rule_set: RuleSet) -> dict:
    result = screen_sites(pipes, sites, rule_set, nearest_points=False)
    zones = result.zones.tolist()
    return {
        (s, p): (z, d, b, pl)
        for s, p, z, d, b, pl in zip(
            result.site_index.tolist(), result.pipeline_index.tolist(), zones,
            result.distance_m.tolist(), result.prohibited_masks.tolist(),
            result.plan_masks.tolist(), strict=True)
    }


def rule_impact(session: Session, from_rule_set: RuleSet, to_rule_set: RuleSet,
                *, include_completed: bool = False) -> ImpactReport:
    """Return what switching the stored data from one version to another would change."""
    sites_frame, left_out = _load_sites(session, include_completed)
    pipes_frame = _load_pipelines(session)
    pipes = PipelineSet(
        ids=pipes_frame["id"].to_numpy(dtype=np.int64),
        geoms=shapely.from_wkb(pipes_frame["wkb"].map(bytes).to_numpy()),
        pressure_classes=pipes_frame["pressure_class"].to_numpy(),
        outer_diameters_mm=pipes_frame["outer_diameter_mm"].to_numpy(dtype=float),
    )
    sites = SiteSet(
        ids=sites_frame["id"].to_numpy(dtype=np.int64),
        geoms=shapely.from_wkb(sites_frame["wkb"].map(bytes).to_numpy()),
        activity_masks=_masks(sites_frame["activities"].tolist()),
    )
    before = _judged(pipes, sites, from_rule_set)
    after = _judged(pipes, sites, to_rule_set)
    records = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None:
            change = "enters"
        elif new is None:
            change = "leaves"
        elif old[0] != new[0]:
            change = "zone"
        elif old[2] != new[2]:
            change = "activities"
        else:
            continue
        site = sites_frame.iloc[key[0]]
        pipe = pipes_frame.iloc[key[1]]
        judged = new if new is not None else old
        assert judged is not None  # the pair is in one of the two answers
        distance = judged[1]
        records.append({
            "project_code": site["registration_code"],
            "project_id": int(site["id"]),
            "project_organisation": site["organisation"],
            "project_name": site["name"],
            "township": site["township"] or "未知乡镇",
            "project_status": site["status"],
            "pipeline_code": pipe["external_code"],
            "pressure_class": pipe["pressure_class"],
            "distance_m": round(float(distance), 3),
            "change": change,
            "change_zh": CHANGE_ZH[change],
            "zone_from": old[0] if old else "",
            "zone_to": new[0] if new else "",
            "prohibited_from": ",".join(mask_codes(old[2])) if old else "",
            "prohibited_to": ",".join(mask_codes(new[2])) if new else "",
            "plan_required_from": ",".join(mask_codes(old[3])) if old else "",
            "plan_required_to": ",".join(mask_codes(new[3])) if new else "",
        })
    # A code is unique within its organisation only (D57): id and organisation name the project.
    columns = ["project_code", "project_id", "project_organisation", "project_name", "township",
               "project_status", "pipeline_code", "pressure_class", "distance_m", "change",
               "change_zh", "zone_from", "zone_to",
               "prohibited_from", "prohibited_to", "plan_required_from", "plan_required_to"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table = table.sort_values(["project_code", "project_organisation", "project_id", "pipeline_code"],
                              kind="stable").reset_index(drop=True)
    return ImpactReport(
        from_rule_set=from_rule_set.label,
        to_rule_set=to_rule_set.label,
        projects_screened=len(sites_frame),
        completed_left_out=left_out,
        table=table,
        by_township=_counts(table, "township"),
        by_pressure_class=_counts(table, "pressure_class"),
    )


def _counts(table: pd.DataFrame, key: str) -> pd.DataFrame:
    if table.empty:
        return pd.DataFrame(columns=[key, *CHANGE_KINDS, "total"])
    counts = pd.crosstab(table[key], table["change"]).reindex(columns=list(CHANGE_KINDS), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    if key == "pressure_class":
        order = [c.value for c in PressureClass if c.value in counts.index]
        counts = counts.reindex(order)
    return counts.reset_index().rename_axis(None, axis=1)
