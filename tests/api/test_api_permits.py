"""Protection procedures (permits) through the API: the checked state machine and its history."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text

from gisapp.permit_expiry import ExpiryJob, expire_once
from layers.db import session_factory
from layers.services.permits import TRANSITIONS, expire_due
from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

TODAY = today_in_shanghai()
LATER = (TODAY + dt.timedelta(days=365)).isoformat()


def _permit_for(api, headers, code: str, lat: float = 31.6299) -> dict:
    """Register a site on the high-pressure trunk HP-T1 and return its (only) permit."""
    r = api.post("/api/projects", json=site_feature(code, 121.40, lat), headers=headers)
    assert r.status_code == 201, r.text
    listed = api.get("/api/permits", params={"project_id": r.json()["id"]}, headers=headers)
    assert listed.status_code == 200, listed.text
    permits = listed.json()["permits"]
    assert len(permits) == 1 and permits[0]["pipeline_code"] == "HP-T1"
    assert permits[0]["status"] == "not_started"
    return permits[0]


def _move(api, headers, permit_id, to_status, **fields):
    return api.post(f"/api/permits/{permit_id}/transitions",
                    json={"to_status": to_status, **fields}, headers=headers)


def _history(api, headers, permit_id):
    r = api.get(f"/api/permits/{permit_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["history"]


def _state(engine, permit_id):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT status, approved_until, reason, reference, "
            "(SELECT count(*) FROM permit_event WHERE permit_id = :id), "
            "(SELECT count(*) FROM audit_log WHERE entity = 'permit' "
            "AND entity_id = CAST(:id AS text)) "
            "FROM permit WHERE id = :id"), {"id": permit_id}).one()


# Every allowed transition, each reached by a walk from not_started, with its extra fields.
EXTRA = {"approved": {"approved_until": LATER, "reference": "崇燃保 2026-001"},
         "not_required": {"reason": "项目仅为地面绿化，不涉及开挖"}}
WALKS = {
    ("not_started", "applied"): [],
    ("not_started", "not_required"): [],
    ("applied", "approved"): ["applied"],
    ("applied", "rejected"): ["applied"],
    ("applied", "not_required"): ["applied"],
    ("rejected", "applied"): ["applied", "rejected"],
    ("approved", "expired"): ["applied", "approved"],
    ("approved", "applied"): ["applied", "approved"],
    ("expired", "applied"): ["applied", "approved", "expired"],
    ("not_required", "not_started"): ["not_required"],
}


def test_walks_cover_exactly_the_documented_table():
    assert set(WALKS) == {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts}


def test_every_allowed_transition_through_the_api(api, login, stored_network):
    office = login("gas_office")
    for n, ((src, dst), walk) in enumerate(sorted(WALKS.items())):
        permit = _permit_for(api, office, f"CM-PM-{n}")
        for step in [*walk, dst]:
            r = _move(api, office, permit["id"], step, **EXTRA.get(step, {}))
            assert r.status_code == 200, (src, dst, step, r.text)
        body = r.json()
        assert body["status"] == dst, (src, dst)
        assert [h["to_status"] for h in body["history"]] == [*walk, dst]
        assert body["history"][-1]["from_status"] == src
        if dst == "approved":
            assert body["approved_until"] == LATER and body["reference"] == "崇燃保 2026-001"
        if dst == "not_required":
            assert body["reason"] == EXTRA["not_required"]["reason"]
            assert EXTRA["not_required"]["reason"] in body["history"][-1]["note"]
        assert _state(stored_network, permit["id"])[5] == len(walk) + 1  # one audit row per change


# A walk through every state; at each stop, the listed moves must be refused.
ILLEGAL_WALK = [
    (None, ("approved", "rejected", "expired", "not_started")),
    ("applied", ("applied", "expired", "not_started")),
    ("rejected", ("approved", "rejected", "expired", "not_required")),
    ("applied", ()),
    ("approved", ("approved", "rejected", "not_required", "not_started")),
    ("expired", ("approved", "expired", "not_required", "rejected")),
    ("applied", ()),
    ("not_required", ("applied", "approved", "not_required", "expired")),
]


def test_illegal_transitions_answer_409_naming_both_states_and_change_nothing(
        api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-PM-ILL")
    current = "not_started"
    for step, illegal_moves in ILLEGAL_WALK:
        if step is not None:
            r = _move(api, office, permit["id"], step, **EXTRA.get(step, {}))
            assert r.status_code == 200, r.text
            current = step
        for illegal in illegal_moves:
            before = _state(stored_network, permit["id"])
            r = _move(api, office, permit["id"], illegal, **EXTRA.get(illegal, {}))
            assert r.status_code == 409, (current, illegal, r.text)
            detail = r.json()["detail"]
            assert f"（{current}）" in detail and f"（{illegal}）" in detail
            assert "CM-PM-ILL" in detail and "HP-T1" in detail
            allowed_part = detail.split("允许的下一状态")[1]
            assert all(f"（{a}）" in allowed_part for a in TRANSITIONS[current])
            assert _state(stored_network, permit["id"]) == before, (current, illegal)
    assert current == "not_required"


def test_approval_needs_a_date_not_in_the_past_and_not_required_needs_a_reason(
        api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-PM-VAL")
    assert _move(api, office, permit["id"], "applied").status_code == 200
    before = _state(stored_network, permit["id"])
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    for fields in ({}, {"approved_until": None}, {"approved_until": yesterday}):
        r = _move(api, office, permit["id"], "approved", **fields)
        assert r.status_code == 422, r.text
        assert "approved_until" in r.json()["detail"]
    r = _move(api, office, permit["id"], "approved", approved_until="2026-13-01")
    assert r.status_code == 422 and "approved_until" in r.json()["detail"]
    for fields in ({}, {"reason": "   "}):
        r = _move(api, office, permit["id"], "not_required", **fields)
        assert r.status_code == 422, r.text
        assert "reason" in r.json()["detail"]
    r = _move(api, office, permit["id"], "granted")
    assert r.status_code == 422 and "to_status" in r.json()["detail"]
    r = _move(api, office, permit["id"], "applied", reference="x" * 65)
    assert r.status_code == 422 and "reference" in r.json()["detail"]
    assert _state(stored_network, permit["id"]) == before
    # Today itself is still a valid last day.
    r = _move(api, office, permit["id"], "approved", approved_until=TODAY.isoformat())
    assert r.status_code == 200 and r.json()["approved_until"] == TODAY.isoformat()


def test_history_lists_every_change_with_who_and_when_in_order(api, login, stored_network):
    office, builder_org = login("gas_office"), "崇明建工"
    builder = login("builder", builder_org)
    permit = _permit_for(api, builder, "CM-PM-HIST")
    office_name = api.get("/api/auth/me", headers=office).json()["username"]
    builder_name = api.get("/api/auth/me", headers=builder).json()["username"]
    steps = [(builder, "applied", {"reference": "申-001", "note": "首次申请"}),
             (office, "rejected", {"note": "保护方案缺少开挖深度"}),
             (builder, "applied", {"note": "补充方案后重新申请"}),
             (office, "approved", {"approved_until": LATER, "reference": "批-007"})]
    for headers, to_status, fields in steps:
        assert _move(api, headers, permit["id"], to_status, **fields).status_code == 200
    history = _history(api, builder, permit["id"])
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("not_started", "applied"), ("applied", "rejected"), ("rejected", "applied"),
        ("applied", "approved")]
    assert [h["username"] for h in history] == [builder_name, office_name] * 2
    assert [h["note"] for h in history[:3]] == [
        "首次申请", "保护方案缺少开挖深度", "补充方案后重新申请"]
    assert history[0]["reference"] == "申-001" and history[3]["approved_until"] == LATER
    times = [dt.datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    final = api.get(f"/api/permits/{permit['id']}", headers=office).json()
    assert final["reference"] == "批-007" and final["updated_by"] == office_name
    assert final["conflict_open"] is True and final["zone"] == "protection"
    assert final["project_code"] == "CM-PM-HIST" and final["distance_m"] == 0.0


def test_expire_due_moves_a_past_approval_to_expired_with_a_history_entry(
        api, login, stored_network):
    office = login("gas_office")
    due = _permit_for(api, office, "CM-PM-EXP1")
    valid = _permit_for(api, office, "CM-PM-EXP2", lat=31.6301)
    until = (TODAY + dt.timedelta(days=10)).isoformat()
    for permit in (due, valid):
        assert _move(api, office, permit["id"], "applied").status_code == 200
    assert _move(api, office, due["id"], "approved", approved_until=until).status_code == 200
    assert _move(api, office, valid["id"], "approved", approved_until=LATER).status_code == 200
    with session_factory(stored_network).begin() as session:
        assert expire_due(session, TODAY + dt.timedelta(days=10)) == []  # last day still valid
        assert expire_due(session, TODAY + dt.timedelta(days=11)) == [due["id"]]
    expired = api.get(f"/api/permits/{due['id']}", headers=office).json()
    assert expired["status"] == "expired" and expired["approved_until"] == until
    last = expired["history"][-1]
    assert (last["from_status"], last["to_status"]) == ("approved", "expired")
    assert last["username"] == "job:permit-expiry" and until in last["note"]
    assert api.get(f"/api/permits/{valid['id']}", headers=office).json()["status"] == "approved"
    # Renewal from expired goes through a new application.
    assert _move(api, office, due["id"], "applied").status_code == 200


def test_builder_applies_for_its_own_permits_only(api, login, stored_network):
    office = login("gas_office")
    mine, theirs = login("builder", "崇明建工"), login("builder", "长兴建设")
    own = _permit_for(api, mine, "CM-PM-OWN")
    other = _permit_for(api, theirs, "CM-PM-OTHER", lat=31.6301)
    before = _state(stored_network, own["id"])
    r = _move(api, mine, own["id"], "approved", approved_until=LATER)
    assert r.status_code == 403, r.text
    for to_status, fields in (("not_required", {"reason": "不需要"}), ("rejected", {}),
                              ("not_started", {}), ("expired", {})):
        assert _move(api, mine, own["id"], to_status, **fields).status_code == 403
    assert _state(stored_network, own["id"]) == before
    other_before = _state(stored_network, other["id"])
    assert _move(api, mine, other["id"], "applied").status_code == 404
    assert api.get(f"/api/permits/{other['id']}", headers=mine).status_code == 404
    assert _state(stored_network, other["id"]) == other_before
    listed = api.get("/api/permits", headers=mine).json()
    assert [p["project_code"] for p in listed["permits"]] == ["CM-PM-OWN"]
    r = _move(api, mine, own["id"], "applied", reference="申-B1")
    assert r.status_code == 200 and r.json()["status"] == "applied"
    # Office and inspector see both.
    inspector = login("inspector")
    for headers in (office, inspector):
        assert api.get("/api/permits", headers=headers).json()["numberMatched"] == 2
    applied = api.get("/api/permits", params={"status": "applied"}, headers=office).json()
    assert applied["numberMatched"] == 1
    assert _move(api, inspector, own["id"], "approved", approved_until=LATER).status_code == 403


def test_list_is_paginated(api, login, stored_network):
    office = login("gas_office")
    for n in range(3):
        _permit_for(api, office, f"CM-PM-PG{n}", lat=31.6295 + n * 0.0004)
    page = api.get("/api/permits", params={"limit": 2}, headers=office).json()
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    rest = api.get(page["links"][0]["href"], headers=office).json()
    assert rest["numberReturned"] == 1 and rest["links"] == []
    assert len({p["id"] for p in page["permits"] + rest["permits"]}) == 3
    assert api.get("/api/permits/999999", headers=office).status_code == 404


def test_concurrent_transitions_serialise_on_the_permit_row(api, login, stored_network):
    import threading

    from layers.services.actors import Actor
    from layers.services.errors import ConflictStateError
    from layers.services.permits import transition

    office = login("gas_office")
    permit = _permit_for(api, office, "CM-PM-RACE")
    actor = Actor(id=None, username="racer", role="gas_office", organisation=None)
    sessions = session_factory(stored_network)
    outcome = {}

    def second():
        with sessions() as session:
            try:
                transition(session, permit["id"], "applied", actor)
                session.commit()
                outcome["second"] = "applied"
            except ConflictStateError as exc:
                session.rollback()
                outcome["second"] = str(exc)

    with sessions() as first:
        transition(first, permit["id"], "applied", actor)  # holds the row lock
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive(), "the second transition must wait for the first"
        first.commit()
    racer.join(timeout=10)
    assert "（applied）" in outcome["second"]  # it saw the committed state, then refused
    assert [h["to_status"] for h in _history(api, office, permit["id"])] == ["applied"]


def test_the_server_expires_lapsed_permits_itself(api, login, stored_network):
    office = login("gas_office")
    permit = _permit_for(api, office, "CM-PM-JOB")
    assert _move(api, office, permit["id"], "applied").status_code == 200
    assert _move(api, office, permit["id"], "approved", approved_until=LATER).status_code == 200
    with stored_network.begin() as conn:  # its validity lapsed yesterday
        conn.execute(text("UPDATE permit SET approved_until = :d WHERE id = :id"),
                     {"d": TODAY - dt.timedelta(days=1), "id": permit["id"]})
    # A pass is skipped while another worker's pass holds the lock ...
    with session_factory(stored_network).begin() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(hashtext('gisapp:permit-expiry'))"))
        assert expire_once(stored_network) is None
    # ... and the job's thread, started as the server starts, expires it.
    job = ExpiryJob(stored_network, interval_s=0.2).start()
    try:
        deadline = time.monotonic() + 20
        while api.get(f"/api/permits/{permit['id']}", headers=office).json()["status"] != "expired":
            assert time.monotonic() < deadline, "the expiry job did not expire the permit"
            time.sleep(0.1)
    finally:
        job.stop()
    assert expire_once(stored_network) == []  # once only
