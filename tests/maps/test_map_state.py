"""The map state stored ahead of time (migration 0022) equals the one worked out from the
conflicts, permits and alerts, after every kind of write: a new project, a changed site, a
pipeline change, a rescreen under other rules, a permit change, an expiry, an alert
acknowledged, a deleted project, a bulk write by SQL; and the overview figures read from
it equal the old scans."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import session_factory
from layers.screening_db import screen_db
from layers.services.permits import expire_due
from maps import layers_data
from spatial_rules.rulesets import load_rule_set
from tests.factories import site_feature
from vocabulary import PERMIT_SEVERITY, ZONE_ORDER, today_in_shanghai

pytestmark = pytest.mark.postgis

COLUMNS = ([f"conflicts_{z.value}" for z in ZONE_ORDER] + [f"permits_{s.value}" for s in PERMIT_SEVERITY]
           + ["alerts_new"])
# The state worked out from scratch, the way the map pages did before migration 0022.
COMPUTED = f"""
SELECT p.id,
  {", ".join(f"count(c.id) FILTER (WHERE c.zone = '{z.value}')" for z in ZONE_ORDER)},
  {", ".join(f"count(c.id) FILTER (WHERE coalesce(pm.status, 'not_started') = '{s.value}')"
             for s in PERMIT_SEVERITY)},
  (SELECT count(*) FROM alert a WHERE a.project_id = p.id AND a.status = 'new')
FROM construction_project p
LEFT JOIN pipeline_conflict c ON c.project_id = p.id AND c.closed_at IS NULL
LEFT JOIN permit pm ON pm.conflict_id = c.id
GROUP BY p.id"""
STORED = f"""
SELECT p.id, {", ".join(f"coalesce(s.{c}, 0)" for c in COLUMNS)}, s.permit_rank
FROM construction_project p LEFT JOIN project_map_state s ON s.project_id = p.id"""
OLD_FIGURES = {
    "conflicts": ("SELECT zone, count(*) AS n, count(DISTINCT project_id) AS projects FROM pipeline_conflict "
                  "WHERE closed_at IS NULL GROUP BY zone"),
    "permits": ("SELECT coalesce(pm.status, 'not_started') AS status, count(*) AS n "
                "FROM pipeline_conflict c LEFT JOIN permit pm ON pm.conflict_id = c.id "
                "WHERE c.closed_at IS NULL GROUP BY 1 ORDER BY 1"),
}
LATER = (today_in_shanghai() + dt.timedelta(days=30)).isoformat()


def _check(engine) -> dict[int, tuple]:
    """Assert stored == computed for every project (and the overview's figures); return the states."""
    with engine.connect() as conn:
        computed = {r[0]: tuple(r[1:]) for r in conn.execute(text(COMPUTED))}
        stored = {r[0]: tuple(r[1:]) for r in conn.execute(text(STORED))}
    assert {k: v[:-1] for k, v in stored.items()} == computed
    for counts in stored.values():
        permits = counts[len(ZONE_ORDER):len(ZONE_ORDER) + len(PERMIT_SEVERITY)]
        worst = next((i for i, n in enumerate(permits, 1) if n), None)
        assert counts[-1] == worst
    with Session(engine) as session:
        figures = layers_data.dashboard_figures(session)
        old_conflicts = [dict(r) for r in session.execute(text(OLD_FIGURES["conflicts"])).mappings()]
        old_permits = [dict(r) for r in session.execute(text(OLD_FIGURES["permits"])).mappings()]
        old_alerts = session.execute(text("SELECT count(*) FROM alert WHERE status = 'new'")).scalar_one()
    by_zone = sorted(old_conflicts, key=lambda r: r["zone"])
    assert sorted(figures["conflicts"], key=lambda r: r["zone"]) == by_zone
    assert figures["permits"] == old_permits and figures["alerts_new"] == old_alerts
    return stored


def _permits(api, headers, project_id) -> list[dict]:
    r = api.get("/api/permits", params={"project_id": project_id}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["permits"]


def _move(api, headers, permit_id, to_status, **fields):
    r = api.post(f"/api/permits/{permit_id}/transitions", json={"to_status": to_status, **fields},
                 headers=headers)
    assert r.status_code == 200, r.text


def test_stored_state_follows_every_kind_of_write(api, login, stored_network):
    engine = stored_network
    office = login("gas_office")
    ids = {}
    # New projects: one across both pipelines' ranges, one on the trunk, one far away.
    for code, lat, width in (("MS-BOTH", 31.6297, 0.0003), ("MS-TRUNK", 31.6299, 0.0003),
                             ("MS-AWAY", 31.70, 0.0003)):
        r = api.post("/api/projects", json=site_feature(code, 121.40, lat, width_deg=width), headers=office)
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
    states = _check(engine)
    assert states[ids["MS-TRUNK"]][-1] == 1 and states[ids["MS-AWAY"]][-1] is None

    # A changed site: MS-BOTH stretched north to reach the medium-pressure main too.
    r = api.put(f"/api/projects/{ids['MS-BOTH']}",
                json=site_feature("MS-BOTH", 121.40, 31.6297, size_deg=0.0104), headers=office)
    assert r.status_code == 200, r.text
    _check(engine)

    # Permit changes: applied, then approved (until a date the expiry job later passes).
    trunk_permit = _permits(api, office, ids["MS-TRUNK"])[0]
    _move(api, office, trunk_permit["id"], "applied")
    assert _check(engine)[ids["MS-TRUNK"]][-1] == 4
    _move(api, office, trunk_permit["id"], "approved", approved_until=LATER, reference="崇燃保 2026-9")
    assert _check(engine)[ids["MS-TRUNK"]][-1] == 5
    with session_factory(engine).begin() as session:
        expired = expire_due(session, today=today_in_shanghai() + dt.timedelta(days=60))
    assert expired
    assert _check(engine)[ids["MS-TRUNK"]][-1] == 3

    # An alert acknowledged.
    alerts = api.get("/api/alerts", headers=office).json()
    alert_list = alerts["alerts"] if isinstance(alerts, dict) else alerts
    new = [a for a in alert_list if a["status"] == "new"]
    assert new
    r = api.post(f"/api/alerts/{new[0]['id']}/acknowledge", headers=office)
    assert r.status_code == 200, r.text
    _check(engine)

    # A pipeline change: the medium-pressure main moved onto MS-AWAY, then taken out of service.
    with engine.connect() as conn:
        mp = conn.execute(text("SELECT id FROM gas_pipeline WHERE external_code = 'MP-T1'")).scalar_one()
    moved = {"type": "Feature", "properties": {"id": "MP-T1"},
             "geometry": {"type": "LineString", "coordinates": [[121.38, 31.70015], [121.42, 31.70015]]}}
    r = api.put(f"/api/pipelines/{mp}", json=moved, headers=office)
    assert r.status_code == 200, r.text
    assert _check(engine)[ids["MS-AWAY"]][-1] == 1
    r = api.put(f"/api/pipelines/{mp}", json={"type": "Feature", "properties": {"status": "abandoned"}},
                headers=office)
    assert r.status_code == 200, r.text
    assert _check(engine)[ids["MS-AWAY"]][-1] is None

    # A rescreen under other rules (the national standard's ranges), then back.
    with session_factory(engine).begin() as session:
        screen_db(session, load_rule_set("gb55009"))
    _check(engine)
    with session_factory(engine).begin() as session:
        screen_db(session, load_rule_set("shanghai"))
    _check(engine)

    # A bulk write by hand: every open conflict's permit marked not required, in one statement.
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO permit (conflict_id, status, reason) "
                          "SELECT c.id, 'not_required', '批量核定' FROM pipeline_conflict c "
                          "WHERE c.closed_at IS NULL ON CONFLICT (conflict_id) "
                          "DO UPDATE SET status = 'not_required', reason = '批量核定'"))
    assert {v[-1] for k, v in _check(engine).items() if k != ids["MS-AWAY"]} == {6}

    # A deleted project.
    r = api.delete(f"/api/projects/{ids['MS-TRUNK']}", headers=office)
    assert r.status_code in (200, 204), r.text
    _check(engine)


