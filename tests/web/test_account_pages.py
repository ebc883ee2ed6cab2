"""Pages about one's own account and organisation, and the second admin's confirmation, in
headless Chromium by role and label: a personal access token made on the page opens /ogc
for plain HTTP clients (Basic as QGIS sends it, Bearer as GDAL does) until it is revoked;
a gas office account requested by one admin is confirmed by another, never by itself; a
builder edits its own organisation, and a bad robot address is refused next to its field."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.users import create_user
from tests.web.conftest import (
    BUILDER_ORG,
    PASSWORD,
    USERS,
    assert_field_clear,
    assert_field_error,
    field_state,
)

pytestmark = pytest.mark.postgis


def _state(engine, request_id: int) -> str:
    return _scalar(engine, "SELECT state FROM user_change_request WHERE id = :i", i=request_id)


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one_or_none()


def _request_account(visitor, username: str, password: str, role: str):
    """Log in as the admin and ask for an account the second admin must confirm; return the page."""
    visitor.login("admin")
    page = visitor.page
    page.get_by_label("用户名").fill(username)
    page.get_by_label("初始密码").fill(password)
    page.get_by_label("角色").select_option(value=role)
    page.get_by_role("button", name="创建用户").click()
    page.get_by_text("待确认请求").wait_for()
    return page


def test_a_personal_token_made_on_the_page_opens_ogc_until_it_is_revoked(visit, server, db_engine):
    v = visit()
    v.login("builder")
    page = v.page
    page.get_by_role("link", name="个人访问令牌").click()
    page.wait_for_url("**/account/tokens")
    page.get_by_text("暂无记录。").wait_for()
    v.check("account-tokens-empty")

    # An empty name is refused next to the field (WB.fieldError: marked, described by the
    # message besides its hint, focused), nothing is created; typing a name clears it.
    page.get_by_role("button", name="新建令牌").click()
    state = assert_field_error(page, "token-name", "请填写令牌名称")
    assert page.locator("#token-name-error").inner_text() == "请填写令牌名称"
    assert "token-name-hint" in state["described"]
    page.get_by_label("令牌名称").fill("QGIS 办公室电脑")
    assert_field_clear(page, "token-name")
    assert field_state(page, "token-name")["described"] == ["token-name-hint"]
    page.get_by_label("有效期").select_option(label="30 天")
    page.get_by_role("button", name="新建令牌").click()
    shown = page.get_by_label("令牌", exact=True)
    page.wait_for_function("() => document.getElementById('new-token-value').value.startsWith('gpat_')")
    token = shown.input_value()
    assert "/ogc" in page.get_by_role("region", name="新令牌（只显示这一次）").inner_text()
    page.get_by_role("button", name="复制令牌").click()
    page.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    row = page.get_by_role("row").filter(has_text="QGIS 办公室电脑")
    assert "有效" in row.inner_text()
    assert "从未使用" in row.inner_text()
    v.check("account-tokens-created")

    # The token on its own, as QGIS (Basic: user name and token) and GDAL (Bearer) send it.
    username = USERS["builder"][0]
    basic = httpx.get(f"{server}/ogc/collections", auth=(username, token))
    bearer = httpx.get(f"{server}/ogc/collections", headers={"Authorization": f"Bearer {token}"})
    assert basic.status_code == 200, basic.text
    assert bearer.status_code == 200, bearer.text
    assert basic.json()["collections"] and basic.json() == bearer.json()

    # A reload never shows the token again; it shows when the token was last used
    # (Beijing time, to the minute).
    page.reload()
    page.get_by_role("row").filter(has_text="QGIS 办公室电脑").wait_for()
    assert token not in page.content()
    used = _scalar(db_engine, "SELECT last_used_at FROM personal_access_token WHERE name = :n",
                   n="QGIS 办公室电脑")
    row_text = page.get_by_role("row").filter(has_text="QGIS 办公室电脑").inner_text()
    assert "从未使用" not in row_text
    assert (used + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in row_text

    # Revoking asks first (by keyboard: Enter opens, focus on 取消, Escape returns to the
    # button); 取消 leaves it working, 确认吊销 ends it at once.
    page.get_by_role("button", name="吊销 QGIS 办公室电脑").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="吊销令牌")
    dialog.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "revoke-cancel"
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.activeElement.textContent === '吊销 QGIS 办公室电脑'")
    page.get_by_role("button", name="吊销 QGIS 办公室电脑").click()
    dialog.get_by_role("button", name="取消").click()
    assert httpx.get(f"{server}/ogc/collections", auth=(username, token)).status_code == 200
    page.get_by_role("button", name="吊销 QGIS 办公室电脑").click()
    dialog.get_by_role("button", name="确认吊销").click()
    page.get_by_text("已吊销令牌 QGIS 办公室电脑。").wait_for()
    assert "已吊销" in page.get_by_role("row").filter(has_text="QGIS 办公室电脑").inner_text()
    assert page.get_by_role("button", name="吊销 QGIS 办公室电脑").count() == 0
    assert httpx.get(f"{server}/ogc/collections", auth=(username, token)).status_code == 401
    assert httpx.get(f"{server}/ogc/collections",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_servers_refusals_on_the_token_page_sit_next_to_their_fields(visit, server, db_engine):
    """WB.placeErrors: the service's "字段 name：" and "字段 expires_days：" go to 令牌名称 and 有效期."""
    v = visit()
    v.login("inspector")
    page = v.page
    page.goto(f"{server}/account/tokens")
    page.get_by_role("heading", name="我的令牌").wait_for()
    # A name longer than the service takes (set as a script would, past the input's maxlength).
    page.evaluate("() => { document.getElementById('token-name').value = 'Q'.repeat(65); }")
    page.get_by_role("button", name="新建令牌").click()
    name_error = page.locator("#token-name-error")
    name_error.filter(has_text="1–64 个可见字符").wait_for()
    assert not name_error.inner_text().startswith("字段")
    assert page.get_by_label("令牌名称").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "token-name"
    # A validity the service refuses lands under 有效期, not under the name.
    page.get_by_label("令牌名称").fill("GDAL 脚本")
    page.evaluate("() => { const s = document.getElementById('token-days');"
                  " s.add(new Option('5000 天', '5000')); s.value = '5000'; }")
    page.get_by_role("button", name="新建令牌").click()
    days_error = page.locator("#token-days-error")
    days_error.filter(has_text="有效天数须为 1–3650").wait_for()
    assert name_error.inner_text() == ""
    assert page.get_by_label("有效期").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("令牌名称").get_attribute("aria-invalid") is None
    assert page.evaluate("() => document.activeElement.id") == "token-days"
    assert _scalar(db_engine, "SELECT count(*) FROM personal_access_token t "
                   "JOIN app_user u ON u.id = t.user_id WHERE u.username = :u", u=USERS["inspector"][0]) == 0


