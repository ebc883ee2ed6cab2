"""The PostGIS screening engine: one set-based query on the metric columns, results kept.

Same semantics as the in-memory engine (``spatial_rules.screening``, ``spatial_rules.zones``):
wall distance = max(0, centreline distance - outer diameter / 2000) in metres in the
district's metric CRS; ``protection`` if below the class's protection range, else
``control`` if below its control range. Candidate pairs come from ``ST_DWithin`` on the
GiST-indexed ``geom_m`` columns with the widest search distance of the rule set, then
the exact per-class test. Abandoned pipelines have no protection range and are skipped
(both engines).

Results go to ``pipeline_conflict``: a pair still in range is updated, a new pair is
inserted (its id returned, so alerts can be raised in the same transaction), and an
open conflict whose pair is no longer in range is closed, never deleted. A new conflict
takes its site's district (the project's), wherever the pipe lies: the district office
that registered the site answers for it (migration 0018, row-level security).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import IdArray, execute_sized
from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.screening_locks import lock_area, lock_district
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import (
    LABEL_SEPARATOR,
    NOTHING_APPLIES,
    PLAN_SUFFIX,
    PROHIBITED_PREFIX,
    PROHIBITED_SUFFIX,
    RuleSet,
)
from vocabulary.activities import Activity

# Outer diameters are below 3000 mm (table constraint), so half is at most 1.5 m.
MAX_HALF_DIAMETER_M = 1.5

# Sites held for the gas office's review (project_review pending or rejected) are not
# screened: no conflicts, alerts or permits until released (layers.services.site_limits).
NOT_HELD = ("NOT EXISTS (SELECT 1 FROM project_review h WHERE h.project_id = p.id "
            "AND h.state <> 'released')")

# Each pressure class's ranges, from the rule set.
_RANGES = """unnest(CAST(:cls AS text[]), CAST(:prot AS float8[]), CAST(:ctrl AS float8[]))
  AS r(pressure_class, protection_m, control_m)"""

# A full screen (and so every switch to another version) re-screens only projects not
# yet completed: a completed project's answers stand, under the version that gave them.
_NOT_COMPLETED = " AND p.status <> 'completed'"

_PAIRS = """
SELECT p.id AS project_id, g.id AS pipeline_id, g.pressure_class, g.outer_diameter_mm,
       r.protection_m, r.control_m, d.centreline_m,
       GREATEST(0.0, d.centreline_m - g.outer_diameter_mm / 2000.0) AS wall_m,
       p.geom_m AS site_m, g.geom_m AS pipe_m, p.activities, p.district
FROM construction_project p
JOIN gas_pipeline g ON ST_DWithin(p.geom_m, g.geom_m, :search_m)
JOIN """ + _RANGES + """ ON r.pressure_class = g.pressure_class
CROSS JOIN LATERAL (SELECT ST_Distance(p.geom_m, g.geom_m) AS centreline_m) d
WHERE p.deleted_at IS NULL AND g.deleted_at IS NULL
  AND g.status <> ALL(:unscreened) AND """ + NOT_HELD + """ {scope}
"""

# The full screen drives the pipelines' index from each site (10,000 probes), where the
# planner would probe the sites' index from every pipeline (300,000 probes, 3x slower).
# OFFSET 0 keeps the subquery from being flattened, so the sites stay the outer side.
_FULL_PAIRS = """
SELECT p.id AS project_id, q.pipeline_id, q.pressure_class, q.outer_diameter_mm,
       q.protection_m, q.control_m, q.centreline_m,
       GREATEST(0.0, q.centreline_m - q.outer_diameter_mm / 2000.0) AS wall_m,
       p.geom_m AS site_m, q.pipe_m, p.activities, p.district
