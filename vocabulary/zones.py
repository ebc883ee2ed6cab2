"""The two ranges around a gas pipeline (DOMAIN glossary: 安全保护范围, 安全控制范围)."""

from __future__ import annotations

from collections.abc import Iterable

from vocabulary.labelled import LabelledEnum


class Zone(LabelledEnum):
    """A range around a gas pipeline, measured from the pipe's outer wall."""

    PROTECTION = "protection", "安全保护范围"
    CONTROL = "control", "安全控制范围"


# The one zone order: innermost (most severe) first. A site reaching both ranges of a
# pipeline, or ranges of several pipelines, is counted in the first one it reaches.
ZONE_ORDER: tuple[Zone, ...] = (Zone.PROTECTION, Zone.CONTROL)


def zone_rank(zone: Zone | str) -> int:
    """Return the position of ``zone`` in ``ZONE_ORDER`` (0 = most severe)."""
    return ZONE_ORDER.index(Zone(zone))


def worst_zone(zones: Iterable[Zone | str | None]) -> Zone | None:
    """Return the most severe of ``zones`` (None entries ignored), or None when there is none."""
    ranks = [zone_rank(z) for z in zones if z is not None]
    return ZONE_ORDER[min(ranks)] if ranks else None
