"""The browser session: login at /, the HttpOnly SameSite cookie, CSRF, logout, own password."""

from __future__ import annotations

import pytest

from layers.db import session_factory
from layers.services.users import create_user
from tests.factories import site_feature

pytestmark = pytest.mark.postgis
PASSWORD = "correct-horse-battery"


def _user(db_engine, name: str, role: str, organisation: str | None = None) -> str:
    with session_factory(db_engine).begin() as session:
        create_user(session, name, PASSWORD, role, organisation)
    return name


def _login(api, name: str, password: str = PASSWORD, next_url: str = ""):
    return api.post("/login", data={"username": name, "password": password, "next": next_url},
                    follow_redirects=False)


def test_each_role_lands_on_its_own_start_page(api, db_engine):
    homes = {"builder": "/builder/", "gas_office": "/office/", "inspector": "/inspector/",
             "admin": "/admin/users", "utility": "/owner/"}
    organisations = {"builder": "甲建设公司", "utility": "上海天然气管网有限公司"}
    for role, home in homes.items():
        name = _user(db_engine, f"u-{role}", role, organisations.get(role))
        api.cookies.clear()
        answer = _login(api, name)
        assert answer.status_code == 303 and answer.headers["location"] == home
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("gisapp_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        csrf = next(c for c in cookies if c.startswith("gisapp_csrf="))
        assert "HttpOnly" not in csrf
        assert api.get("/", follow_redirects=False).headers["location"] == home


def test_wrong_password_stays_on_the_form_with_a_message(api, db_engine):
    _user(db_engine, "someone", "gas_office")
    answer = _login(api, "someone", "wrong-password-123")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.text
    assert "gisapp_session" not in answer.headers.get("set-cookie", "")


def test_pages_need_a_session_and_the_right_role(api, db_engine):
    first = api.get("/office/alerts", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/?next=/office/alerts"
    _user(db_engine, "b1", "builder", "甲建设公司")
    answer = _login(api, "b1", next_url="/office/alerts")
    page = api.get(answer.headers["location"])
    assert page.status_code == 403 and "无权打开此页面" in page.text
    # An off-site next is never followed.
    api.cookies.clear()
    assert _login(api, "b1", next_url="//evil.example/x").headers["location"] == "/builder/"


def test_cookie_writes_need_the_csrf_header_and_bearer_tokens_still_work(api, db_engine, stored_network):
    _user(db_engine, "b2", "builder", "甲建设公司")
    _login(api, "b2")
    feature = site_feature("CSRF-1", 121.40, 31.6302)
    refused = api.post("/api/projects", json=feature)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert api.get("/api/workbench/my-projects").json() == {"projects": []}  # nothing stored
    csrf = api.cookies.get("gisapp_csrf")
    assert api.post("/api/projects", json=feature, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    created = api.post("/api/projects", json=feature, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    # A bearer token needs no CSRF header and is not confused by a stale cookie.
    token = api.post("/api/auth/token", data={"username": "b2", "password": PASSWORD}).json()["access_token"]
    api.cookies.clear()
    listed = api.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
    assert [f["properties"]["registration_code"] for f in listed.json()["features"]] == ["CSRF-1"]


def test_logout_revokes_the_token(api, db_engine):
    _user(db_engine, "o1", "gas_office")
    _login(api, "o1")
    token, csrf = api.cookies.get("gisapp_session"), api.cookies.get("gisapp_csrf")
    assert api.get("/api/auth/me").status_code == 200
    assert api.post("/logout", data={"csrf_token": "bad"}, follow_redirects=False).status_code == 403
    out = api.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_change_own_password(api, db_engine):
    _user(db_engine, "o2", "gas_office")
    _login(api, "o2")
    other = api.post("/api/auth/token", data={"username": "o2", "password": PASSWORD}).json()["access_token"]
    csrf = api.cookies.get("gisapp_csrf")
    wrong = api.post("/account/password", data={"csrf_token": csrf, "current_password": "nope-nope-nope",
                                                 "new_password": "new-password-long", "confirm_password":
                                                 "new-password-long"})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    mismatch = api.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": "new-password-long",
                                                    "confirm_password": "other-password-x"})
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.text
    done = api.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                "new_password": "new-password-long",
                                                "confirm_password": "new-password-long"})
    assert done.status_code == 200 and "密码已修改" in done.text
    assert api.get("/api/auth/me").status_code == 200  # this browser stays logged in
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    api.cookies.clear()
    assert _login(api, "o2", "new-password-long").status_code == 303


def test_wrong_current_passwords_on_the_page_are_throttled_like_logins(api, db_engine):
    _user(db_engine, "o3", "gas_office")
    _login(api, "o3")
    csrf = api.cookies.get("gisapp_csrf")

    def change(current: str):
        return api.post("/account/password", data={"csrf_token": csrf, "current_password": current,
                                                    "new_password": "new-password-long",
                                                    "confirm_password": "new-password-long"})

    for i in range(5):
        wrong = change(f"not-it-{i}-at-all")
        assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    throttled = change(PASSWORD)
    assert throttled.status_code == 429 and "账号 o3 登录失败次数过多" in throttled.text
    assert int(throttled.headers["Retry-After"]) >= 1
    api.cookies.clear()
    assert "登录失败次数过多" in _login(api, "o3").text
