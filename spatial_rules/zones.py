"""Zone classification: which range of a gas pipeline a distance falls in.

Units: metres for distances, millimetres for outer diameters. Distances are the
shortest distance between a construction site and the pipe's **outer wall** (管壁外缘),
in the metric CRS (``spatial_rules.crs``). A pipeline is stored as its centreline,
so the wall distance is the centreline distance minus half the outer diameter
(《上海市燃气管道设施保护办法》第六条 and GB 55009-2021 §5.1.6–5.1.7 both measure
from the outer wall on each side of the pipe).

Exact semantics, shared by every screening engine (in-memory and PostGIS):

* ``wall_distance_m = max(0.0, centreline_distance_m - outer_diameter_mm / 2000.0)``,
  evaluated in IEEE-754 double precision in that order (one division, one subtraction).
* Zone with the thresholds of the pipe's pressure class:
  ``protection`` if ``wall_distance_m < protection_m``; else ``control`` if
  ``wall_distance_m < control_m``; else no zone. Both comparisons are strict, so a
  distance exactly on a threshold belongs to the outer zone (0.7 m is control, 6 m is
  outside for a Shanghai low-pressure pipe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vocabulary import ZONE_ORDER, zone_rank
from vocabulary import Zone as Zone  # the one Zone enum (shared vocabulary), re-exported

if TYPE_CHECKING:
    from spatial_rules.rulesets import RuleSet


# Integer codes of the vectorized functions: a zone's rank in the one zone order (innermost
# first), so the smallest code of a site is its worst zone. NO_ZONE marks a distance
# outside both ranges.
PROTECTION_CODE = zone_rank(Zone.PROTECTION)
CONTROL_CODE = zone_rank(Zone.CONTROL)
NO_ZONE = -1
ZONE_CODES: dict[Zone, int] = {zone: zone_rank(zone) for zone in ZONE_ORDER}
ZONE_BY_CODE: dict[int, Zone] = {code: zone for zone, code in ZONE_CODES.items()}


@dataclass(frozen=True, slots=True)
class ZoneRange:
    """Thresholds of one pressure class: metres from the pipe's outer wall.

    ``protection_m`` is the outer edge of the protection range (it starts at the wall);
    ``control_m`` is the outer edge of the control range (it starts at ``protection_m``).
    """

    protection_m: float
    control_m: float


def wall_distance_m(centreline_distance_m: float, outer_diameter_mm: float) -> float:
    """Return the distance in metres from the pipe's outer wall, never below zero."""
    return max(0.0, float(centreline_distance_m) - float(outer_diameter_mm) / 2000.0)


def wall_distances_m(
    centreline_distance_m: np.ndarray, outer_diameter_mm: np.ndarray
) -> np.ndarray:
    """Return wall distances in metres for arrays of centreline distances (m) and diameters (mm)."""
    centreline = np.asarray(centreline_distance_m, dtype=np.float64)
    diameter = np.asarray(outer_diameter_mm, dtype=np.float64)
    return np.maximum(0.0, centreline - diameter / 2000.0)


def classify_zone(wall_distance_m: float, zone_range: ZoneRange) -> Zone | None:
    """Return the zone of a wall distance in metres, or None when outside both ranges."""
    if wall_distance_m < zone_range.protection_m:
        return Zone.PROTECTION
    if wall_distance_m < zone_range.control_m:
        return Zone.CONTROL
    return None


def classify_zones(
    wall_distance_m: np.ndarray, protection_m: np.ndarray, control_m: np.ndarray
) -> np.ndarray:
    """Return int8 zone codes (0 protection, 1 control, -1 none) for wall distances in metres.

    ``protection_m`` and ``control_m`` broadcast against ``wall_distance_m`` (a scalar
    or one threshold per distance). Same strict comparisons as ``classify_zone``.
    """
    distance = np.asarray(wall_distance_m, dtype=np.float64)
    protection = np.asarray(protection_m, dtype=np.float64)
    control = np.asarray(control_m, dtype=np.float64)
    codes = np.where(
        distance < protection,
        PROTECTION_CODE,
        np.where(distance < control, CONTROL_CODE, NO_ZONE),
    )
    return codes.astype(np.int8)


def zone_names(codes: np.ndarray) -> np.ndarray:
    """Return an object array of zone codes as strings ("protection", "control", None)."""
    codes = np.asarray(codes)
    names = np.full(codes.shape, None, dtype=object)
    for zone, code in ZONE_CODES.items():
        names[codes == code] = zone.value
    return names


def required_action(zone: Zone | str, rule_set: RuleSet) -> str:
    """Return the Chinese text of what a builder must do in ``zone`` under ``rule_set``."""
    return rule_set.action_for(zone)
