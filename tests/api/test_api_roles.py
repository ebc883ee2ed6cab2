"""The whole role matrix: every endpoint, every role, the expected status; denials write nothing.

Two matrices: the hand-written one below (what each role sees, case by case) and one
generated from the permission table (``layers.services.permissions``): for every route and
every role, a grant of the route's actions must answer, a missing grant must refuse (403)
and a grant whose scope does not reach the target must answer "not found" (404). A test
holds the two together, and another checks that every route of the app is in the
generated one, so a new route or a new grant cannot go unchecked.

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
         ("HP_T2", "medium_a", 0.3, 160, 31.6296), ("AHP-T1", "medium_a", 0.3, 160, 31.6295),
         ("FRESH-T1", "medium_a", 0.3, 160, 31.69)]
# The generated matrix's fresh sites (each its own conflict, permit and alert) lie on
# FRESH-T1, far from every other pipe, so they change nobody's view of the others.
FRESH_LAT = 31.6899
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
        return site_feature(f"RN-{role}-{n}", 121.39 + (n % 60) * 0.0005, 31.6505)
    if kind == "new_pipeline":  # lat 31.68-31.687: clear of every site
        return pipe_feature(f"NEW-{role}-{n}", 31.68 + (n % 15) * 0.0005)
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
        from layers.services.workdays import add_working_days
        from vocabulary import today_in_shanghai

        return {"planned_start": add_working_days(today_in_shanghai(), 5).isoformat()}
    if kind == "new_password":
        return {"password": f"{PASSWORD}-{n}"}
    if kind == "deactivate":
        return {"active": False}
    if kind == "new_token":
        return {"name": f"QGIS {role} {n}"}
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
    # 409: the grant answers, the procedure refuses (RA-1's permit is not approved).
    *_all("POST", "/api/projects/{RA-1}/start-notice", {"gas_office": 409, "builder": 409,
                                                        "builder_other": 404, "default": 403}, "start"),
    *_all("GET", "/api/organisations", {"inspector": 403, "default": 200}),
    *_all("GET", "/api/notifications", {"default": 200}),
    # Who am I: everyone with a valid token.
    *_all("GET", "/api/auth/me", {"default": 200}),
    # Personal access tokens for desktop GIS: every role, pipeline owners included.
    *_all("GET", "/api/auth/personal-tokens", {"default": 200}),
    *_all("POST", "/api/auth/personal-tokens", {"default": 201}, "new_token"),
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


# --- Generated from the permission table -------------------------------------------------

from layers.services.actors import Actor  # noqa: E402
from layers.services.errors import PermissionDeniedError  # noqa: E402
from layers.services.permissions import ROLES as TABLE  # noqa: E402
from layers.services.permissions import Scope, authorize, scope_of  # noqa: E402

ORGS = {"gas_office": None, "builder": ORG_A, "builder_other": ORG_B, "inspector": None,
        "admin": None, "utility": OWNERS["HP-T1"]}
# The pipeline each project target lies on (a project target names its organisation, and
# each organisation has one such target: RA-1, RB-1, RO-1), for the owners' scope.
PIPE_OF_PROJECT = {ORG_A: "HP-T1", ORG_B: "MP-T1", None: "HP-T1"}
# Which organisations' sites each pipeline can reach (the builders' "near own sites").
NEAR = {"HP-T1": {ORG_A}, "HP_T2": {ORG_A}, "AHP-T1": {ORG_A}, "MP-T1": {ORG_B},
        "FAR-T1": set(), "FRESH-T1": {ORG_A, ORG_B}}


def _actor(identity: str) -> Actor:
    role, org = ROLES[identity]
    return Actor(None, f"rm-{identity}", role, org)


def _reaches(identity: str, scope: Scope, target) -> bool:
    """Whether a grant of ``scope`` reaches ``target`` (None: a list, always answered)."""
    if target is None or scope is Scope.ALL:
        return True
    kind, value = target
    if scope is Scope.OWN_PIPELINES:
        pipe = PIPE_OF_PROJECT[value] if kind == "project" else value
        return OWNERS.get(pipe) == ORGS[identity]
    if kind == "project":
        return scope is Scope.OWN_PROJECTS and value == ORGS[identity]
    if kind == "pipeline":
        return scope is Scope.NEAR_OWN_SITES and ORGS[identity] in NEAR[value]
    return False


# (method, path, actions all needed, body kind, status of a grant, target, shared).
# Targets: ("project", owner organisation), ("pipeline", code), "fresh" (a new site of the
# identity's own, made for the row: its project, permit and alert), "fresh_applied" (the
# same with its permit applied for), None (a list or a create). ``shared``: a write to a
# target other rows use, so only its refusals are generated (its grants are by fresh rows).
ROUTES = [
    ("GET", "/api/auth/me", ("account.read",), None, 200, None, False),
    ("POST", "/api/projects", ("project.write",), "new_project", 201, None, False),
    ("GET", "/api/projects", ("project.read",), None, 200, None, False),
    ("GET", "/api/projects/{RA-1}", ("project.read",), None, 200, ("project", ORG_A), False),
    ("GET", "/api/projects/{RB-1}", ("project.read",), None, 200, ("project", ORG_B), False),
    ("GET", "/api/projects/{RO-1}", ("project.read",), None, 200, ("project", None), False),
    ("PUT", "/api/projects/{RA-1}", ("project.write",), "project_ra", 200, ("project", ORG_A),
     False),
    ("PUT", "/api/projects/{RB-1}", ("project.write",), "project_rb", 200, ("project", ORG_B),
     False),
    ("DELETE", "/api/projects/{RA-1}", ("project.write",), None, 204, ("project", ORG_A), True),
    ("DELETE", "/api/projects/{fresh}", ("project.write",), None, 204, "fresh", False),
    ("POST", "/api/pipelines", ("pipeline.write",), "new_pipeline", 201, None, False),
    ("GET", "/api/pipelines", ("pipeline.read",), None, 200, None, False),
    *[("GET", f"/api/pipelines/{{{code}}}", ("pipeline.read",), None, 200, ("pipeline", code),
       False) for code in ("HP-T1", "MP-T1", "HP_T2", "FAR-T1")],
    ("PUT", "/api/pipelines/{HP-T1}", ("pipeline.write",), "pipeline_hp", 200,
     ("pipeline", "HP-T1"), False),
    ("DELETE", "/api/pipelines/{HP-T1}", ("pipeline.write",), None, 204, ("pipeline", "HP-T1"),
     True),
    ("GET", "/api/conflicts", ("conflict.read",), None, 200, None, False),
    ("GET", "/api/alerts", ("alert.read",), None, 200, None, False),
    ("POST", "/api/alerts/{alert:fresh}/acknowledge", ("alert.change",), "note", 200, "fresh",
     False),
    ("POST", "/api/alerts/{alert:fresh}/resolve", ("alert.change",), "note", 200, "fresh", False),
    ("GET", "/api/permits", ("permit.read",), None, 200, None, False),
    ("GET", "/api/permits/{permit:RA-1}", ("permit.read",), None, 200, ("project", ORG_A), False),
    ("GET", "/api/permits/{permit:RB-1}", ("permit.read",), None, 200, ("project", ORG_B), False),
    ("POST", "/api/permits/{permit:fresh}/transitions", ("permit.read", "permit.to.applied"),
     "apply", 200, "fresh", False),
    ("POST", "/api/permits/{permit:fresh}/transitions", ("permit.read", "permit.to.approved"),
     "approve", 200, "fresh_applied", False),
    ("POST", "/api/permits/{permit:RB-1}/transitions", ("permit.read", "permit.to.applied"),
     "apply", 200, ("project", ORG_B), True),
    ("POST", "/api/projects/{fresh}/inspections", ("inspection.read", "inspection.record.self"),
     "self_check", 201, "fresh", False),
    ("POST", "/api/projects/{fresh}/inspections", ("inspection.read", "inspection.record.spot"),
     "spot_check", 201, "fresh", False),
    ("GET", "/api/projects/{RA-1}/inspections", ("inspection.read",), None, 200,
     ("project", ORG_A), False),
    ("GET", "/api/campaign/status", ("campaign.status",), None, 200, None, False),
    ("GET", "/api/rules", ("rules.read",), None, 200, None, False),
    ("GET", "/maps/data/summary", ("map.read",), None, 200, None, False),
    ("GET", "/maps/data/search", ("map.read",), None, 200, None, False),
    # The protection procedure (issue #14).
    *[("GET", f"/api/projects/{{{code}}}/{what}", ("answer.read",), None, 200, ("project", org),
       False) for code, org in (("RA-1", ORG_A), ("RB-1", ORG_B))
      for what in ("answer", "answer.html", "answers")],
    ("POST", "/api/projects/{fresh}/answer/renew", ("answer.renew",), None, 201, "fresh", False),
    *[("GET", f"/api/conflicts/{{conflict:{code}}}/owner-review", ("review.read",), None, 200,
       ("project", org), False) for code, org in (("RA-1", ORG_A), ("RB-1", ORG_B))],
    ("POST", "/api/conflicts/{conflict:RB-1}/owner-reply", ("review.reply",), "reply", 200,
     ("project", ORG_B), True),
    ("GET", "/api/owner-reviews", ("review.read",), None, 200, None, False),
    ("GET", "/api/violations", ("violation.read",), None, 200, None, False),
    ("GET", "/api/damage-reports", ("damage.read",), None, 200, None, False),
    ("GET", "/api/supervision-visits", ("supervision.read",), None, 200, None, False),
    ("POST", "/api/projects/{RA-1}/start-notice", ("start_notice.submit",), "start", 409,
     ("project", ORG_A), False),
    ("POST", "/api/projects/{RB-1}/start-notice", ("start_notice.submit",), "start", 409,
     ("project", ORG_B), False),
    ("GET", "/api/notifications", ("notification.read",), None, 200, None, False),
    ("GET", "/api/auth/personal-tokens", ("account.token",), None, 200, None, False),
    ("POST", "/api/auth/personal-tokens", ("account.token",), "new_token", 201, None, False),
    # OGC API – Features: one feature of each scoped collection, through the same scopes
    # (a pipeline owner reads its own pipelines, their bands, conflicts and projects).
    *[("GET", f"/ogc/collections/{collection}/items/{{{code}}}", ("pipeline.read",), None, 200,
       ("pipeline", code), False) for collection in ("pipelines", "protection_bands", "control_bands")
      for code in ("HP-T1", "MP-T1", "FAR-T1")],
    *[("GET", f"/ogc/collections/projects/items/{{{code}}}", ("project.read",), None, 200,
       ("project", org), False) for code, org in (("RA-1", ORG_A), ("RB-1", ORG_B))],
    *[("GET", f"/ogc/collections/conflicts/items/{{conflict:{code}}}", ("conflict.read",), None, 200,
       ("project", org), False) for code, org in (("RA-1", ORG_A), ("RB-1", ORG_B))],
    ("GET", "/api/organisations", ("organisation.read",), None, 200, None, False),
    # The workbench's project page: the procedure per permit, start notices (gisapp.web).
    *[("GET", f"/api/workbench/projects/{{{code}}}/procedure", ("permit.read",), None, 200,
       ("project", org), False) for code, org in (("RA-1", ORG_A), ("RB-1", ORG_B))],
    ("POST", "/api/users", ("user.manage",), "new_user", 201, None, False),
    ("GET", "/api/users", ("user.manage",), None, 200, None, False),
    ("GET", "/api/users/{user:rm-builder}", ("user.manage",), None, 200, None, False),
    ("PATCH", "/api/users/{user:rm-target}", ("user.manage",), "user_org", 200, None, False),
    ("POST", "/api/users/{user:rm-target}/password", ("user.manage",), "new_password", 200, None,
     False),
]


def expected_status(identity: str, actions, target) -> int:
    """The status the table implies: 403 without every grant, 404 out of scope, else None."""
    actor = _actor(identity)
    scopes = [scope_of(actor, action) for action in actions]
    if any(scope is None for scope in scopes):
        return 403
    if target in ("fresh", "fresh_applied"):
        return 0  # the identity's own new site: always in reach
    if not all(_reaches(identity, scope, target) for scope in scopes):
        return 404
    return 0


def _generate() -> list[tuple]:
    rows = []
    for method, path, actions, body, ok, target, shared in ROUTES:
        for identity in EVERYONE:
            status = expected_status(identity, actions, target) or ok
            if not (shared and status == ok):
                rows.append((identity, method, path, body, status, target))
    return rows


GENERATED = _generate()


def _fresh(world, identity: str, applied: bool) -> dict:
    """Make a site of ``identity``'s own on FRESH-T1; return the ids of its project, permit, alert."""
    client, headers = world["client"], world["headers"]
    n = next(world["codes"])
    # Builders register their own sites; everyone else's fresh site is the gas office's.
    owner = identity if ROLES[identity][0] == "builder" else "gas_office"
    # Along FRESH-T1 (121.38-121.42 E), one site every 40 m.
    feature = site_feature(f"RF-{identity}-{n}", 121.381 + (n % 90) * 0.0004, FRESH_LAT)
    r = client.post("/api/projects", json=feature, headers=headers[owner])
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    with world["engine"].connect() as conn:
        permit_id, alert_id = conn.execute(text(
            "SELECT pm.id, a.id FROM pipeline_conflict c JOIN permit pm ON pm.conflict_id = c.id "
            "JOIN alert a ON a.conflict_id = c.id WHERE c.project_id = :p"), {"p": project_id}).one()
    if applied:
        r = client.post(f"/api/permits/{permit_id}/transitions", json={"to_status": "applied"},
                        headers=headers["gas_office"])
        assert r.status_code == 200, r.text
    return {"fresh": project_id, "permit:fresh": permit_id, "alert:fresh": alert_id}


