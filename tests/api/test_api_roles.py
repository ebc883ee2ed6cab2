"""The whole role matrix: every endpoint, every role, the expected status; denials write nothing.

One world (users, pipelines, projects, conflicts, alerts, permits) is built once for the
module through the real API, because building it per case would take a minute. Each
allowed write works on its own target (its own project to delete, its own alert to
acknowledge), so the cases do not depend on their order.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.services.users import create_user
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"
ORG_A, ORG_B = "甲建设集团", "乙市政公司"
ROLES = {  # matrix name -> (role, organisation)
    "gas_office": ("gas_office", None),
    "builder": ("builder", ORG_A),
    "builder_other": ("builder", ORG_B),
    "inspector": ("inspector", None),
    "admin": ("admin", None),
    "utility": ("utility", "甲燃气公司"),  # owner of HP-T1 (RA-1, RO-1, RO-2 lie on it)
}
OWNERS = {"HP-T1": "甲燃气公司", "MP-T1": "乙燃气公司"}
# Tables a denied request must leave untouched (no logins happen during the matrix).
WATCHED = ("construction_project", "gas_pipeline", "pipeline_conflict", "permit", "permit_event",
           "alert", "outbox_message", "audit_log", "idempotency_record", "app_user", "api_token",
           "answer_letter", "owner_review", "notification", "violation", "procedure_document",
           "supervision_visit", "start_notice", "damage_report", "organisation")
# Users the admin manages in the matrix; none of them ever logs in, so no case depends on
# another's token.
TARGETS = {"rm-target": ("inspector", None), "rm-target-b": ("builder", ORG_B)}
MISSING_USER = 2**31 - 1


def pipe_feature(code, lat, **props):
    properties = {"id": code, "pressure_class": "medium_a", "design_pressure_mpa": 0.3,
                  "outer_diameter_mm": 160, **props}
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "LineString", "coordinates": [[121.38, lat], [121.42, lat]]}}


# HP_T2 and AHP-T1 lie near A's site: a code with a LIKE wildcard, and a code that
# contains "HP-T1" and sorts before it (both once hid a near pipe from its builder).
PIPES = [("HP-T1", "high_b", 2.0, 508, 31.63), ("MP-T1", "medium_a", 0.3, 160, 31.64),
         ("FAR-T1", "medium_a", 0.3, 160, 31.66), ("DEL-T1", "medium_a", 0.3, 160, 31.67),
         ("HP_T2", "medium_a", 0.3, 160, 31.6296), ("AHP-T1", "medium_a", 0.3, 160, 31.6295)]
# Sites: A's on the high-pressure trunk HP-T1 (lat 31.63), B's on MP-T1 (lat 31.64), the
# office's on HP-T1; the *-DEL sites and new sites lie 1 km from every pipe (lat 31.65).
SITES = {
    "RA-1": ("builder", site_feature("RA-1", 121.400, 31.6299)),
    "RB-1": ("builder_other", site_feature("RB-1", 121.400, 31.6399)),
    "RO-1": ("gas_office", site_feature("RO-1", 121.405, 31.6299)),
    "RO-2": ("gas_office", site_feature("RO-2", 121.410, 31.6299)),
    "RA-DEL": ("builder", site_feature("RA-DEL", 121.400, 31.6500)),
    "RO-DEL": ("gas_office", site_feature("RO-DEL", 121.405, 31.6500)),
}


@pytest.fixture(scope="module")
def world(database_url):
    """Build the shared world; empty every table afterwards."""
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) VALUES " + ", ".join(
                f"('{code}', '{cls}', {mpa}, {od}, "
                + (f"'{OWNERS[code]}'" if code in OWNERS else "NULL") + ", ST_GeomFromText("
                f"'MULTILINESTRING((121.38 {lat}, 121.42 {lat}))', 4490))"
                for code, cls, mpa, od, lat in PIPES)
        ))
    app = create_app(Settings(_env_file=None), database_url=database_url)
    try:
        with TestClient(app) as client:
            headers = {"anonymous": {}, "bad_token": {"Authorization": "Bearer not-a-real-token"}}
            for name, (role, org) in ROLES.items():
                with session_factory(engine).begin() as session:
                    create_user(session, f"rm-{name}", PASSWORD, role, org)
                form = {"username": f"rm-{name}", "password": PASSWORD}
                r = client.post("/api/auth/token", data=form)
                assert r.status_code == 200, r.text
                headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            with session_factory(engine).begin() as session:
                for name, (role, org) in TARGETS.items():
                    create_user(session, name, PASSWORD, role, org)
            ids = {"user:missing": MISSING_USER}
            for code, (owner, feature) in SITES.items():
                r = client.post("/api/projects", json=feature, headers=headers[owner])
                assert r.status_code == 201, r.text
                ids[code] = r.json()["id"]
            with engine.connect() as conn:
                ids.update(conn.execute(text(
                    "SELECT external_code, id FROM gas_pipeline")).all())
                ids.update(conn.execute(text(
                    "SELECT 'user:' || username, id FROM app_user")).all())
                for code, permit_id, alert_id, conflict_id in conn.execute(text(
                        "SELECT p.registration_code, pm.id, a.id, c.id FROM construction_project p "
                        "JOIN pipeline_conflict c ON c.project_id = p.id "
                        "JOIN gas_pipeline g ON g.id = c.pipeline_id AND g.external_code IN "
                        "('HP-T1', 'MP-T1') JOIN permit pm ON pm.conflict_id = c.id "
                        "JOIN alert a ON a.conflict_id = c.id")):
                    ids[f"permit:{code}"], ids[f"alert:{code}"] = permit_id, alert_id
                    ids[f"conflict:{code}"] = conflict_id
            assert {"permit:RA-1", "permit:RB-1", "permit:RO-1", "alert:RO-2"} <= set(ids)
            yield {"client": client, "headers": headers, "ids": ids, "engine": engine,
                   "codes": itertools.count(1)}
    finally:
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')")).scalars().all()
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        engine.dispose()


def _fingerprint(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(text(
            "SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
            f"FROM {t} x"
        )).one() for t in WATCHED}


def _body(kind: str | None, world, role: str):
    n = next(world["codes"])
    if kind == "new_project":
        return site_feature(f"RN-{role}-{n}", 121.39 + n * 0.0005, 31.6505)
    if kind == "new_pipeline":
        return pipe_feature(f"NEW-{role}-{n}", 31.68 + n * 0.0005)
    if kind == "project_ra":
        return SITES["RA-1"][1]
    if kind == "project_rb":
        return SITES["RB-1"][1]
    if kind == "pipeline_hp":
        return pipe_feature("HP-T1", 31.63, pressure_class="high_b", design_pressure_mpa=2.0,
                            outer_diameter_mm=508)
    if kind == "note":
        return {"note": "现场已核实"}
    if kind == "apply":
        return {"to_status": "applied", "reference": f"申-{n}"}
    if kind == "approve":
        return {"to_status": "approved", "approved_until": "2099-12-31"}
    if kind == "new_user":
        return {"username": f"rm-new-{role}-{n}", "password": PASSWORD, "role": "inspector"}
    if kind == "new_builder":
        return {"username": f"rm-newb-{role}-{n}", "password": PASSWORD, "role": "builder",
                "organisation": ORG_A}
    if kind == "user_org":
        return {"organisation": f"丙单位{n}"}
    if kind == "reply":
        return ("form", {"decision": "no_objection", "note": "同意施工"})
    if kind == "start":
        from layers.services.permits import local_today
        from layers.services.workdays import add_working_days

        return {"planned_start": add_working_days(local_today(), 5).isoformat()}
    if kind == "new_password":
        return {"password": f"{PASSWORD}-{n}"}
    if kind == "deactivate":
        return {"active": False}
    if kind == "demote":
        return {"role": "inspector"}
    return None


EVERYONE = ("gas_office", "builder", "builder_other", "inspector", "admin", "utility")
NO_AUTH = ("anonymous", "bad_token")


def _all(method, path, status_by_role: dict, body=None):
    """Expand one endpoint into rows; roles not named get the 'default' status."""
    rows = []
    for role in EVERYONE + NO_AUTH:
        status = status_by_role.get(role, 401 if role in NO_AUTH else status_by_role.get("default"))
        rows.append((role, method, path, body, status))
    return rows


# (role, method, path, body kind, expected status). {name} is replaced by the world's id.
MATRIX = [
    # Projects: builders write their own only; the inspector reads; the admin nothing.
    *_all("POST", "/api/projects", {"gas_office": 201, "builder": 201, "builder_other": 201,
                                    "default": 403}, "new_project"),
    *_all("GET", "/api/projects", {"admin": 403, "default": 200}),
    *_all("GET", "/api/projects/{RB-1}", {"builder": 404, "admin": 403, "utility": 404, "default": 200}),
    *_all("GET", "/api/projects/{RA-1}", {"builder_other": 404, "admin": 403, "default": 200}),
    *_all("PUT", "/api/projects/{RB-1}", {"gas_office": 200, "builder_other": 200,
                                         "builder": 404, "default": 403}, "project_rb"),
    ("builder", "PUT", "/api/projects/{RA-1}", "project_ra", 200),
    ("builder_other", "PUT", "/api/projects/{RA-1}", "project_ra", 404),
    ("builder", "DELETE", "/api/projects/{RA-DEL}", None, 204),
    ("gas_office", "DELETE", "/api/projects/{RO-DEL}", None, 204),
    *_all("DELETE", "/api/projects/{RA-1}", {"builder_other": 404, "default": 403,
                                            "gas_office": None, "builder": None}),
    # Pipelines (critical infrastructure, need-to-know): only the gas office writes;
    # builders see pipes near their own sites; the admin sees none.
    *_all("POST", "/api/pipelines", {"gas_office": 201, "default": 403}, "new_pipeline"),
    *_all("GET", "/api/pipelines", {"admin": 403, "default": 200}),
    *_all("GET", "/api/pipelines/{HP-T1}", {"builder_other": 404, "admin": 403, "default": 200}),
    *_all("GET", "/api/pipelines/{MP-T1}", {"builder": 404, "admin": 403, "utility": 404, "default": 200}),
    *_all("GET", "/api/pipelines/{HP_T2}", {"builder_other": 404, "admin": 403, "utility": 404,
                                            "default": 200}),
    *_all("GET", "/api/pipelines/{FAR-T1}",
          {"builder": 404, "builder_other": 404, "admin": 403, "utility": 404, "default": 200}),
    *_all("PUT", "/api/pipelines/{HP-T1}", {"gas_office": 200, "default": 403}, "pipeline_hp"),
    ("gas_office", "DELETE", "/api/pipelines/{DEL-T1}", None, 204),
    *_all("DELETE", "/api/pipelines/{HP-T1}", {"default": 403, "gas_office": None}),
    # Conflicts: everyone but the admin reads (builders their own).
    *_all("GET", "/api/conflicts", {"admin": 403, "default": 200}),
    # Alerts: the gas office's inbox only.
    *_all("GET", "/api/alerts", {"gas_office": 200, "default": 403}),
    ("gas_office", "POST", "/api/alerts/{alert:RO-1}/acknowledge", "note", 200),
    ("gas_office", "POST", "/api/alerts/{alert:RO-2}/resolve", "note", 200),
    *_all("POST", "/api/alerts/{alert:RA-1}/acknowledge", {"default": 403, "gas_office": None},
          "note"),
    *_all("POST", "/api/alerts/{alert:RA-1}/resolve", {"default": 403, "gas_office": None},
          "note"),
    # Permits: office all, builders apply for their own, inspector reads, admin nothing.
    *_all("GET", "/api/permits", {"admin": 403, "default": 200}),
    *_all("GET", "/api/permits/{permit:RB-1}", {"admin": 403, "builder": 404, "utility": 404,
                                               "default": 200}),
    *_all("GET", "/api/permits/{permit:RA-1}",
          {"admin": 403, "builder_other": 404, "default": 200}),
    ("gas_office", "POST", "/api/permits/{permit:RO-1}/transitions", "apply", 200),
    ("builder", "POST", "/api/permits/{permit:RA-1}/transitions", "apply", 200),
    *_all("POST", "/api/permits/{permit:RB-1}/transitions",
          {"builder": 404, "default": 403, "gas_office": None, "builder_other": None}, "apply"),
    *_all("POST", "/api/permits/{permit:RO-2}/transitions",
          {"default": 403, "gas_office": None}, "approve"),
    ("builder_other", "POST", "/api/permits/{permit:RA-1}/transitions", "apply", 404),
    # Users: the admin only, and never against itself.
    *_all("POST", "/api/users", {"admin": 201, "default": 403}, "new_user"),
    *_all("POST", "/api/users", {"admin": 201, "default": 403}, "new_builder"),
    *_all("GET", "/api/users", {"admin": 200, "default": 403}),
    *_all("GET", "/api/users/{user:rm-builder}", {"admin": 200, "default": 403}),
    *_all("GET", "/api/users/{user:missing}", {"admin": 404, "default": 403}),
    *_all("PATCH", "/api/users/{user:rm-target}", {"admin": 200, "default": 403}, "user_org"),
    *_all("PATCH", "/api/users/{user:rm-target-b}", {"admin": 200, "default": 403}, "user_org"),
    *_all("PATCH", "/api/users/{user:missing}", {"admin": 404, "default": 403}, "user_org"),
    *_all("PATCH", "/api/users/{user:rm-admin}", {"admin": 409, "default": 403}, "deactivate"),
    *_all("PATCH", "/api/users/{user:rm-admin}", {"admin": 409, "default": 403}, "demote"),
    *_all("POST", "/api/users/{user:rm-target}/password", {"admin": 200, "default": 403},
          "new_password"),
    *_all("POST", "/api/users/{user:missing}/password", {"admin": 404, "default": 403},
          "new_password"),
    # Answer letters: the builder's own and the office's; owners and the admin get none.
    *_all("GET", "/api/projects/{RA-1}/answer", {"builder_other": 404, "admin": 403, "utility": 403,
                                                 "default": 200}),
    *_all("GET", "/api/projects/{RA-1}/answer.html", {"builder_other": 404, "admin": 403,
                                                      "utility": 403, "default": 200}),
    *_all("POST", "/api/projects/{RA-1}/answer/renew", {"gas_office": 201, "builder": 201,
                                                        "builder_other": 404, "default": 403}),
    # Owner reviews: the owner replies on its own pipeline only.
    *_all("GET", "/api/conflicts/{conflict:RA-1}/owner-review", {"builder_other": 404, "admin": 403,
                                                                 "default": 200}),
    *_all("GET", "/api/conflicts/{conflict:RB-1}/owner-review", {"builder": 404, "utility": 404,
                                                                 "admin": 403, "default": 200}),
    *_all("POST", "/api/conflicts/{conflict:RO-1}/owner-reply", {"utility": 200, "default": 403},
          "reply"),
    *_all("POST", "/api/conflicts/{conflict:RB-1}/owner-reply", {"utility": 404, "default": 403},
          "reply"),
    *_all("GET", "/api/owner-reviews", {"admin": 403, "default": 200}),
    *_all("GET", "/api/violations", {"admin": 403, "default": 200}),
    *_all("GET", "/api/damage-reports", {"admin": 403, "default": 200}),
    *_all("GET", "/api/supervision-visits", {"admin": 403, "default": 200}),
    *_all("POST", "/api/projects/{RA-1}/start-notice", {"gas_office": 201, "builder": 201,
                                                        "builder_other": 404, "default": 403}, "start"),
    *_all("GET", "/api/organisations", {"gas_office": 200, "default": 403}),
    *_all("GET", "/api/notifications", {"default": 200}),
    # Who am I: everyone with a valid token.
    *_all("GET", "/api/auth/me", {"default": 200}),
]
MATRIX = [row for row in MATRIX if row[4] is not None]


def _path(template: str, ids: dict) -> str:
    out = template
    for key, value in ids.items():
        out = out.replace(f"{{{key}}}", str(value))
    assert "{" not in out, out
    return out


@pytest.mark.parametrize(
    "role, method, path, body, expected", MATRIX,
    ids=[f"{r}-{m}-{p}-{s}" for r, m, p, _b, s in MATRIX],
)
def test_role_matrix(world, role, method, path, body, expected):
    url = _path(path, world["ids"])
    before = _fingerprint(world["engine"]) if expected >= 400 else None
    payload = _body(body, world, role)
    if isinstance(payload, tuple):  # a form (multipart endpoints)
        r = world["client"].request(method, url, data=payload[1], headers=world["headers"][role])
    else:
        r = world["client"].request(method, url, json=payload, headers=world["headers"][role])
    assert r.status_code == expected, r.text
    if expected >= 400:
        assert r.json()["detail"], r.text  # a Chinese message, never a traceback
    if expected == 403 and role in ROLES:
        assert role.split("_other")[0] in r.json()["detail"], r.text  # names the role
        assert _fingerprint(world["engine"]) == before, "a refused request changed the database"
    if expected == 401:
        assert r.headers.get("WWW-Authenticate") == "Bearer"


def _codes(world, role, path, key):
    r = world["client"].get(path, headers=world["headers"][role], params={"limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()


def test_builders_see_only_pipelines_near_their_own_sites(world):
    codes = {role: {f["properties"]["external_code"] for f in
                    _codes(world, role, "/api/pipelines", "features")["features"]}
             for role in ("builder", "builder_other", "inspector")}
    assert "HP-T1" in codes["builder"] and "MP-T1" not in codes["builder"]
    assert "FAR-T1" not in codes["builder"] and {"HP_T2", "AHP-T1"} <= codes["builder"]
    assert "MP-T1" in codes["builder_other"] and "HP-T1" not in codes["builder_other"]
    assert "FAR-T1" not in codes["builder_other"]
    assert {"HP-T1", "MP-T1", "FAR-T1"} <= codes["inspector"]


def test_builders_list_only_their_own_projects_conflicts_and_permits(world):
    projects = {f["properties"]["registration_code"]
                for f in _codes(world, "builder", "/api/projects", "features")["features"]}
    assert "RA-1" in projects and not projects & {"RB-1", "RO-1"}
    conflicts = _codes(world, "builder", "/api/conflicts", "conflicts")["conflicts"]
    assert {c["project_code"] for c in conflicts} == {"RA-1"}
    permits = _codes(world, "builder_other", "/api/permits", "permits")["permits"]
    assert {p["project_code"] for p in permits} == {"RB-1"}
    office = _codes(world, "gas_office", "/api/permits", "permits")["permits"]
    assert {"RA-1", "RB-1", "RO-1", "RO-2"} <= {p["project_code"] for p in office}