FROM construction_project p
CROSS JOIN LATERAL (
  SELECT g.id AS pipeline_id, g.pressure_class, g.outer_diameter_mm, r.protection_m,
         r.control_m, ST_Distance(p.geom_m, g.geom_m) AS centreline_m, g.geom_m AS pipe_m
  FROM gas_pipeline g JOIN """ + _RANGES + """ ON r.pressure_class = g.pressure_class
  WHERE ST_DWithin(p.geom_m, g.geom_m, :search_m)
    AND g.deleted_at IS NULL AND g.status <> ALL(:unscreened)
  OFFSET 0
) q
WHERE p.deleted_at IS NULL AND """ + NOT_HELD + """ {projects}
"""

# The activity rules of the version: one row per (zone, class), codes sorted and
# comma-joined ('' = none); the Chinese names of the activities for the action text.
_CELLS = """SELECT zone, pressure_class, string_to_array(prohibited, ',') AS prohibited,
       string_to_array(plan, ',') AS plan
FROM unnest(CAST(:cell_zone AS text[]), CAST(:cell_class AS text[]),
            CAST(:cell_prohibited AS text[]), CAST(:cell_plan AS text[]))
  AS c(zone, pressure_class, prohibited, plan)"""
_LABELS = """SELECT * FROM unnest(CAST(:act_codes AS text[]), CAST(:act_labels AS text[]))
  AS l(code, label)"""


def _label_list(array: str) -> str:
    """SQL of the Chinese names of a code array, in array order (spatial_rules.rulesets)."""
    return (f"(SELECT string_agg(l.label, CAST(:act_sep AS text) ORDER BY u.o) "
            f"FROM unnest({array}) WITH ORDINALITY u(code, o) JOIN labels l ON l.code = u.code)")


# The required action, composed exactly as ``spatial_rules.rulesets.compose_action``.
_ACTION = (
    "CASE a.zone WHEN 'protection' THEN CAST(:lead_protection AS text) "
    "ELSE CAST(:lead_control AS text) END"
    " || CASE WHEN cardinality(a.prohibited) > 0 THEN CAST(:prohibited_prefix AS text) || "
    + _label_list("a.prohibited") + " || CAST(:prohibited_suffix AS text) ELSE '' END"
    " || CASE WHEN cardinality(a.plan) > 0 THEN "
    + _label_list("a.plan") + " || CAST(:plan_suffix AS text) ELSE '' END"
    " || CASE WHEN cardinality(a.prohibited) = 0 AND cardinality(a.plan) = 0 "
    "THEN CAST(:nothing_applies AS text) ELSE '' END"
)

# Pairs inside a range, with zone, nearest line and activities; {pairs} is _FULL_PAIRS or
# one or two _PAIRS branches. What applies depends only on (zone, class, declaration): it
# is worked out once per distinct combination (a few dozen), not once per pair. A project
# that declared activities (sorted codes) keeps those of the rule cell it declared, in the
# cell's (sorted) order.
_SCREENED = """
WITH z AS MATERIALIZED (
  SELECT project_id, pipeline_id, pressure_class, outer_diameter_mm, protection_m, control_m,
         centreline_m, wall_m, coalesce(activities, '') AS declared, district,
         CASE WHEN wall_m < protection_m THEN 'protection' ELSE 'control' END AS zone,
         ST_Transform(ST_ShortestLine(site_m, pipe_m), 4490) AS nearest_line
  FROM ({pairs}) q
  WHERE wall_m < control_m
),
j AS MATERIALIZED (
  SELECT a.*, """ + _ACTION + """ AS required_action
  FROM (
    SELECT d.zone, d.pressure_class, d.declared,
      CASE WHEN d.declared = '' THEN c.prohibited ELSE ARRAY(
        SELECT u.x FROM unnest(c.prohibited) WITH ORDINALITY u(x, o)
        WHERE u.x = ANY(string_to_array(d.declared, ',')) ORDER BY u.o) END AS prohibited,
      CASE WHEN d.declared = '' THEN c.plan ELSE ARRAY(
        SELECT u.x FROM unnest(c.plan) WITH ORDINALITY u(x, o)
        WHERE u.x = ANY(string_to_array(d.declared, ',')) ORDER BY u.o) END AS plan
    FROM (SELECT DISTINCT zone, pressure_class, declared FROM z) d
    JOIN cells c ON c.zone = d.zone AND c.pressure_class = d.pressure_class
  ) a
)
SELECT z.*, j.prohibited, j.plan, j.required_action
FROM z JOIN j ON j.zone = z.zone AND j.pressure_class = z.pressure_class AND j.declared = z.declared
"""

# One statement reconciles pipeline_conflict with the screened pairs. All parts see the
# same snapshot: pairs still in range are updated, new ones inserted, the rest of the
# scope closed. An open conflict of a pair matches whatever version found it, so a
# switch of versions carries standing conflicts (and their permits) over; ``matched``
# keeps their previous zone, activities and version so that changes can be announced.
# Every screened pair lies in the scope, so repeating {scope} where pairs are matched
# changes nothing but lets an incremental screen find its few open conflicts by index
# even while the table's statistics still say it is empty (right after a first full
# screen, before autovacuum has analysed it).
_RECONCILE = """
WITH cells AS MATERIALIZED (""" + _CELLS + """),
labels AS MATERIALIZED (""" + _LABELS + """),
screened AS MATERIALIZED ({screened}),
closed AS (
  UPDATE pipeline_conflict c SET closed_at = now()
  WHERE c.closed_at IS NULL AND {scope}
    AND NOT EXISTS (SELECT 1 FROM screened s
                    WHERE s.project_id = c.project_id AND s.pipeline_id = c.pipeline_id)
  RETURNING c.id
),
matched AS MATERIALIZED (
  SELECT c.id, c.rule_set AS old_rule_set, c.zone AS old_zone,
         c.prohibited_activities AS old_prohibited, c.plan_required_activities AS old_plan,
         s.zone <> c.zone OR s.prohibited <> c.prohibited_activities
           OR s.plan <> c.plan_required_activities AS judged_differently
  FROM pipeline_conflict c JOIN screened s
    ON c.project_id = s.project_id AND c.pipeline_id = s.pipeline_id
  WHERE c.closed_at IS NULL AND {scope}
),
updated AS (
  UPDATE pipeline_conflict c SET zone = s.zone, distance_m = s.wall_m,
    centreline_distance_m = s.centreline_m, pressure_class = s.pressure_class,
    outer_diameter_mm = s.outer_diameter_mm, protection_range_m = s.protection_m,
    control_range_m = s.control_m, nearest_line = s.nearest_line,
    required_action = s.required_action, prohibited_activities = s.prohibited,
    plan_required_activities = s.plan, rule_set = :label, last_screened_at = now()
  FROM screened s
  WHERE c.closed_at IS NULL AND {scope}
    AND c.project_id = s.project_id AND c.pipeline_id = s.pipeline_id
  RETURNING c.id
),
inserted AS (
  INSERT INTO pipeline_conflict (project_id, pipeline_id, rule_set, found_under, zone,
    distance_m, centreline_distance_m, pressure_class, outer_diameter_mm, protection_range_m,
    control_range_m, required_action, prohibited_activities, plan_required_activities,
    nearest_line, district)
  SELECT s.project_id, s.pipeline_id, :label, :label, s.zone, s.wall_m, s.centreline_m,
    s.pressure_class, s.outer_diameter_mm, s.protection_m, s.control_m, s.required_action,
    s.prohibited, s.plan, s.nearest_line, s.district
  FROM screened s
  WHERE NOT EXISTS (SELECT 1 FROM pipeline_conflict c WHERE c.closed_at IS NULL
                    AND {scope} AND c.project_id = s.project_id
                    AND c.pipeline_id = s.pipeline_id)
  ORDER BY s.project_id, s.pipeline_id
  -- A concurrent transaction may open the same pair first: then it owns the alert.
  ON CONFLICT (project_id, pipeline_id) WHERE closed_at IS NULL DO NOTHING
  RETURNING id
)
SELECT (SELECT count(*) FROM screened), (SELECT count(*) FROM closed),
       (SELECT count(*) FROM updated), ARRAY(SELECT id FROM inserted ORDER BY id),
       (SELECT coalesce(json_agg(json_build_object('id', m.id, 'rule_set', m.old_rule_set,
          'zone', m.old_zone, 'prohibited', m.old_prohibited, 'plan', m.old_plan) ORDER BY m.id),
          '[]') FROM matched m WHERE m.old_rule_set <> :label AND m.judged_differently)
