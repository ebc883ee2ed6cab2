"""A permit whose conflict was closed (the site or the pipeline changed) is frozen but readable."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.actors import Actor
from layers.services.errors import ConflictStateError
from layers.services.features import WriteContext, update_feature
from layers.services.permits import expire_due, transition
from tests.api.test_api_permits import EXTRA, LATER, _move, _permit_for, _state
from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

TODAY = today_in_shanghai()
AWAY = 31.6500  # 1 km north of HP-T1 and MP-T1: no range reaches it


def _closed_on(engine, permit_id) -> str:
    """The Shanghai date the permit's conflict was closed on, as the database computes it."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT (c.closed_at AT TIME ZONE 'Asia/Shanghai')::date FROM permit pm "
            "JOIN pipeline_conflict c ON c.id = pm.conflict_id WHERE pm.id = :id"),
            {"id": permit_id}).scalar_one().isoformat()


def _move_site(api, headers, project_id, code, lat):
    r = api.put(f"/api/projects/{project_id}", json=site_feature(code, 121.40, lat), headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["properties"]["conflicts"]


def _assert_frozen(api, engine, headers, permit, to_status, **fields):
    before = _state(engine, permit["id"])
    r = _move(api, headers, permit["id"], to_status, **fields)
    assert r.status_code == 409, (to_status, r.text)
    detail = r.json()["detail"]
    assert f"保护手续 {permit['id']}" in detail and permit["project_code"] in detail
    assert f"冲突已于 {_closed_on(engine, permit['id'])} 关闭" in detail
    assert "项目或管道已变更" in detail and "不再办理" in detail and f"（{to_status}）" in detail
    assert _state(engine, permit["id"]) == before  # no state, event or audit row written


def test_no_actor_can_move_a_permit_once_its_site_moved_away(api, login, stored_network):
    office, builder = login("gas_office"), login("builder", "崇明建工")
    approved = _permit_for(api, builder, "CM-CL-1")
    applied = _permit_for(api, builder, "CM-CL-2", lat=31.6301)
    assert _move(api, builder, approved["id"], "applied").status_code == 200
    assert _move(api, office, approved["id"], "approved", **EXTRA["approved"]).status_code == 200
    assert _move(api, builder, applied["id"], "applied").status_code == 200
    for permit in (approved, applied):
        assert _move_site(api, builder, permit["project_id"], permit["project_code"], AWAY) == []
    # Every move the state machine and the role would allow is now refused.
    _assert_frozen(api, stored_network, builder, approved, "applied")  # a builder's renewal
    for to_status in ("applied", "expired"):
        _assert_frozen(api, stored_network, office, approved, to_status)
    for to_status in ("approved", "rejected", "not_required"):
        _assert_frozen(api, stored_network, office, applied, to_status, **EXTRA.get(to_status, {}))
    # Refusals keep their order: role first (403), other organisations' permits unseen (404).
    inspector, other = login("inspector"), login("builder", "长兴建设")
    assert _move(api, inspector, applied["id"], "approved", approved_until=LATER).status_code == 403
    assert _move(api, builder, applied["id"], "approved", approved_until=LATER).status_code == 403
    assert _move(api, other, applied["id"], "applied").status_code == 404
    # Reading still works and tells the conflict is closed; nothing is offered next.
    for headers in (office, builder, inspector):
        body = api.get(f"/api/permits/{approved['id']}", headers=headers).json()
        assert body["status"] == "approved" and body["approved_until"] == LATER
        assert body["conflict_open"] is False and body["allowed_next"] == []
        closed_at = dt.datetime.fromisoformat(body["conflict_closed_at"])
        assert closed_at.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat() == \
            _closed_on(stored_network, approved["id"])
        assert [h["to_status"] for h in body["history"]] == ["applied", "approved"]


def test_a_pipeline_taken_out_of_service_freezes_its_permits(api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-CL-PIPE")
    assert _move(api, office, permit["id"], "applied").status_code == 200
    r = api.put(f"/api/pipelines/{permit['pipeline_id']}",
                json={"type": "Feature", "properties": {"status": "abandoned"}}, headers=office)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["conflicts"] == []
    _assert_frozen(api, stored_network, office, permit, "approved", approved_until=LATER)


def test_list_tells_open_from_closed_and_filters_on_request(api, login, stored_network):
    office, builder = login("gas_office"), login("builder", "崇明建工")
    kept = _permit_for(api, builder, "CM-CL-KEEP")
    gone = _permit_for(api, builder, "CM-CL-GONE", lat=31.6301)
    _move_site(api, builder, gone["project_id"], "CM-CL-GONE", AWAY)
    for headers in (office, builder):
        everything = api.get("/api/permits", headers=headers).json()  # the default lists both
        assert {(p["project_code"], p["conflict_open"], p["conflict_closed_at"] is None)
                for p in everything["permits"]} == {("CM-CL-KEEP", True, True),
                                                    ("CM-CL-GONE", False, False)}
        for flag, code in (("true", "CM-CL-KEEP"), ("false", "CM-CL-GONE")):
            page = api.get("/api/permits", params={"conflict_open": flag}, headers=headers).json()
            assert page["numberMatched"] == 1
            assert [p["project_code"] for p in page["permits"]] == [code]
    assert api.get("/api/permits", params={"conflict_open": "maybe"},
                   headers=office).status_code == 422
    assert kept["allowed_next"] == ["applied", "not_required"]


def test_expiry_leaves_permits_of_closed_conflicts_alone(api, login, stored_network):
    office = login("gas_office")
    frozen = _permit_for(api, office, "CM-CL-EXP1")
    live = _permit_for(api, office, "CM-CL-EXP2", lat=31.6301)
    until = (TODAY + dt.timedelta(days=10)).isoformat()
    for permit in (frozen, live):
        assert _move(api, office, permit["id"], "applied").status_code == 200
        assert _move(api, office, permit["id"], "approved", approved_until=until).status_code == 200
    _move_site(api, office, frozen["project_id"], "CM-CL-EXP1", AWAY)
    before = _state(stored_network, frozen["id"])
    with session_factory(stored_network).begin() as session:
        assert expire_due(session, TODAY + dt.timedelta(days=11)) == [live["id"]]
    assert _state(stored_network, frozen["id"]) == before
    assert api.get(f"/api/permits/{frozen['id']}", headers=office).json()["status"] == "approved"
    assert api.get(f"/api/permits/{live['id']}", headers=office).json()["status"] == "expired"


def test_a_reappearing_conflict_gets_a_new_permit_and_the_old_one_stays_frozen(
        api, login, stored_network):
    office, builder = login("gas_office"), login("builder", "崇明建工")
    old = _permit_for(api, builder, "CM-CL-BACK")
    assert _move(api, builder, old["id"], "applied", reference="申-旧").status_code == 200
    _move_site(api, builder, old["project_id"], "CM-CL-BACK", AWAY)
    back = _move_site(api, builder, old["project_id"], "CM-CL-BACK", 31.6299)
    assert [c["pipeline_id"] for c in back] == ["HP-T1"]
    assert back[0]["conflict_id"] != old["conflict_id"]
    listed = api.get("/api/permits", params={"project_id": old["project_id"]},
                     headers=builder).json()["permits"]
    assert [(p["id"], p["conflict_open"]) for p in listed] == [(old["id"], False),
                                                               (listed[1]["id"], True)]
    new = listed[1]
    assert new["conflict_id"] == back[0]["conflict_id"] and new["status"] == "not_started"
    assert new["reference"] is None  # a new procedure, nothing carried over
    _assert_frozen(api, stored_network, office, old, "approved", approved_until=LATER)
    assert _move(api, builder, new["id"], "applied", reference="申-新").status_code == 200
    r = _move(api, office, new["id"], "approved", approved_until=LATER)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert api.get(f"/api/permits/{old['id']}", headers=office).json()["status"] == "applied"


def test_a_transition_waits_for_the_screening_that_closes_its_conflict(
        api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-CL-RACE")
    actor = Actor(id=None, username="racer", role="gas_office", organisation=None)
    ctx = WriteContext(actor=actor, rule_set=api.app.state.rule_set)
    sessions = session_factory(stored_network)
    outcome = {}

    def apply():
        with sessions() as session:
            try:
                transition(session, permit["id"], "applied", actor)
                session.commit()
                outcome["apply"] = "applied"
            except ConflictStateError as exc:
                session.rollback()
                outcome["apply"] = str(exc)

    with sessions() as screening:  # moves the site away and closes the conflict, uncommitted
        update_feature(screening, "projects", permit["project_id"],
                       site_feature("CM-CL-RACE", 121.40, AWAY), ctx)
        racer = threading.Thread(target=apply)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive(), "the transition must wait for the screening"
        screening.commit()
    racer.join(timeout=10)
    assert "冲突已于" in outcome["apply"] and "不再办理" in outcome["apply"]
    assert _state(stored_network, permit["id"])[4:] == (0, 0)


def test_expiry_skips_a_permit_whose_conflict_a_screening_holds_and_takes_it_next_pass(
        api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-CL-SKIP")
    until = (TODAY + dt.timedelta(days=1)).isoformat()
    assert _move(api, office, permit["id"], "applied").status_code == 200
    assert _move(api, office, permit["id"], "approved", approved_until=until).status_code == 200
    actor = Actor(id=None, username="mover", role="gas_office", organisation=None)
    ctx = WriteContext(actor=actor, rule_set=api.app.state.rule_set)
    sessions = session_factory(stored_network)
    with sessions() as screening:  # a small move: the conflict stays open, its row is updated
        update_feature(screening, "projects", permit["project_id"],
                       site_feature("CM-CL-SKIP", 121.40, 31.62992), ctx)
        with sessions.begin() as expiry:  # would wait (and time out) instead of skipping
            expiry.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert expire_due(expiry, TODAY + dt.timedelta(days=2)) == []
        screening.commit()
    with sessions.begin() as expiry:
        assert expire_due(expiry, TODAY + dt.timedelta(days=2)) == [permit["id"]]
