"""On-site supervision, start notices, damage reports and expiring answers through the API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.notify import Channels
from layers.services.procedure import warn_expiring_answers
from layers.services.workdays import add_working_days, overrides_between
from tests.factories import site_feature
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

OWNER_A, OWNER_B = "上海天然气管网有限公司", "上海崇明燃气有限公司"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture()
def people(login, api, stored_network):
    """Builder, a second builder, both owners, the office; one project across both pipes."""
    h = {"builder": login("builder", "甲建设集团"), "other": login("builder", "乙市政公司"),
         "owner_a": login("utility", OWNER_A), "owner_b": login("utility", OWNER_B),
         "office": login("gas_office"), "inspector": login("inspector"), "admin": login("admin")}
    # A strip across both pipes, small enough not to be held for review (0.17 km²).
    site = site_feature("SW-1", 121.400, 31.6295, size_deg=0.011, width_deg=0.0015, status="planned")
    r = api.post("/api/projects", json=site, headers=h["builder"])
    assert r.status_code == 201, r.text
    conflicts = {c["pipeline_id"]: c["conflict_id"] for c in r.json()["conflicts"]}
    return {"h": h, "project": r.json()["id"], "conflicts": conflicts, "engine": stored_network}


def test_owner_schedules_and_records_supervision_the_builder_sees_it(api, people):
    h, conflict = people["h"], people["conflicts"]["HP-T1"]
    day = (today_in_shanghai() + dt.timedelta(days=3)).isoformat()
    bad = api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_a"],
                   json={"scheduled_on": "2026-02-30", "person": "李工"})
    assert bad.status_code == 422 and "scheduled_on" in bad.json()["detail"]
    past = api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_a"],
                    json={"scheduled_on": "2001-01-01", "person": "李工"})
    assert past.status_code == 422
    assert api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_b"],
                    json={"scheduled_on": day, "person": "李工"}).status_code == 404
    assert api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["builder"],
                    json={"scheduled_on": day, "person": "李工"}).status_code == 403
    # Supervision only when the owner's reply asked for it: refused (409, naming what is
    # missing) before the reply and after a reply that asks for something else.
    unasked = api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_a"],
                       json={"scheduled_on": day, "person": "李工"})
    assert unasked.status_code == 409, unasked.text
    assert "不能安排现场监护" in unasked.json()["detail"] and "尚未答复" in unasked.json()["detail"]
    assert "SW-1" in unasked.json()["detail"] and "HP-T1" in unasked.json()["detail"]
    for decision, said in (("protection_plan_required", "须编制保护方案"), ("no_objection", "无异议")):
        replied = api.post(f"/api/conflicts/{conflict}/owner-reply", headers=h["owner_a"],
                           data={"decision": decision})
        assert replied.status_code == 200, replied.text
        refused = api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_a"],
                           json={"scheduled_on": day, "person": "李工"})
        assert refused.status_code == 409, refused.text
        assert f"答复为“{said}”，未要求现场监护" in refused.json()["detail"]
        assert "须现场监护" in refused.json()["detail"]
    with people["engine"].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM supervision_visit")).scalar_one() == 0
    assert "supervision.scheduled" not in {
        n["event"] for n in api.get("/api/notifications", headers=h["builder"]).json()["notifications"]}
    assert api.post(f"/api/conflicts/{conflict}/owner-reply", headers=h["owner_a"],
                    data={"decision": "on_site_supervision_required"}).status_code == 200
    r = api.post(f"/api/conflicts/{conflict}/supervision-visits", headers=h["owner_a"],
                 json={"scheduled_on": day, "person": "李工"})
    assert r.status_code == 201, r.text
    visit = r.json()
    schedule = api.get("/api/supervision-visits", headers=h["builder"]).json()["visits"]
    assert [(v["scheduled_on"], v["person"]) for v in schedule] == [(day, "李工")]
    assert api.get("/api/supervision-visits", headers=h["other"]).json()["visits"] == []
    assert api.get("/api/supervision-visits", headers=h["owner_b"]).json()["visits"] == []
    events = {n["event"] for n in api.get("/api/notifications", headers=h["builder"]).json()["notifications"]}
    assert "supervision.scheduled" in events
    wrong = api.post(f"/api/supervision-visits/{visit['id']}/record", headers=h["owner_a"],
                     data={"arrived_at": "2026-12-01T10:00:00+08:00", "left_at": "2026-12-01T09:00:00+08:00"})
    assert wrong.status_code == 422 and "left_at" in wrong.json()["detail"]
    arrived = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).isoformat()
    left = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    done = api.post(f"/api/supervision-visits/{visit['id']}/record", headers=h["owner_a"],
                    data={"arrived_at": arrived, "left_at": left, "notes": "开挖段已设警示，管位已标识"},
                    files=[("files", ("现场.jpg", JPEG, "image/jpeg"))])
    assert done.status_code == 200, done.text
    assert done.json()["notes"].startswith("开挖段") and len(done.json()["documents"]) == 1
    again = api.post(f"/api/supervision-visits/{visit['id']}/record", headers=h["owner_a"],
                     data={"arrived_at": arrived, "left_at": left})
    assert again.status_code == 409
    photo = done.json()["documents"][0]["id"]
    assert api.get(f"/api/documents/{photo}", headers=h["builder"]).content == JPEG
    assert api.get(f"/api/documents/{photo}", headers=h["other"]).status_code == 404


def _approve_protection_permits(api, office, project_id, *, until: dt.date) -> None:
    """The office approves every permit of the project (applied, then approved until ``until``)."""
    permits = api.get("/api/permits", params={"project_id": project_id}, headers=office).json()["permits"]
    assert permits
    for n, permit in enumerate(permits):
        for step, extra in (("applied", {}), ("approved", {"approved_until": until.isoformat(),
                                                           "reference": f"崇燃保 SW-{n}"})):
            r = api.post(f"/api/permits/{permit['id']}/transitions", headers=office,
                         json={"to_status": step, **extra})
            assert r.status_code == 200, r.text


def test_start_notice_needs_working_days_and_tells_the_owners(api, people):
    h, pid = people["h"], people["project"]
    today = today_in_shanghai()
    with session_factory(people["engine"]).begin() as session:
        overrides = overrides_between(session, today, today + dt.timedelta(days=60))
    too_soon = add_working_days(today, 2, overrides)
    r = api.post(f"/api/projects/{pid}/start-notice", headers=h["builder"],
                 json={"planned_start": too_soon.isoformat()})
    assert r.status_code == 422 and "3 个工作日" in r.json()["detail"]
    start = add_working_days(today, 3, overrides)
    assert api.post(f"/api/projects/{pid}/start-notice", headers=h["other"],
                    json={"planned_start": start.isoformat()}).status_code == 404
    assert api.post(f"/api/projects/{pid}/start-notice", headers=h["owner_a"],
                    json={"planned_start": start.isoformat()}).status_code == 403
    # Before the office approves the protection-range permits, no notice: the same rule as
    # the start-of-work check, naming what is missing; nothing is stored, nobody is told.
    early = api.post(f"/api/projects/{pid}/start-notice", headers=h["builder"],
                     json={"planned_start": start.isoformat()})
    assert early.status_code == 409, early.text
    assert "尚不能提交开工告知" in early.json()["detail"] and "HP-T1" in early.json()["detail"]
    assert not [n for n in api.get("/api/notifications", headers=h["owner_a"]).json()["notifications"]
                if n["event"] == "start_notice"]
    _approve_protection_permits(api, h["office"], pid, until=start + dt.timedelta(days=90))
    ok = api.post(f"/api/projects/{pid}/start-notice", headers=h["builder"],
                  json={"planned_start": start.isoformat(), "note": "先做围挡"})
    assert ok.status_code == 201, ok.text
    assert sorted(ok.json()["owners_told"]) == sorted([OWNER_A, OWNER_B])
    for who in ("owner_a", "owner_b"):
        events = [n for n in api.get("/api/notifications", headers=h[who]).json()["notifications"]
                  if n["event"] == "start_notice"]
        assert len(events) == 1 and start.isoformat() in events[0]["title"]


def test_damage_report_states_the_procedure_and_keeps_acknowledgement_time(api, people):
    h, pid = people["h"], people["project"]
    pipes = {f["properties"]["external_code"]: f["id"] for f in
             api.get("/api/pipelines", headers=h["office"]).json()["features"]}
    outside = api.post("/api/damage-reports", headers=h["other"],
                       data={"lon": "116.4", "lat": "39.9", "occurred_at": "2026-11-30T10:00:00+08:00",
                             "description": "挖断"})
    assert outside.status_code == 422 and "崇明" in outside.json()["detail"]
    admin = api.post("/api/damage-reports", headers=h["admin"],
                     data={"lon": "121.401", "lat": "31.64", "occurred_at": "2026-11-30T10:00:00+08:00",
                           "description": "挖断"})
    assert admin.status_code == 403
    r = api.post("/api/damage-reports", headers=h["other"],
                 data={"lon": "121.401", "lat": "31.64", "description": "挖掘机挖破中压管，有漏气声",
                       "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                       "pipeline_id": str(pipes["MP-T1"]), "project_id": str(pid)},
                 files=[("files", ("破损.jpg", JPEG, "image/jpeg"))])
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["had_valid_answer"] is True and report["had_approved_permit"] is False
    assert report["acknowledged_at"] is None and report["owner"] == OWNER_B
    for who in ("office", "owner_b"):
        events = {n["event"] for n in api.get("/api/notifications", headers=h[who]).json()["notifications"]}
        assert "damage" in events, who
    assert "damage" not in {n["event"] for n in
                            api.get("/api/notifications", headers=h["owner_a"]).json()["notifications"]}
    ack_path = f"/api/damage-reports/{report['id']}/acknowledge"
    assert api.post(ack_path, headers=h["owner_a"]).status_code == 404
    ack = api.post(f"/api/damage-reports/{report['id']}/acknowledge", headers=h["owner_b"])
    assert ack.status_code == 200 and ack.json()["seconds_to_acknowledge"] >= 0
    assert api.post(f"/api/damage-reports/{report['id']}/acknowledge", headers=h["office"]).status_code == 409
    listed = api.get("/api/damage-reports", headers=h["office"]).json()["damage_reports"]
    assert [d["id"] for d in listed] == [report["id"]]
    assert api.get("/api/damage-reports", headers=h["owner_a"]).json()["damage_reports"] == []


def test_builders_are_warned_once_before_their_answer_expires(api, people):
    h, pid = people["h"], people["project"]
    engine = people["engine"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE answer_letter SET valid_until = :d WHERE project_id = :p"),
                     {"d": today_in_shanghai() + dt.timedelta(days=5), "p": pid})
    with session_factory(engine).begin() as session:
        first = warn_expiring_answers(session, 7, Channels())
        second = warn_expiring_answers(session, 7, Channels())
    assert len(first) == 1 and second == []
    notes = [n for n in api.get("/api/notifications", headers=h["builder"]).json()["notifications"]
             if n["event"] == "answer.expiring"]
    assert len(notes) == 1 and first[0] in notes[0]["title"]
    assert not [n for n in api.get("/api/notifications", headers=h["other"]).json()["notifications"]
                if n["event"] == "answer.expiring"]


def test_a_network_change_tells_the_builder_and_that_owner_only(api, people):
    h = people["h"]
    pipes = {f["properties"]["external_code"]: f for f in
             api.get("/api/pipelines", headers=h["office"]).json()["features"]}
    moved = pipes["MP-T1"]
    moved["geometry"] = {"type": "LineString", "coordinates": [[121.38, 31.70], [121.42, 31.70]]}
    r = api.put(f"/api/pipelines/{moved['id']}", json=moved, headers=h["office"])
    assert r.status_code == 200, r.text

    def events(who):
        return [n for n in api.get("/api/notifications", headers=h[who]).json()["notifications"]
                if n["event"] == "conflict.closed"]

    assert len(events("builder")) == 1 and "MP-T1" in events("builder")[0]["title"]
    assert len(events("owner_b")) == 1
    assert events("owner_a") == [] and events("other") == []


def test_starting_work_with_an_expired_answer_is_a_violation(api, people):
    from layers.services.procedure import check_start_of_work

    h, pid, engine = people["h"], people["project"], people["engine"]
    body = api.get(f"/api/projects/{pid}", headers=h["builder"]).json()
    body["properties"]["status"] = "under_construction"
    assert api.put(f"/api/projects/{pid}", json=body, headers=h["builder"]).status_code == 200
    # The answer is valid: only the missing permits are found.
    kinds = {v["kind"] for v in api.get("/api/violations", headers=h["office"]).json()["violations"]}
    assert kinds == {"no_permit"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE answer_letter SET valid_until = :d WHERE project_id = :p"),
                     {"d": today_in_shanghai() - dt.timedelta(days=1), "p": pid})
    number = api.get(f"/api/projects/{pid}/answer", headers=h["builder"]).json()["number"]
    for status in ("planned", "under_construction"):  # an edit of the status keeps the answer
        body["properties"]["status"] = status
        assert api.put(f"/api/projects/{pid}", json=body, headers=h["builder"]).status_code == 200
    assert api.get(f"/api/projects/{pid}/answer", headers=h["builder"]).json()["number"] == number
    violations = api.get("/api/violations", headers=h["office"]).json()["violations"]
    assert [v["kind"] for v in violations][:2] == ["answer_expired", "no_permit"]
    assert number in violations[0]["message"]
    with session_factory(engine).begin() as session:
        found = check_start_of_work(session, pid)
    assert {v["kind"] for v in found} == {"no_permit", "answer_expired"}
