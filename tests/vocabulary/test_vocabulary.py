"""The shared vocabulary: one enum and one Chinese label per concept, and who may import what."""

from __future__ import annotations

import ast
import sys
from enum import StrEnum
from pathlib import Path

import pytest

import vocabulary
from layers import models
from vocabulary import (
    ASSIGNABLE_ROLES,
    PERMIT_SEVERITY,
    ZONE_ORDER,
    Activity,
    HazardState,
    InspectionKind,
    LabelledEnum,
    PermitState,
    PipelineStatus,
    PressureClass,
    ProjectKind,
    ProjectStatus,
    Role,
    Zone,
    project_permit_label,
    worst_permit_state,
    worst_zone,
)

ROOT = Path(__file__).resolve().parents[2]
CONCEPTS = [PermitState, Zone, PressureClass, PipelineStatus, ProjectKind, ProjectStatus, Role,
            InspectionKind, HazardState, Activity]
OURS = {"vocabulary", "spatial_rules", "layers", "maps", "campaign", "gisapp"}


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.__name__)
def test_each_concept_is_a_str_enum_with_one_distinct_chinese_label_per_member(concept):
    assert issubclass(concept, StrEnum) and issubclass(concept, LabelledEnum)
    labels = [member.label for member in concept]
    assert len(set(labels)) == len(labels) and all(labels)
    for member in concept:
        assert member == member.value and concept(member.value) is member
        assert concept.parse(member.label) is member and concept.parse(f" {member.value} ") is member
        assert any("\u4e00" <= ch <= "\u9fff" for ch in member.label)
    assert concept.labels() == {m.value: m.label for m in concept}
    with pytest.raises(ValueError, match="无法识别"):
        concept.parse("no-such-word")


def test_the_words_chosen_for_the_field():
    assert [s.label for s in PermitState] == ["未办理", "已申请", "已批准", "未通过", "已过期", "无需办理"]
    assert (Zone.PROTECTION.label, Zone.CONTROL.label) == ("安全保护范围", "安全控制范围")
    assert Role.UTILITY.label == "燃气企业" and Role.UTILITY in ASSIGNABLE_ROLES


def test_one_severity_order_and_one_zone_order():
    assert sorted(PERMIT_SEVERITY) == sorted(PermitState) and len(PERMIT_SEVERITY) == len(PermitState)
    assert PERMIT_SEVERITY[0] is PermitState.NOT_STARTED
    assert worst_permit_state(["approved", "not_required", None]) is PermitState.NOT_STARTED
    assert worst_permit_state(["approved", "not_required"]) is PermitState.APPROVED
    assert worst_permit_state([]) is None
    assert ZONE_ORDER == (Zone.PROTECTION, Zone.CONTROL)
    assert worst_zone(["control", None, "protection"]) is Zone.PROTECTION and worst_zone([]) is None
    assert project_permit_label(None) == "无冲突"
    assert project_permit_label("rejected") == f"有冲突（{PermitState.REJECTED.label}）"


def test_label_of_shows_unknown_codes_as_they_are():
    assert ProjectKind.label_of("housing") == "房屋建筑"
    assert ProjectKind.label_of("bridge") == "bridge" and ProjectKind.label_of(None) == ""


def _check_constraint(table, name: str) -> str:
    return next(str(c.sqltext) for c in table.constraints
                if str(getattr(c, "name", "")) == f"ck_{table.name}_{name}")


def test_the_database_accepts_exactly_the_vocabulary():
    for enum, column in ((PermitState, "status"),):
        sql = _check_constraint(models.Permit.__table__, column)
        assert all(f"'{m.value}'" in sql for m in enum)
    roles = _check_constraint(models.AppUser.__table__, "role")
    assert all(f"'{r.value}'" in roles for r in ASSIGNABLE_ROLES) and "'utility'" in roles
    for enum, table, column in ((PipelineStatus, models.GasPipeline, "status"),
                                (PressureClass, models.GasPipeline, "pressure_class"),
                                (ProjectKind, models.ConstructionProject, "kind"),
                                (ProjectStatus, models.ConstructionProject, "status")):
        sql = _check_constraint(table.__table__, column)
        assert all(f"'{m.value}'" in sql for m in enum), (table, column)


def _imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def test_vocabulary_is_standard_library_only():
    for path, names in _imported_packages("vocabulary").items():
        foreign = {n for n in names - {"__future__"} if n not in sys.stdlib_module_names}
        assert foreign <= {"vocabulary"}, (path, foreign)


def test_campaign_imports_nothing_of_ours_but_the_vocabulary():
    for path, names in _imported_packages("campaign").items():
        assert names & OURS <= {"campaign", "vocabulary"}, (path, names & OURS)


def test_the_package_exports_every_concept():
    for concept in CONCEPTS:
        assert getattr(vocabulary, concept.__name__) is concept