def _generated_body(kind, world, identity):
    if kind == "self_check":
        return {"kind": "self", "round_or_stage": 1, "inspected_on": "2026-05-20"}
    if kind == "spot_check":
        return {"kind": "spot", "round_or_stage": 1, "inspected_on": "2026-06-15"}
    return _body(kind, world, identity)


@pytest.mark.parametrize(
    "identity, method, path, body, expected, target", GENERATED,
    ids=[f"{i}-{m}-{p}-{s}" for i, m, p, _b, s, _t in GENERATED],
)
def test_generated_role_matrix(world, identity, method, path, body, expected, target):
    ids = dict(world["ids"])
    if target in ("fresh", "fresh_applied"):
        ids.update(_fresh(world, identity, applied=target == "fresh_applied"))
    url = _path(path, ids)
    before = _fingerprint(world["engine"]) if expected >= 400 else None
    payload = _generated_body(body, world, identity)
    params = {"date": "2026-06-01"} if path == "/api/campaign/status" else None
    if isinstance(payload, tuple):  # a form (multipart endpoints)
        r = world["client"].request(method, url, data=payload[1], params=params,
                                    headers=world["headers"][identity])
    else:
        r = world["client"].request(method, url, json=payload, params=params,
                                    headers=world["headers"][identity])
    assert r.status_code == expected, r.text
    if expected >= 400:
        assert r.json()["detail"], r.text
        assert _fingerprint(world["engine"]) == before, "a refused request changed the database"
    if expected == 403:
        assert ROLES[identity][0] in r.json()["detail"], r.text  # names the role