"""

# The open conflicts an incremental screen may close: those of the screened features.
_INCREMENTAL_SCOPE = "(c.project_id = ANY(:project_ids) OR c.pipeline_id = ANY(:pipeline_ids))"
# A full screen leaves the conflicts of completed projects as they were found.
_FULL_SCOPE = ("c.project_id IN (SELECT p.id FROM construction_project p "
                 "WHERE p.status <> 'completed' OR p.deleted_at IS NOT NULL)")


def search_distance_m(rule_set: RuleSet) -> float:
    """Return how far from a centreline any range of ``rule_set`` can reach (metres)."""
    return rule_set.max_control_m + MAX_HALF_DIAMETER_M


@dataclass
class DbScreenReport:
    """What one screening run changed in ``pipeline_conflict``.

    ``changed`` lists standing conflicts that a different version judged differently
    (zone or activities): their id and previous ``rule_set``, ``zone``, ``prohibited``
    and ``plan``.
    """

    rule_set: str
    full: bool
    in_range: int
    new_conflict_ids: list[int] = field(default_factory=list)
    updated: int = 0
    closed: int = 0
    changed: list[dict] = field(default_factory=list)
    # Set by a full screen that moved the stored data from another version (None: none).
    switched_from: str | None = None


def rule_params(rule_set: RuleSet) -> dict:
    """Return the binds that carry a version's ranges, activity cells and action sentences."""
    return dict(_rule_params(rule_set))


