"""``/api/users`` on the real database: the admin manages users, tokens die with the change.

The role matrix (who may call what) is in ``tests/api/test_api_roles.py``; here: the rules of
each operation, revocation of tokens, the last active admin, the audit log, and no
password hash in any answer.
"""

from __future__ import annotations

import threading
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import text

from gisapp.api.app import create_app
from gisapp.settings import Settings
from layers.db import session_factory
from layers.services.errors import ConflictStateError, PermissionDeniedError
from layers.services.users import add_user, create_user, issue_token, update_user

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"


@pytest.fixture()
def admin(api, db_engine):
    """Headers and id of an admin created by the CLI's service function."""
    with session_factory(db_engine).begin() as session:
        user = create_user(session, "root-admin", PASSWORD, "admin")
    return {"headers": _login(api, "root-admin", PASSWORD), "id": user.id}


def _login(api, username, password) -> dict:
    r = api.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _new_user(api, admin, username, role="inspector", organisation=None) -> tuple[int, dict]:
    if role in ("gas_office", "admin"):  # through the API this needs a second admin
        with api.app.state.sessions.begin() as session:
            user = create_user(session, username, PASSWORD, role, organisation)
        return user.id, _login(api, username, PASSWORD)
    body = {"username": username, "password": PASSWORD, "role": role}
    if organisation is not None:
        body["organisation"] = organisation
    r = api.post("/api/users", json=body, headers=admin["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"], _login(api, username, PASSWORD)


def _no_secret(response, *secrets) -> None:
    body = response.text
    for secret in ("password_hash", "$argon2", *secrets):
        assert secret not in body, body


def test_create_read_list_never_show_a_hash(api, admin):
    r = api.post("/api/users", json={"username": "张工.builder", "password": PASSWORD,
                                     "role": "builder", "organisation": "甲建设集团"},
                 headers=admin["headers"])
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in ("username", "role", "organisation", "active")} == {
        "username": "张工.builder", "role": "builder", "organisation": "甲建设集团", "active": True}
    assert created["role_zh"] == "建设单位"
    me = api.get("/api/auth/me", headers=_login(api, "张工.builder", PASSWORD)).json()
    assert me == {"username": "张工.builder", "role": "builder", "organisation": "甲建设集团",
                  "district": None}
    responses = [r, api.get(f"/api/users/{created['id']}", headers=admin["headers"]),
                 api.get("/api/users", headers=admin["headers"])]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        _no_secret(response, PASSWORD)
    assert {u["username"] for u in responses[2].json()["users"]} == {"root-admin", "张工.builder"}


@pytest.mark.parametrize("body, status, words", [
    ({"username": "u1", "password": "short", "role": "inspector"}, 422,
     ["字段 password", "10–256"]),
    ({"username": "u1", "password": "x" * 257, "role": "inspector"}, 422, ["字段 password"]),
    ({"username": "u1", "password": PASSWORD, "role": "builder"}, 422,
     ["字段 organisation", "建设单位"]),
    ({"username": "u1", "password": PASSWORD, "role": "builder", "organisation": "  "}, 422,
     ["字段 organisation"]),
    ({"username": "u1", "password": PASSWORD, "role": "boss"}, 422, ["字段 role", "boss"]),
    ({"username": "root-admin", "password": PASSWORD, "role": "inspector"}, 409, ["已存在"]),
    ({"username": "a", "password": PASSWORD, "role": "inspector"}, 422, ["字段 username"]),
    ({"username": "x" * 65, "password": PASSWORD, "role": "inspector"}, 422, ["字段 username"]),
    ({"username": "x" * 300, "password": PASSWORD, "role": "inspector"}, 422, ["username"]),
    ({"username": "has space", "password": PASSWORD, "role": "inspector"}, 422,
     ["字段 username"]),
    ({"username": "drop';--", "password": PASSWORD, "role": "inspector"}, 422,
     ["字段 username"]),
    ({"username": "u1", "password": PASSWORD, "role": "builder", "organisation": "甲\x00乙"}, 422,
     ["organisation"]),
    ({"username": "u1", "password": PASSWORD, "role": "builder", "organisation": "\u202e甲"}, 422,
     ["organisation"]),
    ({"username": "u1", "password": PASSWORD, "role": "builder", "organisation": "甲" * 201},
     422, ["organisation"]),
    ({"username": "u1", "password": PASSWORD, "role": "inspector", "is_superuser": True}, 422,
     ["is_superuser"]),
    ({"username": "u1", "password": 12345678901, "role": "inspector"}, 422, ["password"]),
    ({"username": "u1", "role": "inspector"}, 422, ["password"]),
])
def test_create_refuses_bad_input_naming_the_field(api, admin, db_engine, body, status, words):
    r = api.post("/api/users", json=body, headers=admin["headers"])
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["detail"], r.text
    _no_secret(r, "short", "x" * 257, PASSWORD)  # a refused password is never echoed
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user")).scalar() == 1


