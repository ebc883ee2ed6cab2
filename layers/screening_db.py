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
open conflict whose pair is no longer in range is closed, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import execute_prepared
from layers.schema import UNSCREENED_PIPELINE_STATUSES
from layers.screening_locks import lock_area, lock_district
from spatial_rules.pressure import PressureClass
from spatial_rules.rulesets import RuleSet

# Outer diameters are below 3000 mm (table constraint), so half is at most 1.5 m.
MAX_HALF_DIAMETER_M = 1.5

# Sites held for the gas office's review (project_review pending or rejected) are not
# screened: no conflicts, alerts or permits until released (layers.services.site_limits).
NOT_HELD = ("NOT EXISTS (SELECT 1 FROM project_review h WHERE h.project_id = p.id "
            "AND h.state <> 'released')")

# Each pressure class's ranges, from the rule set.
_RANGES = """unnest(CAST(:cls AS text[]), CAST(:prot AS float8[]), CAST(:ctrl AS float8[]))
  AS r(pressure_class, protection_m, control_m)"""

_PAIRS = """
SELECT p.id AS project_id, g.id AS pipeline_id, g.pressure_class, g.outer_diameter_mm,
       r.protection_m, r.control_m, d.centreline_m,
       GREATEST(0.0, d.centreline_m - g.outer_diameter_mm / 2000.0) AS wall_m,
       p.geom_m AS site_m, g.geom_m AS pipe_m
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
       p.geom_m AS site_m, q.pipe_m
FROM construction_project p
CROSS JOIN LATERAL (
  SELECT g.id AS pipeline_id, g.pressure_class, g.outer_diameter_mm, r.protection_m,
         r.control_m, ST_Distance(p.geom_m, g.geom_m) AS centreline_m, g.geom_m AS pipe_m
  FROM gas_pipeline g JOIN """ + _RANGES + """ ON r.pressure_class = g.pressure_class
  WHERE ST_DWithin(p.geom_m, g.geom_m, :search_m)
    AND g.deleted_at IS NULL AND g.status <> ALL(:unscreened)
  OFFSET 0
) q
WHERE p.deleted_at IS NULL AND """ + NOT_HELD + """
"""

# Pairs inside a range, with zone and nearest line; {pairs} is _FULL_PAIRS or one or two
# _PAIRS branches.
_SCREENED = """
SELECT project_id, pipeline_id, pressure_class, outer_diameter_mm, protection_m, control_m,
       centreline_m, wall_m,
       CASE WHEN wall_m < protection_m THEN 'protection' ELSE 'control' END AS zone,
       ST_Transform(ST_ShortestLine(site_m, pipe_m), 4490) AS nearest_line
FROM ({pairs}) q
WHERE wall_m < control_m
"""

# One statement reconciles pipeline_conflict with the screened pairs. All parts see the
# same snapshot: pairs still in range are updated, new ones inserted, the rest of the
# scope closed. Every screened pair lies in the scope, so repeating {scope} where pairs are
# matched changes nothing but lets an incremental screen find its few open conflicts by
# index even while the table's statistics still say it is empty (right after a first
# full screen, before autovacuum has analysed it).
_RECONCILE = """
WITH screened AS MATERIALIZED ({screened}),
closed AS (
  UPDATE pipeline_conflict c SET closed_at = now()
  WHERE c.closed_at IS NULL AND c.rule_set = :label AND {scope}
    AND NOT EXISTS (SELECT 1 FROM screened s
                    WHERE s.project_id = c.project_id AND s.pipeline_id = c.pipeline_id)
  RETURNING c.id
),
updated AS (
  UPDATE pipeline_conflict c SET zone = s.zone, distance_m = s.wall_m,
    centreline_distance_m = s.centreline_m, pressure_class = s.pressure_class,
    outer_diameter_mm = s.outer_diameter_mm, protection_range_m = s.protection_m,
    control_range_m = s.control_m, nearest_line = s.nearest_line,
    required_action = CASE s.zone WHEN 'protection' THEN :act_protection ELSE :act_control END,
    last_screened_at = now()
  FROM screened s
  WHERE c.closed_at IS NULL AND c.rule_set = :label AND {scope}
    AND c.project_id = s.project_id AND c.pipeline_id = s.pipeline_id
  RETURNING c.id
),
inserted AS (
  INSERT INTO pipeline_conflict (project_id, pipeline_id, rule_set, zone, distance_m,
    centreline_distance_m, pressure_class, outer_diameter_mm, protection_range_m,
    control_range_m, required_action, nearest_line)
  SELECT s.project_id, s.pipeline_id, :label, s.zone, s.wall_m, s.centreline_m,
    s.pressure_class, s.outer_diameter_mm, s.protection_m, s.control_m,
    CASE s.zone WHEN 'protection' THEN :act_protection ELSE :act_control END, s.nearest_line
  FROM screened s
  WHERE NOT EXISTS (SELECT 1 FROM pipeline_conflict c WHERE c.closed_at IS NULL
                    AND c.rule_set = :label AND {scope} AND c.project_id = s.project_id
                    AND c.pipeline_id = s.pipeline_id)
  ORDER BY s.project_id, s.pipeline_id
  -- A concurrent transaction may open the same pair first: then it owns the alert.
  ON CONFLICT (project_id, pipeline_id, rule_set) WHERE closed_at IS NULL DO NOTHING
  RETURNING id
)
SELECT (SELECT count(*) FROM screened), (SELECT count(*) FROM closed),
       (SELECT count(*) FROM updated), ARRAY(SELECT id FROM inserted ORDER BY id)
"""