@functools.lru_cache(maxsize=32)
def _rule_params(rule_set: RuleSet) -> dict:
    # Built once per version: every API write screens, and building these lists cost 0.5 ms.
    cells = rule_set.activity_cells()
    return {
        "cls": [c.value for c in PressureClass],
        "prot": list(rule_set.protection_array()),
        "ctrl": list(rule_set.control_array()),
        "label": rule_set.label,
        "cell_zone": [c[0] for c in cells],
        "cell_class": [c[1] for c in cells],
        "cell_prohibited": [",".join(c[2]) for c in cells],
        "cell_plan": [",".join(c[3]) for c in cells],
        "act_codes": [a.value for a in Activity],
        "act_labels": [a.label for a in Activity],
        "act_sep": LABEL_SEPARATOR,
        "lead_protection": rule_set.lead("protection"),
        "lead_control": rule_set.lead("control"),
        "prohibited_prefix": PROHIBITED_PREFIX,
        "prohibited_suffix": PROHIBITED_SUFFIX,
        "plan_suffix": PLAN_SUFFIX,
        "nothing_applies": NOTHING_APPLIES if rule_set.has_activity_rules else "",
    }


def _scoped_pairs(project_ids, pipeline_ids) -> str:
    if project_ids is None and pipeline_ids is None:
        return _FULL_PAIRS.format(projects=_NOT_COMPLETED)
    parts = []
    if project_ids is not None:
        parts.append(_PAIRS.format(scope="AND p.id = ANY(:project_ids)"))
    if pipeline_ids is not None:
        parts.append(_PAIRS.format(scope="AND g.id = ANY(:pipeline_ids)"))
    if len(parts) == 1:
        return parts[0]
    # Two branches, not one OR, so each drives the spatial index from its small side.
    return (
        "SELECT DISTINCT ON (project_id, pipeline_id) * FROM ("
        + " UNION ALL ".join(parts) + ") u"
    )