def test_the_generated_matrix_agrees_with_the_written_one():
    written = {(role, method, path, body): status for role, method, path, body, status in MATRIX}
    generated = {(i, m, p, b): s for i, m, p, b, s, _t in GENERATED}
    shared = set(written) & set(generated)
    assert len(shared) > 40
    assert {k: written[k] for k in shared} == {k: generated[k] for k in shared}


def test_every_route_of_the_app_is_in_the_generated_matrix_or_public():
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    public = {"/api/auth/token", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
              "/static/{path:path}", "/maps/", "/maps/permits", "/maps/supervision",
              "/maps/inspections", "/maps/basemap/{z}/{x}/{y}", "/ogc", "/ogc/conformance",
              "/ogc/openapi",
              "/api/answers/{number}/verify"}  # public by design: number and code only (D-b)
    app = create_app(Settings(_env_file=None))
    routes = {(method, route.path) for route in app.routes
              for method in getattr(route, "methods", None) or ()} | {
        (method, r.path) for inc in app.routes if hasattr(inc, "original_router")
        for r in inc.original_router.routes for method in r.methods}
    covered = {(m, _shape(p)) for m, p, *_ in ROUTES}
    missing = sorted((m, p) for m, p in routes
                     if p not in public and m not in ("HEAD", "OPTIONS")
                     and (m, _shape(p)) not in covered and not _extra_covered(m, p))
    assert missing == []