# The open conflicts an incremental screen may close: those of the screened features.
_INCREMENTAL_SCOPE = "(c.project_id = ANY(:project_ids) OR c.pipeline_id = ANY(:pipeline_ids))"


def search_distance_m(rule_set: RuleSet) -> float:
    """Return how far from a centreline any range of ``rule_set`` can reach (metres)."""
    return rule_set.max_control_m + MAX_HALF_DIAMETER_M


@dataclass
class DbScreenReport:
    """What one screening run changed in ``pipeline_conflict``."""

    rule_set: str
    full: bool
    in_range: int
    new_conflict_ids: list[int] = field(default_factory=list)
    updated: int = 0
    closed: int = 0


def _scoped_pairs(project_ids, pipeline_ids) -> str:
    if project_ids is None and pipeline_ids is None:
        return _FULL_PAIRS
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
    projects or pipelines are (incremental). Runs in the caller's transaction.
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
        "cls": [c.value for c in PressureClass],
        "prot": list(rule_set.protection_array()),
        "ctrl": list(rule_set.control_array()),
        "project_ids": pids or [],
        "pipeline_ids": gids or [],
        "label": rule_set.label,
        "act_protection": rule_set.action_for("protection"),
        "act_control": rule_set.action_for("control"),
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
    scope = "TRUE" if full else _INCREMENTAL_SCOPE
    reconcile = _RECONCILE.format(screened=screened, scope=scope)
    # The incremental statement runs on every API write and takes longer to plan than to
    # run for one site: it is prepared once per connection. A full screen is planned afresh.
    result = session.execute(text(reconcile), params) if full else execute_prepared(
        session, reconcile, params)
    in_range, closed, updated, new_ids = result.one()
    if full:
        # A full screen may have written thousands of conflicts: refresh the statistics
        # now, or the prepared incremental screen of the next API write is planned for
        # an empty table (a sequential scan, 20 ms instead of 2) until autovacuum runs.
        session.execute(text("ANALYZE pipeline_conflict"))
    return DbScreenReport(rule_set.label, full, int(in_range), list(new_ids), int(updated),
                          int(closed))


def open_conflicts(session: Session, rule_set_label: str | None = None) -> list[dict]:
    """Return the open conflicts with the codes of their project and pipeline."""
    rows = session.execute(
        text(
            "SELECT c.id, p.registration_code AS site_id, g.external_code AS pipeline_id, c.zone, "
            "c.distance_m, c.centreline_distance_m, c.pressure_class, c.outer_diameter_mm, "
            "c.rule_set, c.protection_range_m, c.control_range_m, c.required_action, "
            "p.township, c.first_detected_at "
            "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL AND (CAST(:label AS text) IS NULL OR c.rule_set = :label) "
            "ORDER BY p.registration_code, g.external_code"
        ),
        {"label": rule_set_label},
    ).mappings().all()
    return [dict(r) for r in rows]
