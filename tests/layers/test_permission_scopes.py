"""The scopes of the permission table, honoured by the services on the real database.

A pipeline owner (the coming ``utility`` role) reaches its own pipelines, the conflicts
and permits on them and the projects involved; a role is one entry of the table; a scope
a query cannot honour is refused, never widened.
"""

from __future__ import annotations

import pytest

from layers.db import session_factory
from layers.services import permissions
from layers.services.actors import Actor
from layers.services.conflicts import list_conflicts
from layers.services.errors import PermissionDeniedError
from layers.services.features import WriteContext, create_feature, get_feature, list_features
from layers.services.inspections import list_inspections
from layers.services.permissions import Access, Role, Scope, authorize
from layers.services.permits import list_permits
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

CHONGMING_GAS = "上海崇明燃气有限公司"  # owner of MP-T1 in ``stored_network``
UTILITY = Role("utility", "燃气企业", {
    "pipeline.read": Scope.OWN_PIPELINES, "project.read": Scope.OWN_PIPELINES,
    "conflict.read": Scope.OWN_PIPELINES, "permit.read": Scope.OWN_PIPELINES,
    "inspection.read": Scope.OWN_PIPELINES})


@pytest.fixture()
def utility_role(monkeypatch):
    """Add the pipeline owners' role to the table: one entry with its grants."""
    monkeypatch.setitem(permissions.ROLES, "utility", UTILITY)
    return Actor(41, "cm-gas", "utility", CHONGMING_GAS)


def _sites(engine) -> dict[str, int]:
    ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"))
    with session_factory(engine).begin() as session:
        return {code: create_feature(session, "projects", site_feature(code, 121.40, lat), ctx)["id"]
                for code, lat in (("SC-HP", 31.6299), ("SC-MP", 31.6399), ("SC-FAR", 31.66))}


def test_a_pipeline_owner_reaches_its_pipelines_their_conflicts_and_the_projects_involved(
        stored_network, utility_role):
    ids = _sites(stored_network)
    with session_factory(stored_network)() as session:
        pipes, _ = list_features(session, "pipelines", access=authorize(utility_role, "pipeline.read"))
        assert [p["properties"]["external_code"] for p in pipes] == ["MP-T1"]
        projects, total = list_features(session, "projects",
                                        access=authorize(utility_role, "project.read"))
        assert [p["properties"]["registration_code"] for p in projects] == ["SC-MP"] and total == 1
        conflicts = list_conflicts(session, authorize(utility_role, "conflict.read"))
        assert {c["pipeline_code"] for c in conflicts} == {"MP-T1"}
        permits, _ = list_permits(session, authorize(utility_role, "permit.read"))
        assert {p["pipeline_code"] for p in permits} == {"MP-T1"}
        with pytest.raises(Exception, match="不存在"):
            get_feature(session, "projects", ids["SC-HP"],
                        access=authorize(utility_role, "project.read"))
        assert list_inspections(session, ids["SC-MP"],
                                authorize(utility_role, "inspection.read")) == []
        with pytest.raises(Exception, match="不存在"):
            list_inspections(session, ids["SC-FAR"], authorize(utility_role, "inspection.read"))
        # Granted nothing else: it may not write, nor see alerts.
        for action in ("project.write", "alert.read", "user.manage", "permit.to.applied"):
            with pytest.raises(PermissionDeniedError, match="utility"):
                authorize(utility_role, action)


def test_a_scope_a_query_cannot_honour_is_refused_not_widened(stored_network):
    _sites(stored_network)
    builder = Actor(42, "b", "builder", "甲公司")
    near = Access(builder, "conflict.read", Scope.NEAR_OWN_SITES)
    with session_factory(stored_network)() as session:
        with pytest.raises(PermissionDeniedError, match="builder"):
            list_conflicts(session, near)
        with pytest.raises(PermissionDeniedError):
            list_features(session, "projects", access=Access(builder, "project.read",
                                                             Scope.NEAR_OWN_SITES), near_m=50)
