"""The gas office, inspector (on a phone) and admin pages in headless Chromium, by role and label."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import text

from tests.web.conftest import PHONE, assert_field_clear, assert_field_error, stored_projects, submit_refused
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

# A 1x1 PNG: the photo "taken on the phone".
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _builder_project(visit, code: str) -> int:
    """A builder registers a site 3 m from the high-pressure test pipe (protection range)."""
    v = visit()
    v.login("builder")
    page = v.page
    page.goto(f"{v.server}/builder/projects/new")
    page.get_by_label("项目编号").fill(code)
    page.get_by_label("项目名称").fill(f"办公室测试 {code}")
    page.get_by_label("项目类型").select_option(label="房屋建筑")
    page.get_by_label("项目状态").select_option(label="在建")
    page.get_by_label("场地坐标").fill("121.3200,31.70003\n121.3203,31.70003\n121.3203,31.7003\n121.3200,31.7003")
    page.get_by_role("button", name="按坐标显示场地").click()
    page.wait_for_function("() => window.WBPreview.done > 0 && window.WBPreview.conflicts !== null")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/builder/projects/*?new=1")
    return int(page.url.split("/builder/projects/")[1].split("?")[0])


def test_office_acknowledges_the_alert_and_approves_the_permit(visit, db_engine):
    project_id = _builder_project(visit, "WB-OFFICE-1")
    v = visit()
    v.login("gas_office")
    page = v.page
    assert page.url.endswith("/office/")
    page.get_by_role("heading", name="新告警").wait_for()
    page.wait_for_function("() => document.querySelector('#figures .figure') !== null")
    v.check("office-home")
    page.get_by_role("link", name="告警", exact=True).click()
    row = page.get_by_role("row").filter(has_text="WB-OFFICE-1").first
    row.wait_for()
    v.check("office-alerts")
    row.get_by_role("button", name="确认").click()
    page.get_by_text("已确认。").wait_for()
    row = page.get_by_role("row").filter(has_text="WB-OFFICE-1").first
    with page.expect_response(lambda r: "status=acknowledged" in r.url):
        page.get_by_label("状态").select_option(label="已确认")
    page.wait_for_timeout(200)  # the table of the filtered answer is drawn
    row = page.get_by_role("row").filter(has_text="WB-OFFICE-1").first
    row.get_by_role("button", name="处理完毕").click()
    page.get_by_role("button", name="确定").click()  # no note: refused next to the field
    assert_field_error(page, "resolve-note", "请填写处理说明")
    page.get_by_label("处理说明").fill("已电话通知建设单位办理保护手续")
    assert_field_clear(page, "resolve-note")
    page.get_by_role("button", name="确定").click()
    page.get_by_text("已处理完毕。").wait_for()
    with db_engine.connect() as conn:
        statuses = conn.execute(text(
            "SELECT a.status, a.note FROM alert a WHERE a.project_id = :p"), {"p": project_id}).all()
    assert ("resolved", "已电话通知建设单位办理保护手续") in statuses
    # The project page: only the legal next steps of a not-started permit.
    page.goto(f"{v.server}/office/projects/{project_id}")
    page.get_by_role("heading", name="保护手续").wait_for()
    card = page.get_by_role("region", name="的保护手续").filter(has_text="HP-T1").first
    card.get_by_role("button", name="登记申请").wait_for()
    assert card.get_by_role("button", name="批准").count() == 0  # not before an application
    v.check("office-project")
    card.get_by_role("button", name="登记申请").click()
    # A reference longer than the service takes (set past the input's maxlength): the
    # server's 422 names "reference", shown under 批准文号或申请号 (WB.placeErrors).
    page.evaluate("() => { document.getElementById('reference').value = '崇'.repeat(65); }")
    page.get_by_role("button", name="确定").click()
    assert_field_error(page, "reference", "64")
    assert page.locator("#dialog-message").inner_text() == "未保存：请按字段旁的提示修改。"
    page.get_by_label("批准文号或申请号").fill("崇燃申-2026-7")
    assert_field_clear(page, "reference")
    page.get_by_role("button", name="确定").click()
    card = page.get_by_role("region", name="的保护手续").filter(has_text="HP-T1").first
    card.get_by_role("button", name="批准").wait_for()
    card.get_by_role("button", name="批准").click()
    page.get_by_role("button", name="确定").click()
    assert_field_error(page, "approved_until", "批准须填写有效期至")
    # A date already past: the service refuses it ("字段 approved_until：…"), shown under the field.
    page.get_by_label("有效期至").fill((today_in_shanghai() - dt.timedelta(days=1)).isoformat())
    assert_field_clear(page, "approved_until")
    assert page.locator("#approved_until").get_attribute("aria-describedby") is None
    page.get_by_role("button", name="确定").click()
    state = assert_field_error(page, "approved_until", "早于今天")
    assert not page.locator("#approved_until-error").inner_text().startswith("字段")
    assert state["described"] == ["approved_until-error"]
    until = (dt.date.today() + dt.timedelta(days=180)).isoformat()
    page.get_by_label("有效期至").fill(until)
    page.get_by_role("button", name="确定").click()
    page.get_by_text(f"有效期至 {until}").first.wait_for()
    history = page.get_by_role("region", name="的保护手续").filter(has_text="HP-T1").first.inner_text()
    assert "已批准" in history and "wb-office" in history
    v.check("office-project-approved")


def test_inspector_on_a_phone_records_an_inspection_with_a_photo(visit, db_engine):
    v = visit(PHONE)
    v.login("inspector")
    page = v.page
    assert page.url.endswith("/inspector/")
    page.get_by_role("link", name="记录检查").first.wait_for()
    v.check("inspector-today")
    page.get_by_role("link", name="记录检查").first.click()
    page.get_by_role("heading", name="记录检查").wait_for()
    project_id = int(page.url.split("/inspector/projects/")[1].split("?")[0])
    items = ("建设单位安全生产首要责任", "高处坠落事故预防全员安全管理", "施工现场防高坠措施",
             "危大工程按方案施工及验收", "建筑起重机械安全保护装置")
    for n, item in enumerate(items):
        group = page.get_by_role("group", name=item)
        group.get_by_label("不符合" if n == 2 else "符合", exact=True).check()
    page.get_by_label("检查发现").fill("临边防护缺失一处")
    page.get_by_role("button", name="添加隐患").click()
    page.get_by_label("隐患描述").fill("三层临边未设防护栏杆")
    page.get_by_label("重大事故隐患").check()
    page.get_by_label("隐患照片").set_input_files(
        files=[{"name": "hazard.png", "mimeType": "image/png", "buffer": PNG}])
    page.get_by_label("现场照片").set_input_files(
        files=[{"name": "site.png", "mimeType": "image/png", "buffer": PNG}])
    v.check("inspector-record-form")
    page.get_by_role("button", name="保存检查记录").click()
    page.get_by_text("检查记录已保存（1 项隐患，2 张照片）").wait_for()
    with db_engine.connect() as conn:
        items = dict(conn.execute(text(
            "SELECT k.item, k.compliant FROM inspection_key_item k "
            "JOIN inspection i ON i.id = k.inspection_id WHERE i.project_id = :p"), {"p": project_id}).all())
        photos = conn.execute(text(
            "SELECT count(*) FROM evidence_file e LEFT JOIN hazard h ON h.id = e.hazard_id "
            "JOIN inspection i ON i.id = coalesce(e.inspection_id, h.inspection_id) WHERE i.project_id = :p"),
            {"p": project_id}).scalar_one()
    assert len(items) == 5 and items["fall_protection_on_site"] is False and photos == 2
    # Follow-up to closure: rectified (with the photo already there), then verified.
    page.get_by_role("button", name="标记已整改").click()
    page.get_by_role("button", name="复核通过").click()
    page.get_by_text("整改状态：已复核").wait_for()
    v.check("inspector-follow-up")


def test_inspector_form_refuses_missing_key_items(visit, db_engine):
    v = visit(PHONE)
    v.login("inspector")
    page = v.page
    page.get_by_role("link", name="记录检查").first.click()
    page.get_by_role("heading", name="记录检查").wait_for()
    project_id = int(page.url.split("/inspector/projects/")[1].split("?")[0])
    before = _inspections(db_engine, project_id)
    page.get_by_role("button", name="保存检查记录").click()
    assert "表单有误" in page.locator("#form-message").inner_text()
    # Each key item is a radio group: the first unanswered one is marked and focused, the
    # others marked too.
    assert_field_error(page, "builder_primary_duty", "请选择符合或不符合")
    assert_field_error(page, "crane_safety_devices", "请选择符合或不符合", focused=False)
    v.check("inspect-errors")  # the marked groups pass axe too
    for group in page.locator("fieldset.key-item").all():
        group.get_by_label("符合", exact=True).check()
    assert_field_clear(page, "builder_primary_duty")
    # The service's refusals (HTTP 422) sit next to the field they name: a date still to
    # come under 检查日期, then a deadline before the inspection under that hazard's 整改期限
    # ("字段 hazards.0.deadline：第 1 条隐患的…": the request's path, counted from 0 as a
    # validation problem counts, and the reader's count from 1).
    today = today_in_shanghai()
    page.get_by_label("检查日期").fill((today + dt.timedelta(days=1)).isoformat())
    submit_refused(page, "保存检查记录", "/inspections")
    assert_field_error(page, "inspected_on", "晚于今天")
    assert page.locator("#form-message").inner_text() == "未保存：请按字段旁的提示修改。"
    page.get_by_label("检查日期").fill(today.isoformat())
    page.get_by_role("button", name="添加隐患").click()
    page.get_by_role("button", name="保存检查记录").click()  # a hazard without its description
    assert_field_error(page, "hazard-1-description", "请填写隐患描述")
    page.get_by_label("隐患描述").fill("基坑临边防护缺失")
    page.get_by_label("整改期限").fill((today - dt.timedelta(days=3)).isoformat())
    page.get_by_role("button", name="保存检查记录").click()
    assert_field_error(page, "hazard-1-deadline", "第 1 条隐患的整改期限")
    assert_field_error(page, "hazard-1-deadline", "早于检查日期")
    assert_field_clear(page, "inspected_on")
    # The second hazard's: under its own 整改期限 (hazards.1.deadline), the first's clear.
    page.get_by_label("整改期限").fill(today.isoformat())
    page.get_by_role("button", name="添加隐患").click()
    page.locator("#hazard-2-description").fill("燃气管道上方堆土")
    page.locator("#hazard-2-deadline").fill((today - dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="保存检查记录").click()
    assert_field_error(page, "hazard-2-deadline", "第 2 条隐患的整改期限")
    assert_field_clear(page, "hazard-1-deadline")
    page.locator("#hazard-2-deadline").fill("")
    # A description past the API's limit (set past the textarea's maxlength): the validation
    # problem "hazards.1.description" lands under that hazard's 隐患描述, counted the same way.
    page.evaluate("() => { document.getElementById('hazard-2-description').value = '隐'.repeat(2001); }")
    page.get_by_role("button", name="保存检查记录").click()
    assert_field_error(page, "hazard-2-description", "第 2 条隐患")
    assert_field_error(page, "hazard-2-description", "2000")
    assert_field_clear(page, "hazard-2-deadline")
    assert_field_clear(page, "hazard-1-description")
    assert _inspections(db_engine, project_id) == before  # nothing stored


def _inspections(engine, project_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM inspection WHERE project_id = :p"),
                            {"p": project_id}).scalar_one()


def test_admin_creates_a_user_and_a_bad_one_is_refused(visit, db_engine):
    v = visit()
    v.login("admin")
    page = v.page
    assert page.url.endswith("/admin/users")
    page.get_by_role("cell", name="wb-office", exact=True).wait_for()
    page.get_by_label("用户名").fill("wb-new-builder")
    page.get_by_label("初始密码").fill("short")
    page.get_by_label("角色").select_option(label="建设单位")
    page.get_by_label("所属单位").fill("新建设公司")
    page.get_by_role("button", name="创建用户").click()
    page.locator("#password-error").filter(has_text="密码长度须为").wait_for()
    # The service's refusal sits next to the field it names (WB.placeErrors), which takes the focus.
    assert page.get_by_label("初始密码").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "password"
    assert page.locator("#page-message").inner_text() == "未保存：请按字段旁的提示修改。"
    page.get_by_label("所属单位").fill("")
    page.get_by_label("初始密码").fill("long-enough-password")
    page.get_by_role("button", name="创建用户").click()
    page.locator("#organisation-error").filter(has_text="必须指定所属单位").wait_for()
    assert page.locator("#password-error").inner_text() == ""
    assert page.get_by_label("所属单位").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "organisation"
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user WHERE username = 'wb-new-builder'")
                            ).scalar_one() == 0
    page.get_by_label("所属单位").fill("新建设公司")
    page.get_by_label("初始密码").fill("long-enough-password")
    page.get_by_role("button", name="创建用户").click()
    page.get_by_role("cell", name="wb-new-builder", exact=True).wait_for()
    v.check("admin-users")
    page.get_by_role("button", name="停用 wb-new-builder").click()
    page.get_by_text("已停用。").wait_for()


def test_password_page_and_logout(visit, db_engine):
    v = visit()
    v.login("gas_office")
    page = v.page
    page.get_by_role("link", name="修改密码").click()
    page.get_by_label("当前密码").wait_for()
    v.check("password")
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="登录").wait_for()
    v.check("login")
    page.goto(f"{v.server}/office/alerts")
    assert "/?next=" in page.url
    assert stored_projects(db_engine, "nothing") == 0


def test_keyboard_only_login_and_paste_preview(visit):
    v = visit()
    page = v.page
    page.goto(f"{v.server}/")
    page.keyboard.press("Tab")  # 跳到正文
    page.keyboard.press("Tab")
    page.keyboard.type("wb-builder")
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse-battery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/builder/")
    page.goto(f"{v.server}/builder/projects/new")
    page.get_by_label("场地坐标").focus()
    page.keyboard.type("121.3200,31.70003\n121.3203,31.70003\n121.3203,31.7003")
    page.keyboard.press("Tab")  # 坐标系
    page.keyboard.press("Tab")  # 按坐标显示场地
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.WBPreview.done > 0")
    assert "HP-T1" in page.locator("#preview-list").inner_text()
