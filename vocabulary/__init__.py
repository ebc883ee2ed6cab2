"""One word per concept: the enums of the field and their one Chinese label each.

Pure Python (standard library only); imports nothing else of ours, so every package
(``spatial_rules``, ``campaign``, ``layers``, ``maps``, ``gisapp``) can use it. Every
concept is a ``StrEnum`` whose members equal their stored code and have a ``.label``
giving the Chinese word shown on pages, reports, tables, messages and API labels.
"""

from __future__ import annotations

from vocabulary.activities import Activity
from vocabulary.clock import SHANGHAI, shanghai_date, today_in_shanghai
from vocabulary.errors import DomainError
from vocabulary.inspections import HazardState, InspectionKind, hazard_position
from vocabulary.labelled import LabelledEnum
from vocabulary.permits import (
    NO_CONFLICT,
    NO_CONFLICT_LABEL,
    PERMIT_SETTLED,
    PERMIT_SEVERITY,
    PermitState,
    permit_rank,
    project_permit_label,
    project_permit_labels,
    worst_permit_state,
)
from vocabulary.pipelines import PipelineStatus, PressureClass
from vocabulary.projects import ProjectKind, ProjectStatus
from vocabulary.roles import ASSIGNABLE_ROLES, Role
from vocabulary.zones import ZONE_ORDER, Zone, worst_zone, zone_rank

__all__ = [
    "ASSIGNABLE_ROLES",
    "NO_CONFLICT",
    "NO_CONFLICT_LABEL",
    "PERMIT_SETTLED",
    "PERMIT_SEVERITY",
    "SHANGHAI",
    "ZONE_ORDER",
    "Activity",
    "DomainError",
    "HazardState",
    "InspectionKind",
    "LabelledEnum",
    "PermitState",
    "PipelineStatus",
    "PressureClass",
    "ProjectKind",
    "ProjectStatus",
    "Role",
    "Zone",
    "hazard_position",
    "permit_rank",
    "project_permit_label",
    "project_permit_labels",
    "shanghai_date",
    "today_in_shanghai",
    "worst_permit_state",
    "worst_zone",
    "zone_rank",
]