def test_list_filters_and_pages(api, admin):
    for i in range(5):
        _new_user(api, admin, f"insp-{i}")
    _new_user(api, admin, "bld-1", "builder", "甲建设集团")
    api.patch("/api/users/{}".format(_id(api, admin, "insp-0")), json={"active": False},
              headers=admin["headers"])
    page = api.get("/api/users", params={"role": "inspector", "limit": 2},
                   headers=admin["headers"]).json()
    assert (page["numberMatched"], page["numberReturned"]) == (5, 2)
    assert [u["username"] for u in page["users"]] == ["insp-0", "insp-1"]
    nxt = page["links"][0]["href"]
    assert "offset=2" in nxt
    last = api.get("/api/users", params={"role": "inspector", "limit": 2, "offset": 4},
                   headers=admin["headers"]).json()
    assert [u["username"] for u in last["users"]] == ["insp-4"] and last["links"] == []
    inactive = api.get("/api/users", params={"active": "false"}, headers=admin["headers"]).json()
    assert [u["username"] for u in inactive["users"]] == ["insp-0"]
    builders = api.get("/api/users", params={"role": "builder", "active": "true"},
                       headers=admin["headers"]).json()
    assert [u["username"] for u in builders["users"]] == ["bld-1"]
    for params, field in (({"role": "boss"}, "role"), ({"active": "maybe"}, "active"),
                          ({"limit": 0}, "limit"), ({"offset": -1}, "offset")):
        r = api.get("/api/users", params=params, headers=admin["headers"])
        assert r.status_code == 422 and field in r.json()["detail"], r.text


def _id(api, admin, username) -> int:
    users = api.get("/api/users", params={"limit": 1000}, headers=admin["headers"]).json()["users"]
    return next(u["id"] for u in users if u["username"] == username)