def screen_db(
    session: Session,
    rule_set: RuleSet,
    *,
    project_ids: Iterable[int] | None = None,
    pipeline_ids: Iterable[int] | None = None,
    area_locked: bool = False,
) -> DbScreenReport:
    """Screen stored sites against stored pipelines and reconcile ``pipeline_conflict``.

    With no ids the whole district is screened; with ids only pairs involving those
    projects or pipelines are (incremental). A full screen leaves completed projects
    and their conflicts as they are. Runs in the caller's transaction.
    ``area_locked``: the caller already holds the screening locks around the features'
    current geometry (``layers.screening_locks.lock_area``), so they are not taken again.
    """
    pids = None if project_ids is None else sorted({int(i) for i in project_ids})
    gids = None if pipeline_ids is None else sorted({int(i) for i in pipeline_ids})
    full = pids is None and gids is None
    search_m = search_distance_m(rule_set)
    params = {
        "search_m": search_m,
        "unscreened": list(UNSCREENED_PIPELINE_STATUSES),
        "project_ids": IdArray(pids or []),
        "pipeline_ids": IdArray(gids or []),
        **rule_params(rule_set),
    }
    # Concurrent writers must not screen past each other (layers.screening_locks): a full
    # screen takes the district-wide lock; an incremental one locks the cells around the
    # features' current geometry (callers that move a feature lock its old cells first).
    if full:
        lock_district(session)
    elif not area_locked:
        if pids:
            lock_area(session, search_m, table="construction_project", ids=pids)
        if gids:
            lock_area(session, search_m, table="gas_pipeline", ids=gids)
    if full:
        # JIT compilation costs more than it saves here (layers.db.make_engine turns it
        # off for our connections; a caller's own connection may not have).
        session.execute(text("SET LOCAL jit = off"))
    screened = _SCREENED.format(pairs=_scoped_pairs(pids, gids))
    scope = _FULL_SCOPE if full else _INCREMENTAL_SCOPE
    reconcile = _RECONCILE.format(screened=screened, scope=scope)
    # The incremental statement runs on every API write and takes longer to plan than to
    # run for one site: it is prepared once per connection (layers.db.execute_sized). A
    # full screen or a large batch is planned afresh, for its size.
    result = (session.execute(text(reconcile), params) if full else
              execute_sized(session, reconcile, params, len(pids or ()) + len(gids or ())))
    in_range, closed, updated, new_ids, changed = result.one()
    if isinstance(changed, str):
        changed = json.loads(changed)
    if full:
        # A full screen may have written thousands of conflicts: refresh the statistics
        # now, or the prepared incremental screen of the next API write is planned for
        # an empty table (a sequential scan, 20 ms instead of 2) until autovacuum runs.
        from layers.importer import analyze

        analyze(session, "pipeline_conflict")
    return DbScreenReport(rule_set.label, full, int(in_range), list(new_ids), int(updated),
                          int(closed), list(changed))


def open_conflicts(session: Session, rule_set_label: str | None = None) -> list[dict]:
    """Return the open conflicts with their project (id, organisation, code) and pipeline code.

    A project code is unique within its organisation only (D57): ``site_id`` alone may name
    two organisations' projects, so every row also carries ``project_id`` and
    ``project_organisation`` (empty for projects of no organisation).
    """
    rows = session.execute(
        text(
            "SELECT c.id, p.id AS project_id, coalesce(p.organisation, '') AS project_organisation, "
            "p.registration_code AS site_id, g.external_code AS pipeline_id, c.zone, "
            "c.distance_m, c.centreline_distance_m, c.pressure_class, c.outer_diameter_mm, "
            "c.rule_set, c.protection_range_m, c.control_range_m, "
            "array_to_string(c.prohibited_activities, ',') AS prohibited_activities, "
            "array_to_string(c.plan_required_activities, ',') AS plan_required_activities, "
            "c.required_action, c.found_under, p.township, c.first_detected_at "
            "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL AND (CAST(:label AS text) IS NULL OR c.rule_set = :label) "
            "ORDER BY p.registration_code, coalesce(p.organisation, ''), p.id, g.external_code"
        ),
        {"label": rule_set_label},
    ).mappings().all()
    return [dict(r) for r in rows]
