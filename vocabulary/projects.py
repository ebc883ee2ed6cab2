"""Construction projects: kind and life-cycle status."""

from __future__ import annotations

from vocabulary.labelled import LabelledEnum


class ProjectKind(LabelledEnum):
    """Kind of construction project."""

    HOUSING = "housing", "房屋建筑"
    MUNICIPAL = "municipal", "市政工程"
    GAS_ENGINEERING = "gas_engineering", "燃气工程"


class ProjectStatus(LabelledEnum):
    """Life-cycle status of a construction project."""

    PLANNED = "planned", "计划"
    UNDER_CONSTRUCTION = "under_construction", "在建"
    SUSPENDED = "suspended", "停工"
    COMPLETED = "completed", "竣工"