def test_every_role_with_the_grant_finds_the_token_page_in_its_header(visit, server):
    for role in ("gas_office", "inspector", "admin"):
        v = visit()
        v.login(role)
        v.page.get_by_role("link", name="个人访问令牌").click()
        v.page.wait_for_url("**/account/tokens")
        v.page.get_by_role("heading", name="个人访问令牌").wait_for()


def test_a_gas_office_account_waits_for_a_second_admin_and_never_for_its_requester(
        visit, server, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "wb-admin-b", PASSWORD, "admin", None)
    a = visit()
    page = _request_account(a, "wb-new-office", "new-office-password", "gas_office")
    login = {"username": "wb-new-office", "password": "new-office-password"}
    assert httpx.post(f"{server}/api/auth/token", data=login).status_code == 401

    # The requester sees it under 待确认 and is refused, next to the button, by the service.
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="待确认").click()
    page.wait_for_url("**/admin/requests")
    row = page.get_by_role("row").filter(has_text="wb-new-office")
    assert "新建账号" in row.inner_text() and "燃气管理所" in row.inner_text()
    request_id = int(row.get_by_role("cell").first.inner_text())
    row.get_by_role("button", name=f"确认请求 {request_id}").click()
    error = page.locator(f"#request-{request_id}-error")
    page.wait_for_function(f"() => document.getElementById('request-{request_id}-error').textContent !== ''")
    assert "不能确认自己发起的" in error.inner_text()
    a.check("admin-requests")
    assert _state(db_engine, request_id) == "pending"
    assert _scalar(db_engine, "SELECT count(*) FROM app_user WHERE username = 'wb-new-office'") == 0

    # A second admin confirms it on the page: the account exists and can log in.
    b = visit()
    b.page.goto(f"{server}/")
    b.page.get_by_label("用户名").fill("wb-admin-b")
    b.page.get_by_label("密码").fill(PASSWORD)
    b.page.get_by_role("button", name="登录").click()
    b.page.goto(f"{server}/admin/requests")
    b.page.get_by_role("button", name=f"确认请求 {request_id}").click()
    b.page.get_by_text(f"已确认并生效：请求 {request_id}").wait_for()
    b.page.get_by_text("暂无记录。").wait_for()
    r = httpx.post(f"{server}/api/auth/token", data=login)
    assert r.status_code == 200, r.text
    me = httpx.get(f"{server}/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["role"] == "gas_office"


def test_a_cancelled_request_is_gone_and_changes_nothing(visit, server, db_engine):
    v = visit()
    page = _request_account(v, "wb-never-admin", "never-admin-password", "admin")
    page.goto(f"{server}/admin/requests")
    row = page.get_by_role("row").filter(has_text="wb-never-admin")
    request_id = int(row.get_by_role("cell").first.inner_text())
    row.get_by_role("button", name=f"撤销请求 {request_id}").click()
    page.get_by_text(f"已撤销：请求 {request_id}").wait_for()
    assert page.get_by_role("row").filter(has_text="wb-never-admin").count() == 0
    assert _state(db_engine, request_id) == "cancelled"
    assert _scalar(db_engine, "SELECT count(*) FROM app_user WHERE username = 'wb-never-admin'") == 0


def _org(engine, column: str):
    return _scalar(engine, f"SELECT {column} FROM organisation WHERE name = :n", n=BUILDER_ORG)


def test_a_builder_edits_its_own_organisation_and_a_bad_robot_address_stores_nothing(
        visit, server, db_engine):
    v = visit()
    v.login("builder")
    page = v.page
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="本单位").click()
    page.wait_for_url("**/account/organisation")
    page.get_by_role("heading", name=BUILDER_ORG).wait_for()
    # The stored values are shown first (the form is filled in by the page's load): typing
    # before that could be overwritten by them.
    page.wait_for_function("() => document.getElementById('org-updated').textContent !== ''")
    page.get_by_label("联系人").fill("王工")
    page.get_by_label("电子邮箱").fill("safety@chengjian.example.cn")
    page.get_by_role("button", name="保存本单位信息").click()
    page.get_by_text("已保存本单位信息。").wait_for()
    assert _org(db_engine, "email") == "safety@chengjian.example.cn"
    assert _org(db_engine, "kind") == "builder"
    v.check("account-organisation")

    # A robot address that is no web address is refused next to its field; nothing changes,
    # not even the other field sent with it.
    page.get_by_label("联系人").fill("李工")
    page.get_by_label("企业微信机器人地址").fill("qyapi.weixin.qq.com/cgi-bin/webhook/send")
    page.get_by_role("button", name="保存本单位信息").click()
    error = page.locator("#wecom_webhook_url-error")
    page.wait_for_function("() => document.getElementById('wecom_webhook_url-error').textContent !== ''")
    assert "不是 http:// 或 https:// 开头的完整网址" in error.inner_text()
    assert page.get_by_label("企业微信机器人地址").get_attribute("aria-invalid") == "true"
    assert "未保存" in page.locator("#page-message").inner_text()
    assert _org(db_engine, "contact_person") == "王工"
    assert _org(db_engine, "wecom_webhook_url") is None
    v.check("account-organisation-error")

    # The page is the builder's own: the API refuses another organisation's by name.
    r = httpx.post(f"{server}/api/auth/token", data={"username": USERS["builder"][0], "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    other = "上海天然气管网有限公司"
    put = httpx.put(f"{server}/api/organisations/{other}", headers=bearer,
                    json={"kind": "utility", "email": "x@example.cn"})
    assert put.status_code == 404, put.text
    assert _scalar(db_engine, "SELECT count(*) FROM organisation WHERE name = :n", n=other) == 0


def test_only_builders_and_owners_open_the_own_organisation_page(visit, server, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "wb-org-owner", PASSWORD, "utility", "上海崇明燃气有限公司")
    v = visit()
    v.page.goto(f"{server}/")
    v.page.get_by_label("用户名").fill("wb-org-owner")
    v.page.get_by_label("密码").fill(PASSWORD)
    v.page.get_by_role("button", name="登录").click()
    v.page.wait_for_load_state("networkidle")
    v.page.get_by_role("navigation", name="主菜单").get_by_role("link", name="本单位").click()
    v.page.get_by_role("heading", name="上海崇明燃气有限公司").wait_for()
    v.page.get_by_text("尚未登记").wait_for()
    for role in ("gas_office", "inspector", "admin"):
        other = visit()
        other.login(role)
        answer = other.page.goto(f"{server}/account/organisation")
        assert answer.status == 403
        assert "无权打开此页面" in other.page.content()
    # Only admins reach the second admin's page.
    for role in ("builder", "gas_office", "inspector"):
        other = visit()
        other.login(role)
        assert other.page.goto(f"{server}/admin/requests").status == 403