def test_the_permits_map_reads_the_stored_state(api, login, stored_network):
    office = login("gas_office")
    r = api.post("/api/projects", json=site_feature("MS-MAP", 121.40, 31.6299), headers=office)
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    r = api.get("/maps/data/projects", params={"bbox": "121.37,31.62,121.43,31.65", "zoom": 15,
                                               "view": "permits"}, headers=office)
    assert r.status_code == 200, r.text
    [feature] = r.json()["features"]
    assert feature["properties"]["state"] == "not_started" and feature["properties"]["alert"] is True
    _move(api, office, _permits(api, office, project_id)[0]["id"], "applied")
    r = api.get("/maps/data/projects", params={"bbox": "121.37,31.62,121.43,31.65", "zoom": 15,
                                               "view": "permits"}, headers=office)
    assert r.json()["features"][0]["properties"]["state"] == "applied"


def test_two_transactions_writing_one_project_at_once_store_both_changes(api, login, stored_network):
    """Each transaction's trigger locks the project's row before counting with a fresh
    snapshot, so the second one waits for the first and counts its change too."""
    import threading

    engine = stored_network
    office = login("gas_office")
    r = api.post("/api/projects", json=site_feature("MS-RACE", 121.40, 31.6297, size_deg=0.0104),
                 headers=office)
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    with engine.begin() as conn:
        conflicts = conn.execute(text("SELECT id FROM pipeline_conflict WHERE project_id = :p "
                                      "AND closed_at IS NULL ORDER BY id"), {"p": project_id}).scalars().all()
        assert len(conflicts) == 2
        conn.execute(text("INSERT INTO permit (conflict_id) SELECT unnest(CAST(:c AS bigint[])) "
                          "ON CONFLICT (conflict_id) DO NOTHING"),
                     {"c": conflicts})
    first, second = engine.connect(), engine.connect()
    try:
        t1, t2 = first.begin(), second.begin()
        first.execute(text("UPDATE permit SET status = 'applied' WHERE conflict_id = :c"),
                      {"c": conflicts[0]})
        done = threading.Event()

        def other() -> None:
            second.execute(text("UPDATE permit SET status = 'applied' WHERE conflict_id = :c"),
                           {"c": conflicts[1]})
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(1.0)  # it waits for the first transaction's lock on the project
        t1.commit()
        thread.join(30)
        assert done.is_set()
        t2.commit()
    finally:
        first.close()
        second.close()
    states = _check(engine)
    assert states[project_id][COLUMNS.index("permits_applied")] == 2 and states[project_id][-1] == 4
