"""Canonical attribute schema of the two imported layers and their allowed values.

Files, the database and the API all speak these field names. A user maps other
names onto them (``--field 管径=outer_diameter_mm``). ``id`` in a file means the
layer's external code.
"""

from __future__ import annotations

from vocabulary import PipelineStatus as PipelineStatus  # the one enums (shared vocabulary),
from vocabulary import ProjectKind as ProjectKind  # re-exported for the layers
from vocabulary import ProjectStatus as ProjectStatus

# Abandoned pipelines have no protection ranges: both screening engines skip them.
UNSCREENED_PIPELINE_STATUSES = (PipelineStatus.ABANDONED.value,)

# Field -> (python type name, required). The external code comes from ``id`` in files.
PIPELINE_FIELDS: dict[str, tuple[str, bool]] = {
    "external_code": ("str", True),
    "name": ("str", False),
    "owner": ("str", False),
    "pressure_class": ("pressure_class", False),  # one of these two is required
    "design_pressure_mpa": ("float", False),
    "outer_diameter_mm": ("float", True),
    "material": ("str", False),
    "status": ("pipeline_status", False),  # default in_service
}

PROJECT_FIELDS: dict[str, tuple[str, bool]] = {
    "registration_code": ("str", True),
    "name": ("str", True),
    "kind": ("project_kind", True),
    "builder": ("str", False),
    "contractor": ("str", False),
    "supervisor": ("str", False),
    "organisation": ("str", False),  # the builder's organisation that owns the record
    "township": ("str", False),
    "start_date": ("date", False),
    "planned_completion_date": ("date", False),
    "status": ("project_status", True),
    "hazardous": ("bool", False),  # 危大工程
    "insured": ("bool", False),
    "under_supervision": ("bool", False),  # 纳入监管, gas engineering only
    "supervised_since": ("date", False),
    # Planned activities (vocabulary.activities): sorted codes joined by commas; none
    # declared (NULL) means the project is judged for every activity.
    "activities": ("activities", False),
}

# The layer's id field in files, and the canonical column it maps to.
ID_FIELD = {"pipelines": "external_code", "projects": "registration_code"}
