"""The owner's workbench read models on the real database: own pipes only, deadlines in
Chinese working days (National Day week and its adjusted Saturday), filters."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.actors import Actor
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.features import WriteContext, create_feature
from layers.services.owner_workbench import owner_conflict, owner_conflicts
from layers.services.permissions import authorize
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

OWNER_HP, OWNER_MP = "上海天然气管网有限公司", "上海崇明燃气有限公司"  # of HP-T1, MP-T1 (stored_network)


def _access(organisation: str):
    return authorize(Actor(50, "owner", "utility", organisation), "conflict.read")


@pytest.fixture()
def sites(stored_network):
    """SW-HP by HP-T1, SW-MP by MP-T1; the HP review due on 9 October 2026 (after National Day)."""
    ctx = WriteContext(actor=Actor.cli(), rule_set=load_rule_set("shanghai"))
    with session_factory(stored_network).begin() as session:
        ids = {code: create_feature(session, "projects", site_feature(code, 121.40, lat), ctx)["id"]
               for code, lat in (("SW-HP", 31.6299), ("SW-MP", 31.6399))}
        session.execute(text(
            "UPDATE owner_review r SET due_on = '2026-10-09' FROM pipeline_conflict c "
            "WHERE c.id = r.conflict_id AND c.project_id = :p"), {"p": ids["SW-HP"]})
    return ids


def test_each_owner_lists_only_its_own_pipes_with_the_deadline_in_working_days(stored_network, sites):
    with session_factory(stored_network)() as session:
        mine = owner_conflicts(session, _access(OWNER_HP), today=dt.date(2026, 9, 30))
        assert [(c["project_code"], c["pipeline_code"]) for c in mine["conflicts"]] == [("SW-HP", "HP-T1")]
        # 1–7 October are holidays, 8 and 9 October working days: two left on 30 September.
        assert mine["conflicts"][0]["working_days_left"] == 2 and not mine["conflicts"][0]["overdue"]
        assert mine["counts"] == {"pending": 1, "overdue": 0, "replied": 0, "open": 1}
        late = owner_conflicts(session, _access(OWNER_HP), today=dt.date(2026, 10, 12))
        # Saturday 10 October is an adjusted working day (调休): 10 and 12 October are past it.
        assert late["conflicts"][0]["overdue"] and late["conflicts"][0]["working_days_left"] == -2
        assert late["counts"]["overdue"] == 1
        assert owner_conflicts(session, _access(OWNER_HP), state="replied", today=dt.date(2026, 10, 12))[
            "conflicts"] == []
        assert owner_conflicts(session, _access(OWNER_HP), q="SW-MP")["conflicts"] == []
        theirs = owner_conflicts(session, _access(OWNER_MP))
        assert [c["pipeline_code"] for c in theirs["conflicts"]] == ["MP-T1"]
        conflict_hp = mine["conflicts"][0]["id"]
        assert owner_conflict(session, conflict_hp, _access(OWNER_HP))["pipeline_code"] == "HP-T1"
        with pytest.raises(NotFoundError, match="不存在"):
            owner_conflict(session, conflict_hp, _access(OWNER_MP))
        with pytest.raises(InvalidRequestError, match="字段 state"):
            owner_conflicts(session, _access(OWNER_HP), state="late")
