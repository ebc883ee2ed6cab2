"""Rules in force through the API: activities on projects, conflicts that say what applies,
the impact dry run (gas office only) and the server's own switch on the day a version
takes effect (one pass across workers)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from gisapp.rule_watch import RuleWatch
from layers.db import session_factory
from layers.services.actors import Actor
from layers.services.features import WriteContext, screen_district
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature

pytestmark = pytest.mark.postgis
LON = 121.40
# Site's south edge 3 m north of MP-T1 (medium A, lat 31.64): control range in both versions.
LAT_3M = 31.64 + 3.08 / 111_320


def test_project_activities_and_conflicts_say_what_applies(api, login, stored_network, db_engine):
    office = login("gas_office")
    feature = site_feature("CM-ACT-1", LON, LAT_3M, activities="爆破，打桩")
    created = api.post("/api/projects", json=feature, headers=office)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["properties"]["activities"] == ["blasting", "piling"]
    (conflict,) = body["properties"]["conflicts"]
    # Today (after 2026-03-01): blasting 3 m from a medium-pressure main is no longer prohibited.
    assert conflict["rule_set"] == "shanghai@2026.1" and conflict["zone"] == "control"
    assert conflict["prohibited_activities"] == []
    assert conflict["plan_required_activities"] == ["piling"]
    assert "打桩" in conflict["required_action"] and "范围内禁止" not in conflict["required_action"]
    listed = api.get("/api/conflicts", headers=office).json()["conflicts"]
    assert listed[0]["plan_required_activities"] == ["piling"]
    assert listed[0]["found_under"] == "shanghai@2026.1"

    # Unknown activity: 422 naming the feature and the field, nothing stored.
    bad = api.post("/api/projects", headers=office,
                   json=site_feature("CM-ACT-2", LON, LAT_3M, activities="爆破、飞行"))
    assert bad.status_code == 422, bad.text
    assert "activities" in bad.text and "飞行" in bad.text
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM construction_project")).scalar_one() == 1


def test_impact_endpoint_is_for_the_gas_office(api, login, stored_network):
    office = login("gas_office")
    empty = api.get("/api/rules/impact", params={"from": "shanghai@2018.1", "to": "shanghai"},
                    headers=office)
    assert empty.status_code == 200 and empty.json()["rows"] == []
    api.post("/api/projects", json=site_feature("CM-ACT-3", LON, LAT_3M, activities="blasting"),
             headers=office)
    answer = api.get("/api/rules/impact", params={"from": "shanghai@2018.1", "to": "shanghai@2026.1"},
                     headers=office)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["summary"]["by_change"]["activities"] == 1
    (row,) = data["rows"]
    assert row["project_code"] == "CM-ACT-3" and row["prohibited_from"] == "blasting"
    assert row["prohibited_to"] == ""
    csv = api.get("/api/rules/impact", headers=office,
                  params={"from": "shanghai@2018.1", "to": "shanghai", "format": "csv"})
    assert csv.status_code == 200 and "CM-ACT-3" in csv.content.decode("utf-8-sig")
    xlsx = api.get("/api/rules/impact", params={"from": "shanghai@2018.1", "to": "shanghai",
                                                 "format": "xlsx"}, headers=office)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    bad = api.get("/api/rules/impact", params={"from": "shanghai@1999", "to": "shanghai"}, headers=office)
    assert bad.status_code == 422 and "没有版本" in bad.text
    # The API never reads a file a request names.
    path = api.get("/api/rules/impact", params={"from": "/etc/hostname", "to": "shanghai"}, headers=office)
    assert path.status_code == 422 and "未知的规则集" in path.text
    for role in ("builder", "inspector", "admin"):
        refused = api.get("/api/rules/impact", params={"from": "shanghai@2018.1", "to": "shanghai"},
                          headers=login(role, "某建设单位" if role == "builder" else None))
        assert refused.status_code == 403, role
    versions = api.get("/api/rules", headers=office).json()
    assert {v["rule_set"] for v in versions["versions"]} >= {"shanghai@2018.1", "shanghai@2026.1"}


def test_workers_switch_once_on_the_day_a_version_takes_effect(stored_network, db_engine):
    old, new = load_rule_set("shanghai@2018.1"), load_rule_set("shanghai@2026.1")
    with session_factory(db_engine).begin() as session:
        session.execute(text(
            "INSERT INTO construction_project (registration_code, name, kind, status, activities, geom) "
            "VALUES ('CM-SW-1', '切换测试', 'housing', 'under_construction', 'blasting', "
            "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)))"),
            {"x0": LON, "y0": LAT_3M, "x1": LON + 0.0003, "y1": LAT_3M + 0.0003})
        screen_district(session, WriteContext(actor=Actor.cli(), rule_set=old))

    def ctx_for(rule_set):
        return WriteContext(actor=Actor.cli(), rule_set=rule_set)

    day = {"today": dt.date(2026, 2, 28)}
    workers = [SimpleNamespace(rule_set=old), SimpleNamespace(rule_set=old)]
    watches = [RuleWatch(db_engine, state, "shanghai", ctx_for, interval_s=60,
                         today=lambda: day["today"]) for state in workers]
    for watch in watches:
        assert watch.run_once() is False
    assert [w.rule_set.label for w in workers] == [old.label, old.label]
    day["today"] = dt.date(2026, 3, 1)
    for watch in watches:
        watch.run_once()
    assert [w.rule_set.label for w in workers] == [new.label, new.label]
    with db_engine.connect() as conn:
        switches = conn.execute(text(
            "SELECT from_rule_set, to_rule_set, trigger FROM rule_set_switch ORDER BY id")).all()
        conflict = conn.execute(text(
            "SELECT rule_set, found_under, prohibited_activities FROM pipeline_conflict "
            "WHERE closed_at IS NULL")).one()
        changed = conn.execute(text("SELECT message FROM alert WHERE kind = 'changed'")).scalars().all()
    # The first screen adopted 2018.1; the date moved everything to 2026.1 exactly once.
    assert switches == [(None, old.label, "command"), (old.label, new.label, "auto")]
    assert tuple(conflict) == (new.label, old.label, [])
    (message,) = changed
    assert "shanghai@2018.1" in message and "爆破" in message and "无" in message


def test_a_server_started_after_the_date_switches_data_left_under_the_old_version(
        stored_network, db_engine):
    old = load_rule_set("shanghai@2018.1")
    with session_factory(db_engine).begin() as session:
        session.execute(text(
            "INSERT INTO construction_project (registration_code, name, kind, status, geom) "
            "VALUES ('CM-SW-2', '启动切换', 'housing', 'under_construction', "
            "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)))"),
            {"x0": LON, "y0": LAT_3M, "x1": LON + 0.0003, "y1": LAT_3M + 0.0003})
        screen_district(session, WriteContext(actor=Actor.cli(), rule_set=old))
    # The worker starts with today's version already (create_app resolves the family).
    state = SimpleNamespace(rule_set=load_rule_set("shanghai", dt.date(2026, 12, 1)))
    watch = RuleWatch(db_engine, state, "shanghai", lambda rs: WriteContext(actor=Actor.cli(), rule_set=rs),
                      interval_s=60, today=lambda: dt.date(2026, 12, 1))
    assert watch.run_once() is False
    with db_engine.connect() as conn:
        labels = conn.execute(text(
            "SELECT DISTINCT rule_set FROM pipeline_conflict WHERE closed_at IS NULL")).scalars().all()
        autos = conn.execute(text("SELECT count(*) FROM rule_set_switch WHERE trigger = 'auto'")).scalar_one()
    assert labels == ["shanghai@2026.1"] and autos == 1
    assert watch.run_once() is False  # nothing more to do: no second pass over the data


def test_a_lagging_worker_rescreens_what_it_wrote_under_the_old_version(stored_network, db_engine):
    old, new = load_rule_set("shanghai@2018.1"), load_rule_set("shanghai@2026.1")
    with session_factory(db_engine).begin() as session:
        screen_district(session, WriteContext(actor=Actor.cli(), rule_set=old))  # adopts 2018.1 (empty)
    fast = SimpleNamespace(rule_set=old)
    slow = SimpleNamespace(rule_set=old)
    make = lambda state: RuleWatch(db_engine, state, "shanghai",  # noqa: E731
                                   lambda rs: WriteContext(actor=Actor.cli(), rule_set=rs), interval_s=60,
                                   today=lambda: dt.date(2026, 3, 1))
    make(fast).run_once()
    assert fast.rule_set.label == new.label
    # Before its own check, the slow worker stores blasting 3 m from a medium main under
    # 2018.1 (prohibited then, allowed under 2026.1).
    from layers.services.features import create_feature
    with session_factory(db_engine).begin() as session:
        create_feature(session, "projects", site_feature("CM-LAG-1", LON, LAT_3M, activities="blasting"),
                       WriteContext(actor=Actor.cli(), rule_set=old))
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT rule_set FROM pipeline_conflict WHERE closed_at IS NULL")
                            ).scalar_one() == old.label
    make(slow).run_once()
    assert slow.rule_set.label == new.label
    with db_engine.connect() as conn:
        row = conn.execute(text("SELECT rule_set, prohibited_activities FROM pipeline_conflict "
                                "WHERE closed_at IS NULL")).one()
        switches = conn.execute(text(
            "SELECT count(*) FROM rule_set_switch WHERE trigger = 'auto'")).scalar_one()
    assert tuple(row) == (new.label, []) and switches == 1


def test_impact_names_each_project_by_organisation_and_id(api, login, stored_network):
    """Two organisations' "P-001" (codes are unique per organisation, D57) stay two projects."""
    ids = _two_organisations_same_code(stored_network)
    office = login("gas_office")
    answer = api.get("/api/rules/impact", params={"from": "shanghai@2018.1", "to": "shanghai@2026.1"},
                     headers=office)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["summary"]["projects_changed"] == 2 and data["summary"]["pairs_changed"] == 2
    assert {(r["project_code"], r["project_organisation"], r["project_id"]) for r in data["rows"]} == {
        ("P-001", org, pid) for org, pid in ids.items()}
    assert all(r["change"] == "activities" for r in data["rows"])
    csv_rows = list(csv.DictReader(io.StringIO(api.get(
        "/api/rules/impact", headers=office,
        params={"from": "shanghai@2018.1", "to": "shanghai@2026.1", "format": "csv"},
    ).content.decode("utf-8-sig"))))
    assert {(r["project_organisation"], int(r["project_id"])) for r in csv_rows} == set(ids.items())


def _two_organisations_same_code(engine) -> dict[str, int]:
    """Store one blasting project "P-001" 3 m beside MP-T1 for each of two organisations."""
    with engine.begin() as conn:
        return {
            org: conn.execute(text(
                "INSERT INTO construction_project (registration_code, name, kind, status, activities, "
                "organisation, geom) VALUES ('P-001', :name, 'housing', 'under_construction', "
                "'blasting', :org, ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490))) RETURNING id"),
                {"org": org, "name": f"{org} 项目", "x0": LON + i * 0.001, "y0": LAT_3M,
                 "x1": LON + i * 0.001 + 0.0003, "y1": LAT_3M + 0.0003}).scalar_one()
            for i, org in enumerate(("甲建设公司", "乙建设公司"))
        }
