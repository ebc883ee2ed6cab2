"""Item 8 of issue 12: a privileged account is opened only with a second admin's confirmation."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from layers.services.users import create_user

pytestmark = pytest.mark.postgis
PASSWORD = "correct-horse-battery"


def _login(api, username, password=PASSWORD) -> dict:
    r = api.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture()
def admins(api):
    """Two admins (made as ``gisapp user create`` would) and their headers."""
    with api.app.state.sessions.begin() as session:
        first = create_user(session, "admin-a", PASSWORD, "admin")
        second = create_user(session, "admin-b", PASSWORD, "admin")
        office = create_user(session, "office-x", PASSWORD, "gas_office")
        builder = create_user(session, "builder-x", PASSWORD, "builder", "甲公司")
    return {"a": _login(api, "admin-a"), "b": _login(api, "admin-b"), "ids": {
        "a": first.id, "b": second.id, "office": office.id, "builder": builder.id}}


def test_a_gas_office_account_needs_a_second_admin(api, admins, db_engine):
    body = {"username": "office-new", "password": "brand-new-secret", "role": "gas_office"}
    r = api.post("/api/users", json=body, headers=admins["a"])
    assert r.status_code == 202 and "另一名管理员" in r.json()["detail"], r.text
    assert "brand-new-secret" not in r.text and "$argon2" not in r.text
    request_id = r.json()["pending_request"]["id"]
    # Not usable yet, and the proposer cannot confirm its own request.
    assert api.post("/api/auth/token", data={"username": "office-new",
                                             "password": "brand-new-secret"}).status_code == 401
    mine = api.post(f"/api/users/requests/{request_id}/confirm", headers=admins["a"])
    assert mine.status_code == 403 and "另一名管理员" in mine.json()["detail"]
    listed = api.get("/api/users/requests", headers=admins["b"]).json()["requests"]
    assert [x["id"] for x in listed] == [request_id] and listed[0]["changes"]["role"] == "gas_office"
    done = api.post(f"/api/users/requests/{request_id}/confirm", headers=admins["b"])
    assert done.status_code == 200, done.text
    assert done.json()["user"]["role"] == "gas_office"
    assert api.get("/api/projects", headers=_login(api, "office-new", "brand-new-secret")).status_code == 200
    again = api.post(f"/api/users/requests/{request_id}/confirm", headers=admins["b"])
    assert again.status_code == 409
    with db_engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log WHERE action LIKE 'user.%' AND entity IN "
                                    "('app_user', 'user_change_request') ORDER BY id")).scalars().all()
    assert actions[-3:] == ["user.request", "user.create", "user.request_confirm"]


def test_resetting_a_gas_office_password_needs_a_second_admin(api, admins):
    office = _login(api, "office-x")
    target = admins["ids"]["office"]
    r = api.post(f"/api/users/{target}/password", json={"password": "taken-over-secret"},
                 headers=admins["a"])
    assert r.status_code == 202, r.text
    # Nothing changed yet: the owner's token and password still work.
    assert api.get("/api/auth/me", headers=office).status_code == 200
    assert api.post("/api/auth/token", data={"username": "office-x",
                                             "password": "taken-over-secret"}).status_code == 401
    request_id = r.json()["pending_request"]["id"]
    cancelled = api.post(f"/api/users/requests/{request_id}/cancel", headers=admins["a"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert api.post(f"/api/users/requests/{request_id}/confirm", headers=admins["b"]).status_code == 409
    # Confirmed by the other admin, it applies and revokes the owner's tokens.
    r = api.post(f"/api/users/{target}/password", json={"password": "taken-over-secret"},
                 headers=admins["a"])
    applied = api.post(f"/api/users/requests/{r.json()['pending_request']['id']}/confirm",
                       headers=admins["b"])
    assert applied.status_code == 200 and applied.json()["user"]["tokens_revoked"] == 1
    assert api.get("/api/auth/me", headers=office).status_code == 401


def test_promotion_needs_a_second_admin_but_removing_access_does_not(api, admins):
    builder = admins["ids"]["builder"]
    r = api.patch(f"/api/users/{builder}", json={"role": "gas_office"}, headers=admins["a"])
    assert r.status_code == 202
    assert api.get(f"/api/users/{builder}", headers=admins["a"]).json()["role"] == "builder"
    office = admins["ids"]["office"]
    off = api.patch(f"/api/users/{office}", json={"active": False}, headers=admins["a"])
    assert off.status_code == 200 and off.json()["active"] is False
    back = api.patch(f"/api/users/{office}", json={"active": True}, headers=admins["a"])
    assert back.status_code == 202  # re-opening a privileged account: second admin
    # Builders and inspectors are managed at once, as before.
    r = api.post("/api/users", json={"username": "insp-1", "password": PASSWORD, "role": "inspector"},
                 headers=admins["a"])
    assert r.status_code == 201