@pytest.mark.parametrize("change", [
    {"active": False},
    {"role": "inspector"},
    {"organisation": "乙市政公司"},
])
def test_a_change_revokes_the_users_tokens_at_once(api, admin, change):
    user_id, old = _new_user(api, admin, "bld-x", "builder", "甲建设集团")
    second = _login(api, "bld-x", PASSWORD)
    assert api.get("/api/projects", headers=old).status_code == 200
    r = api.patch(f"/api/users/{user_id}", json=change, headers=admin["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["tokens_revoked"] == 2
    for headers in (old, second):
        stale = api.get("/api/projects", headers=headers)
        assert stale.status_code == 401 and stale.headers["WWW-Authenticate"] == "Bearer"
    relogin = api.post("/api/auth/token", data={"username": "bld-x", "password": PASSWORD})
    assert relogin.status_code == (401 if change.get("active") is False else 200), relogin.text
    if change.get("active") is False:  # reactivated: a new login works, the old token stays dead
        back = api.patch(f"/api/users/{user_id}", json={"active": True}, headers=admin["headers"])
        assert back.status_code == 200 and back.json()["tokens_revoked"] == 0, back.text
        assert api.get("/api/projects", headers=old).status_code == 401
        assert api.get("/api/projects", headers=_login(api, "bld-x", PASSWORD)).status_code == 200


def test_a_change_to_nothing_revokes_nothing(api, admin):
    user_id, token = _new_user(api, admin, "insp-same")
    r = api.patch(f"/api/users/{user_id}", json={"role": "inspector", "active": True},
                  headers=admin["headers"])
    assert r.status_code == 200 and r.json()["tokens_revoked"] == 0, r.text
    assert api.get("/api/auth/me", headers=token).status_code == 200


def test_new_password_revokes_tokens_and_replaces_the_old_one(api, admin, db_engine):
    user_id, old = _new_user(api, admin, "insp-pw")
    r = api.post(f"/api/users/{user_id}/password", json={"password": "a-new-long-secret"},
                 headers=admin["headers"])
    assert r.status_code == 200 and r.json()["tokens_revoked"] == 1, r.text
    _no_secret(r, "a-new-long-secret")
    assert api.get("/api/auth/me", headers=old).status_code == 401
    assert api.post("/api/auth/token",
                    data={"username": "insp-pw", "password": PASSWORD}).status_code == 401
    assert api.get("/api/auth/me", headers=_login(api, "insp-pw", "a-new-long-secret")).status_code == 200
    for body, field in (({"password": "short"}, "字段 password"), ({}, "password"),
                        ({"password": "a-new-long-secret", "role": "admin"}, "role")):
        bad = api.post(f"/api/users/{user_id}/password", json=body, headers=admin["headers"])
        assert bad.status_code == 422 and field in bad.json()["detail"], bad.text
    with db_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM app_user WHERE id = :i"),
                              {"i": user_id}).scalar_one()
    assert stored.startswith("$argon2id$") and "a-new-long-secret" not in stored


def test_an_admin_can_change_its_own_password_and_must_log_in_again(api, admin):
    r = api.post(f"/api/users/{admin['id']}/password", json={"password": "another-root-secret"},
                 headers=admin["headers"])
    assert r.status_code == 200, r.text
    assert api.get("/api/users", headers=admin["headers"]).status_code == 401
    assert api.get("/api/users", headers=_login(api, "root-admin", "another-root-secret")).status_code == 200


@pytest.mark.parametrize("change", [{"active": False}, {"role": "gas_office"},
                                    {"role": "inspector", "active": False}])
def test_an_admin_cannot_deactivate_or_demote_itself(api, admin, db_engine, change):
    _new_user(api, admin, "second-admin", "admin")  # even with another admin left
    r = api.patch(f"/api/users/{admin['id']}", json=change, headers=admin["headers"])
    assert r.status_code == 409 and "自己" in r.json()["detail"], r.text
    with db_engine.connect() as conn:
        row = conn.execute(text("SELECT role, active FROM app_user WHERE id = :i"),
                           {"i": admin["id"]}).one()
        audits = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'user.update'"))
    assert tuple(row) == ("admin", True) and audits.scalar() == 0
    assert api.get("/api/users", headers=admin["headers"]).status_code == 200


def test_another_admin_can_be_demoted_and_then_the_last_one_stays(api, admin):
    other_id, other = _new_user(api, admin, "second-admin", "admin")
    r = api.patch(f"/api/users/{other_id}", json={"role": "inspector"}, headers=admin["headers"])
    assert r.status_code == 200, r.text
    assert api.get("/api/users", headers=other).status_code == 401
    demoted = _login(api, "second-admin", PASSWORD)
    assert api.get("/api/users", headers=demoted).status_code == 403
    # A deactivated admin counts for nothing, and may be demoted freely; making it an
    # admin again waits for a second admin (layers.services.user_requests).
    third_id, _ = _new_user(api, admin, "third-admin", "admin")
    for change in ({"active": False}, {"role": "inspector"}):
        r = api.patch(f"/api/users/{third_id}", json=change, headers=admin["headers"])
        assert r.status_code == 200, r.text
    r = api.patch(f"/api/users/{third_id}", json={"role": "admin", "active": True},
                  headers=admin["headers"])
    assert r.status_code == 202 and "另一名管理员" in r.json()["detail"], r.text


def test_two_admins_deactivating_each_other_at_once_leave_one(db_engine, clean_db):
    """The second change waits for the first, then finds its actor no longer an admin."""
    sessions = session_factory(db_engine)
    with sessions.begin() as session:
        a = create_user(session, "admin-a", PASSWORD, "admin")
        b = create_user(session, "admin-b", PASSWORD, "admin")
    outcome = {}

    def second() -> None:
        with sessions() as session:
            try:
                update_user(session, b, a.id, {"active": False})
                session.commit()
                outcome["result"] = "changed"
            except (ConflictStateError, PermissionDeniedError) as exc:
                session.rollback()
                outcome["result"] = exc

    first = sessions()
    thread = threading.Thread(target=second)
    try:
        update_user(first, a, b.id, {"active": False})  # holds the admin locks, not committed
        thread.start()
        deadline = time.monotonic() + 60
        with db_engine.connect() as conn:  # wait until the second is blocked on the lock
            while not conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%FOR UPDATE%'")).scalar():
                conn.rollback()  # pg_stat_activity is a snapshot for the whole transaction
                assert thread.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
        first.commit()
    finally:
        first.close()  # never leave the locks held: the teardown would wait for them
        if thread.ident:
            thread.join(30)
    assert isinstance(outcome["result"], PermissionDeniedError), outcome
    with db_engine.connect() as conn:
        active = conn.execute(text(
            "SELECT username FROM app_user WHERE role = 'admin' AND active")).scalars().all()
    assert active == ["admin-a"]


def test_two_creations_of_one_username_at_once_give_409_not_500(db_engine, clean_db):
    """The second passes the existence check, then waits on the unique key, then conflicts."""
    sessions = session_factory(db_engine)
    with sessions.begin() as session:
        root = create_user(session, "root-admin", PASSWORD, "admin")
    outcome = {}

    def second() -> None:
        with sessions() as session:
            try:
                add_user(session, root, "twin", PASSWORD, "inspector")
                session.commit()
                outcome["result"] = "created"
            except ConflictStateError as exc:
                outcome["result"] = exc

    first = sessions()
    thread = threading.Thread(target=second)
    try:
        add_user(first, root, "twin", PASSWORD, "inspector")
        thread.start()
        deadline = time.monotonic() + 60
        with db_engine.connect() as conn:
            while not conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'INSERT INTO app_user%'")).scalar():
                conn.rollback()  # pg_stat_activity is a snapshot for the whole transaction
                assert thread.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
        first.commit()
    finally:
        first.close()
        if thread.ident:
            thread.join(30)
    assert isinstance(outcome["result"], ConflictStateError), outcome
    assert "已存在" in str(outcome["result"])


def test_an_actor_no_longer_an_active_admin_changes_nobody(db_engine, clean_db):
    """Checked under the admin locks, not only from the token at the start of the request."""
    sessions = session_factory(db_engine)
    with sessions.begin() as session:
        a = create_user(session, "admin-a", PASSWORD, "admin")
        b = create_user(session, "admin-b", PASSWORD, "admin")
        update_user(session, a, b.id, {"active": False})
    with sessions() as session, pytest.raises(PermissionDeniedError):
        update_user(session, b, a.id, {"active": False})  # b's request began before


@pytest.mark.parametrize("body, field", [
    ({}, "role、organisation、district、active"),
    ({"role": None}, "role"),
    ({"active": None}, "active"),
    ({"active": "perhaps"}, "active"),
    ({"role": "boss"}, "字段 role"),
    ({"organisation": None}, "字段 organisation"),
    ({"role": "builder", "organisation": ""}, "字段 organisation"),
    ({"password": PASSWORD}, "password"),
    ({"username": "renamed"}, "username"),
    ({"organisation": "x" * 201}, "organisation"),
])
def test_patch_refuses_bad_input_naming_the_field(api, admin, db_engine, body, field):
    user_id, token = _new_user(api, admin, "bld-p", "builder", "甲建设集团")
    r = api.patch(f"/api/users/{user_id}", json=body, headers=admin["headers"])
    assert r.status_code == 422 and field in r.json()["detail"], r.text
    assert api.get("/api/auth/me", headers=token).status_code == 200  # nothing revoked
    with db_engine.connect() as conn:
        row = conn.execute(text("SELECT role, organisation, active FROM app_user WHERE id = :i"),
                           {"i": user_id}).one()
    assert tuple(row) == ("builder", "甲建设集团", True)


def test_unknown_and_out_of_range_ids(api, admin):
    for r in (api.get("/api/users/999999", headers=admin["headers"]),
              api.patch("/api/users/999999", json={"active": False}, headers=admin["headers"]),
              api.post("/api/users/999999/password", json={"password": PASSWORD},
                       headers=admin["headers"])):
        assert r.status_code == 404 and "999999" in r.json()["detail"], r.text
    for bad in ("0", "2147483648", "abc"):
        r = api.get(f"/api/users/{bad}", headers=admin["headers"])
        assert r.status_code == 422 and "user_id" in r.json()["detail"], r.text


def test_every_write_is_audited_without_the_password(api, admin, db_engine):
    user_id, _ = _new_user(api, admin, "insp-audit")
    api.patch(f"/api/users/{user_id}", json={"role": "builder", "organisation": "甲建设集团"},
              headers=admin["headers"])
    api.post(f"/api/users/{user_id}/password", json={"password": "audited-new-secret"},
             headers=admin["headers"])
    api.patch(f"/api/users/{user_id}", json={"active": False}, headers=admin["headers"])
    with db_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT user_id, username, action, entity, entity_id, detail FROM audit_log "
            "ORDER BY id")).mappings().all()
        dump = conn.execute(text("SELECT string_agg(a::text, '|') FROM audit_log a")).scalar()
    assert [r["action"] for r in rows] == ["user.create", "user.update", "user.password",
                                           "user.update"]
    assert all((r["user_id"], r["username"], r["entity"], r["entity_id"])
               == (admin["id"], "root-admin", "app_user", str(user_id)) for r in rows)
    assert rows[0]["detail"] == {"username": "insp-audit", "role": "inspector",
                                 "organisation": None, "district": None, "via": "api"}
    assert rows[1]["detail"]["changes"] == {"role": ["inspector", "builder"],
                                            "organisation": [None, "甲建设集团"]}
    assert rows[1]["detail"]["tokens_revoked"] == 1
    assert rows[2]["detail"] == {"username": "insp-audit", "tokens_revoked": 0}
    assert rows[3]["detail"]["changes"] == {"active": [True, False]}
    for secret in (PASSWORD, "audited-new-secret", "argon2"):
        assert secret not in dump