def _shape(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", "{}", path)


# Routes the generated matrix reaches through another path of the same action.
EXTRA_ACTIONS = {
    ("GET", "/api/alerts/stream"): "alert.read",
    ("POST", "/api/projects/import"): "project.import",
    ("POST", "/api/pipelines/import"): "pipeline.import",
    ("GET", "/api/inspections/{}"): "inspection.read",
    ("POST", "/api/hazards/{}/rectification"): "inspection.read",
    ("POST", "/api/inspections/{}/evidence"): "evidence.upload",
    ("GET", "/api/evidence/{}"): "evidence.read",
    ("GET", "/api/campaign/status.xlsx"): "campaign.status",
    ("GET", "/api/reports/{}"): "report.read",
    ("GET", "/api/rules/impact"): "rules.read",
    ("DELETE", "/api/pipelines/{}"): "pipeline.write",
    ("GET", "/api/projects/{}/answer.pdf"): "answer.read",
    ("POST", "/api/notifications/read"): "notification.read",
    ("GET", "/api/documents/{}"): "document.read",
    ("POST", "/api/permits/{}/documents"): "plan.upload",
    ("POST", "/api/permits/{}/owner-decision"): "plan.decide",
    ("POST", "/api/conflicts/{}/supervision-visits"): "supervision.manage",
    ("POST", "/api/supervision-visits/{}/record"): "supervision.manage",
    ("GET", "/api/supervision-visits/{}"): "supervision.read",
    ("POST", "/api/damage-reports"): "damage.report",
    ("GET", "/api/damage-reports/{}"): "damage.read",
    ("POST", "/api/damage-reports/{}/acknowledge"): "damage.acknowledge",
    ("GET", "/api/organisations/{}"): "organisation.read",
    ("PUT", "/api/organisations/{}"): "organisation.write",
    ("DELETE", "/api/auth/personal-tokens/{}"): "account.token",
    ("POST", "/api/auth/password"): "account.password",
    ("POST", "/api/auth/logout"): "account.read",
    ("GET", "/api/reviews"): "project.review",
    ("GET", "/api/projects/{}/review"): "project.read",
    ("POST", "/api/projects/{}/review"): "project.review",
    ("GET", "/api/users/requests"): "user.manage",
    ("POST", "/api/users/requests/{}/confirm"): "user.manage",
    ("POST", "/api/users/requests/{}/cancel"): "user.manage",
    # The workbench's endpoints (gisapp.web.api).
    ("POST", "/api/projects/preview"): "project.write",
    ("POST", "/api/projects/preview/file"): "project.write",
    ("GET", "/api/workbench/townships"): "account.read",
    ("GET", "/api/workbench/my-projects"): "project.read",
    ("GET", "/api/workbench/office-summary"): "alert.read",
    ("GET", "/api/workbench/projects/{}"): "project.read",
    ("GET", "/api/workbench/inspections/today"): "campaign.status",
    ("POST", "/api/workbench/projects/{}/inspections"): "inspection.read",
    ("GET", "/api/workbench/projects/{}/inspections"): "inspection.read",
    ("GET", "/api/workbench/lists/{}"): "conflict.read",
    ("GET", "/api/workbench/lists/{}/export.{}"): "conflict.read",
    ("GET", "/api/workbench/campaign/plans"): "campaign.status",
    ("POST", "/api/workbench/campaign/plans"): "campaign.plan",
    # The pipeline owner's pages (gisapp.web.owner_pages): its own pipelines' conflicts.
    ("GET", "/api/workbench/owner/conflicts"): "conflict.read",
    ("GET", "/api/workbench/owner/conflicts/{}"): "conflict.read",
}
# The workbench's HTML pages carry no data (it comes through the API routes above); each
# page asks the permission table itself (tests/web checks who reaches which page).
WORKBENCH_PAGES = ("/assets/", "/login", "/logout", "/account/", "/builder/", "/office/",
                   "/inspector/", "/admin/", "/owner/")


def _extra_covered(method: str, path: str) -> bool:
    if path.startswith("/maps/data/"):
        return True  # every map data endpoint takes the same ``map.read`` grant
    if path.startswith("/ogc/collections"):
        return True  # each collection's grant, role by role: tests/api/test_ogc.py
    if path == "/" or path.startswith(WORKBENCH_PAGES):
        return True
    return (method, _shape(path)) in EXTRA_ACTIONS


@pytest.mark.parametrize(("method", "path"), sorted(EXTRA_ACTIONS))
def test_routes_outside_the_generated_matrix_still_refuse_what_the_table_does_not_grant(
        world, method, path):
    action = EXTRA_ACTIONS[(method, path)]
    url = path.replace("{}", "2026-11" if "reports" in path else "1")
    if "/lists/" in path:
        url = path.replace("{}", "conflicts", 1).replace("{}", "csv")
    for identity in EVERYONE:
        if scope_of(_actor(identity), action) is not None:
            continue
        before = _fingerprint(world["engine"])
        r = world["client"].request(method, url, headers=world["headers"][identity])
        assert r.status_code == 403, (identity, url, r.text)
        assert ROLES[identity][0] in r.json()["detail"]
        assert _fingerprint(world["engine"]) == before


def test_a_role_the_table_does_not_know_is_refused_everything():
    from layers.services.permissions import ACTIONS

    stranger = Actor(7, "pipeline-co", "surveyor", "崇明测绘")
    assert "surveyor" not in TABLE
    for action in ACTIONS:
        with pytest.raises(PermissionDeniedError):
            authorize(stranger, action)


def test_a_scoped_grant_without_an_organisation_is_refused():
    orphan = Actor(8, "no-org", "builder", None)
    with pytest.raises(PermissionDeniedError):
        authorize(orphan, "project.read")
    assert authorize(orphan, "account.read").scope is Scope.ALL
