"""Screen a site that is being drawn, without storing anything (the page's live preview).

The same semantics as ``layers.screening_db`` (wall distance, zone per pressure class)
for one geometry that is not in the database: one statement on the GiST index of
``gas_pipeline.geom_m``. It also returns what the map needs to show: the pipelines in
reach, their protection and control bands (clipped to the site's surroundings) and the
shortest line from the site to each pipe.

What applies (prohibited activities, those needing a protection plan, the required
action) is worked out per pressure class and declared activities exactly as the stored
screening does (``RuleSet.prohibited`` / ``plan_required`` / ``compose_action``), so the
preview and the answer after submitting agree.

Only pipelines within the rule set's search distance of the site are returned: the
same need-to-know rule as the stored answer (a builder sees the pipelines whose ranges
can reach its sites, nothing further).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

import shapely

from layers.db import execute_prepared
from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.screening_db import search_distance_m
from spatial_rules.crs import METRIC_SRID, STORAGE_EPSG
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import RuleSet
from vocabulary.activities import Activity, activities_mask

_PREVIEW = f"""
WITH s AS (SELECT ST_Transform(ST_GeomFromEWKB(decode(:site, 'hex')), {METRIC_SRID}) AS site_m),
w AS (SELECT site_m, ST_Buffer(site_m, :search_m, 8) AS window_m FROM s),
near AS (
  SELECT g.id, g.external_code, g.name, g.owner, g.pressure_class, g.outer_diameter_mm,
         r.protection_m, r.control_m, g.geom_m, w.site_m, w.window_m,
         ST_Distance(w.site_m, g.geom_m) AS centreline_m
  FROM w JOIN gas_pipeline g ON ST_DWithin(w.site_m, g.geom_m, :search_m)
  JOIN unnest(CAST(:cls AS text[]), CAST(:prot AS float8[]), CAST(:ctrl AS float8[]))
       AS r(pressure_class, protection_m, control_m) ON r.pressure_class = g.pressure_class
  WHERE g.deleted_at IS NULL AND g.status <> ALL(:unscreened)
)
SELECT id, external_code, name, owner, pressure_class, outer_diameter_mm, protection_m, control_m,
       centreline_m, GREATEST(0.0, centreline_m - outer_diameter_mm / 2000.0) AS wall_m,
       ST_AsGeoJSON(ST_Transform(ST_Intersection(geom_m, window_m), {STORAGE_EPSG}), 7) AS pipe,
       ST_AsGeoJSON(ST_Transform(ST_Intersection(
         ST_Buffer(geom_m, protection_m + outer_diameter_mm / 2000.0, 8), window_m), {STORAGE_EPSG}), 7)
         AS protection_band,
       ST_AsGeoJSON(ST_Transform(ST_Intersection(
         ST_Buffer(geom_m, control_m + outer_diameter_mm / 2000.0, 8), window_m), {STORAGE_EPSG}), 7)
         AS control_band,
       ST_AsGeoJSON(ST_Transform(ST_ShortestLine(site_m, geom_m), {STORAGE_EPSG}), 7) AS nearest_line
FROM near ORDER BY centreline_m, id
"""


def _zone(wall_m: float, protection_m: float, control_m: float) -> str | None:
    if wall_m < protection_m:
        return "protection"
    if wall_m < control_m:
        return "control"
    return None


def preview_site(session: Session, site, rule_set: RuleSet,
                 activities: Iterable[Activity] | None = None) -> dict:
    """Return the conflicts a site (EPSG:4490 polygon) would have, and what the map shows.

    ``activities``: the planned activities the site declares (None or empty: every
    activity, as for a stored project that declares none). Reads only. ``conflicts``
    are ordered by distance; ``features`` is a GeoJSON FeatureCollection of pipes,
    bands and nearest lines (property ``layer``).
    """
    params = {
        "site": shapely.to_wkb(shapely.set_srid(site, STORAGE_EPSG), hex=True, include_srid=True),
        "search_m": search_distance_m(rule_set),
        "unscreened": list(UNSCREENED_PIPELINE_STATUSES),
        "cls": [c.value for c in PressureClass],
        "prot": list(rule_set.protection_array()),
        "ctrl": list(rule_set.control_array()),
    }
    rows = execute_prepared(session, _PREVIEW, params).mappings().all()
    declared = sorted(a.value for a in activities) if activities else []
    mask = activities_mask(activities)  # none declared: every activity
    conflicts, features = [], []
    for row in rows:
        zone = _zone(row["wall_m"], row["protection_m"], row["control_m"])
        base = {"pipeline_code": row["external_code"], "pressure_class": row["pressure_class"]}
        for layer in ("protection_band", "control_band", "pipe"):
            geometry = json.loads(row[layer])
            if geometry.get("coordinates"):
                features.append({"type": "Feature", "geometry": geometry,
                                 "properties": {**base, "layer": layer}})
        if zone is None:
            continue
        prohibited = rule_set.prohibited(zone, row["pressure_class"], mask)
        plan = rule_set.plan_required(zone, row["pressure_class"], mask)
        conflicts.append({
            "pipeline_feature_id": row["id"],
            "pipeline_code": row["external_code"],
            "pipeline_name": row["name"],
            "owner": row["owner"],
            "pressure_class": row["pressure_class"],
            "outer_diameter_mm": row["outer_diameter_mm"],
            "zone": zone,
            "distance_m": round(float(row["wall_m"]), 2),
            "protection_range_m": row["protection_m"],
            "control_range_m": row["control_m"],
            "required_action": rule_set.compose_action(zone, prohibited, plan),
            "rule_set": rule_set.label,
            "prohibited_activities": list(prohibited),
            "plan_required_activities": list(plan),
        })
        features.append({"type": "Feature", "geometry": json.loads(row["nearest_line"]),
                         "properties": {**base, "layer": "nearest_line", "zone": zone}})
    return {"rule_set": rule_set.label, "activities": declared, "conflicts": conflicts,
            "features": {"type": "FeatureCollection", "features": features}}