def test_a_refused_write_writes_nothing(api, admin, db_engine, login):
    def snapshot():
        with db_engine.connect() as conn:
            return [conn.execute(text(f"SELECT count(*), md5(string_agg(x::text, '|' ORDER BY "
                                      f"x::text)) FROM {t} x")).one()
                    for t in ("app_user", "api_token", "audit_log")]

    office = login("gas_office")
    before = snapshot()
    for call in (lambda: api.post("/api/users", json={"username": "evil", "password": PASSWORD,
                                                      "role": "admin"}, headers=office),
                 lambda: api.patch(f"/api/users/{admin['id']}", json={"active": False},
                                   headers=office),
                 lambda: api.post(f"/api/users/{admin['id']}/password",
                                  json={"password": PASSWORD}, headers=office)):
        r = call()
        assert r.status_code == 403 and "gas_office" in r.json()["detail"], r.text
    assert snapshot() == before


# --- Fuzzing the user operations as the admin: never a 500 -------------------------------

schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(_env_file=None), database_url="postgresql://schema@/none")
).include(path_regex=r"^/api/users")


@pytest.fixture(scope="module")
def users_app(database_url):
    """The app on the test database, for schemathesis."""
    return create_app(Settings(_env_file=None), database_url=database_url)


@pytest.fixture(scope="module")
def fuzz_admin(db_engine):
    """An admin and one other user; each case gets a fresh admin token (a case may revoke it)."""
    sessions = session_factory(db_engine)
    with sessions.begin() as session:
        user = create_user(session, "fuzz-admin", PASSWORD, "admin")
        create_user(session, "fuzz-builder", PASSWORD, "builder", "甲建设集团")
    yield lambda: _token(sessions, user)
    with db_engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')")).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


def _token(sessions, user) -> str:
    with sessions.begin() as session:
        return issue_token(session, user, 5)[0]


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_user_operations_never_answer_500(case, users_app, fuzz_admin):
    headers = {"Authorization": f"Bearer {fuzz_admin()}"}
    if case.headers and "Authorization" in case.headers:
        headers = {}
    response = case.call_and_validate(app=users_app, headers=headers, checks=[not_a_server_error])
    assert "password_hash" not in response.text and "$argon2" not in response.text
