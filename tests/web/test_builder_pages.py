"""The builder's pages in headless Chromium, by role and label: paste, draw, upload, submit."""

from __future__ import annotations

import pytest

from tests.web.conftest import assert_field_clear, assert_field_error, stored_projects, submit_refused

pytestmark = pytest.mark.postgis

# A 40 m square 10 m north of the high-pressure test pipe HP-T1 (lat 31.70).
NEAR_HP = [(121.3100, 31.70009), (121.3104, 31.70009), (121.3104, 31.70045), (121.3100, 31.70045)]


def _fill_project(page, code: str) -> None:
    page.get_by_label("项目编号").fill(code)
    page.get_by_label("项目名称").fill(f"测试项目 {code}")
    page.get_by_label("项目类型").select_option(label="市政工程")
    page.get_by_label("计划开工日期").fill("2026-12-10")
    page.get_by_label("计划竣工日期").fill("2027-06-30")
    page.get_by_label("挖掘").check()


def _previews(page) -> int:
    return page.evaluate("window.WBPreview.done")


def _wait_preview(page, before: int) -> None:
    page.wait_for_function(f"() => window.WBPreview.done > {before}", timeout=15000)


def test_builder_pastes_a_site_sees_the_preview_submits_and_gets_the_answer(visit, db_engine):
    v = visit()
    v.login("builder")
    page = v.page
    assert page.url.endswith("/builder/")
    page.get_by_role("heading", name="我的项目").wait_for()
    v.check("builder-projects-empty")
    page.get_by_role("link", name="新建项目").first.click()
    page.get_by_role("heading", name="新建项目").wait_for()
    _fill_project(page, "WB-PASTE-1")
    before = _previews(page)
    page.get_by_label("场地坐标").fill("\n".join(f"{x},{y}" for x, y in NEAR_HP))
    page.get_by_role("button", name="按坐标显示场地").click()
    _wait_preview(page, before)
    preview = page.locator("#preview-list").inner_text()
    assert "HP-T1" in preview and "安全控制范围" in preview and "上海天然气管网有限公司" in preview
    assert stored_projects(db_engine, "WB-PASTE-1") == 0  # the preview stored nothing
    v.check("project-new-preview")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/builder/projects/*?new=1")
    page.get_by_role("heading", name="筛查答复").wait_for()
    page.wait_for_function("() => document.querySelector('#conflicts table') !== null")
    answer = page.locator("#conflicts").inner_text()
    assert "HP-T1" in answer and "安全控制范围" in answer and "上海天然气管网有限公司" in answer
    assert stored_projects(db_engine, "WB-PASTE-1") == 1
    v.check("builder-project-answer")
    page.get_by_role("link", name="我的项目").first.click()
    page.get_by_role("link", name="WB-PASTE-1").wait_for()
    v.check("builder-projects")


def _click_lonlat(page, lon: float, lat: float) -> None:
    page.locator("#map").scroll_into_view_if_needed()
    point = page.evaluate(
        f"(() => {{ var p = WBMap.last.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


def test_builder_draws_a_site_a_crossing_one_is_shown_and_refused(visit, db_engine):
    v = visit()
    v.login("builder")
    page = v.page
    page.goto(f"{v.server}/builder/projects/new")
    _fill_project(page, "WB-DRAW-1")
    page.evaluate("WBMap.last.setView([31.7003, 121.3102], 18, {animate: false})")
    page.wait_for_timeout(300)
    # A bow tie: the boundary crosses itself.
    page.get_by_role("button", name="绘制场地").click()
    a, b, c, d = NEAR_HP
    for lon, lat in (a, c, b, d):
        _click_lonlat(page, lon, lat)
    assert page.locator(".vertex-marker").count() == 4
    page.get_by_role("button", name="完成绘制").click()
    # Previews run while drawing too: wait for the one of the closed bow tie.
    page.locator("#site-error").filter(has_text="自相交").wait_for()
    error = page.locator("#site-error").inner_text()
    assert "自相交" in error and "交叉点" in error
    # The text may still be a preview's taken while drawing; the closed ring's own
    # preview (scheduled on 完成绘制) marks where it crosses itself.
    page.locator(".crossing-marker").wait_for(state="attached")
    assert page.locator(".crossing-marker").count() == 1
    v.check("project-new-crossing")
    page.get_by_role("button", name="提交").click()
    assert "请先绘制" in page.locator("#site-error").inner_text()
    assert stored_projects(db_engine, "WB-DRAW-1") == 0
    # Drawn again properly, then a vertex dragged: the preview follows.
    page.get_by_role("button", name="绘制场地").click()
    for lon, lat in NEAR_HP:
        _click_lonlat(page, lon, lat)
    page.get_by_role("button", name="完成绘制").click()
    page.locator("#preview-list").filter(has_text="HP-T1").wait_for()
    page.wait_for_function("() => window.WBPreview.error === null")
    marker = page.locator(".vertex-marker").nth(0)
    box = marker.bounding_box()
    before = _previews(page)
    page.mouse.move(box["x"] + 7, box["y"] + 7)
    page.mouse.down()
    page.mouse.move(box["x"] + 7, box["y"] + 60, steps=6)
    page.mouse.up()
    _wait_preview(page, before)
    assert page.evaluate("window.WBPreview.error") is None
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/builder/projects/*?new=1")
    assert stored_projects(db_engine, "WB-DRAW-1") == 1


def test_bad_pasted_coordinates_and_a_bad_upload_are_named_by_line_and_row(visit, db_engine, tmp_path):
    v = visit()
    v.login("builder")
    page = v.page
    page.goto(f"{v.server}/builder/projects/new")
    _fill_project(page, "WB-BAD-1")
    before = _previews(page)
    page.get_by_label("场地坐标").fill("121.3100,31.70009\n116.40,39.90\n121.3104,31.70045")
    page.get_by_role("button", name="按坐标显示场地").click()
    _wait_preview(page, before)
    # The pasted text is the field: the line named next to it, the field marked and focused.
    assert_field_error(page, "site_text", "第 2 行")
    error = page.locator("#site_text-error").inner_text()
    assert "第 2 行" in error and "崇明区以外" in error
    before = _previews(page)
    page.get_by_label("场地坐标").fill("121.3100;31.70009\n121.3104,31.70009\n121.3104,31.70045")
    page.get_by_role("button", name="按坐标显示场地").click()
    _wait_preview(page, before)
    assert "第 1 行" in page.locator("#site_text-error").inner_text()
    v.check("project-new-bad-paste")
    bad_csv = tmp_path / "sites.csv"
    bad_csv.write_text(
        "id,wkt\nS-1,\"POLYGON((121.31 31.7001, 121.3104 31.7001, 121.3104 31.7004, 121.31 31.7001))\"\n"
        "S-2,\"POLYGON((1 2, 3 4\"\n", encoding="utf-8")
    before = _previews(page)
    page.get_by_label("上传场地文件").set_input_files(str(bad_csv))
    _wait_preview(page, before)
    upload_error = page.locator("#site_file-error").inner_text()
    assert "第 2 行" in upload_error, upload_error
    page.get_by_role("button", name="提交").click()
    assert stored_projects(db_engine, "WB-BAD-1") == 0
    good = tmp_path / "site.geojson"
    good.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"S-9"},'
                    '"geometry":{"type":"Polygon","coordinates":[[[121.3100,31.70009],[121.3104,31.70009],'
                    '[121.3104,31.70045],[121.3100,31.70045],[121.3100,31.70009]]]}}]}', encoding="utf-8")
    before = _previews(page)
    page.get_by_label("上传场地文件").set_input_files(str(good))
    _wait_preview(page, before)
    assert page.evaluate("window.WBPreview.error") is None
    assert "HP-T1" in page.locator("#preview-list").inner_text()


def test_missing_fields_and_the_servers_refusal_are_named_next_to_their_fields(visit, db_engine):
    v = visit()
    v.login("builder")
    page = v.page
    page.goto(f"{v.server}/builder/projects/new")
    page.get_by_role("heading", name="新建项目").wait_for()
    # Nothing filled in: each required field named on the page, the first one focused.
    page.get_by_role("button", name="提交").click()
    assert_field_error(page, "registration_code", "请填写项目编号")
    assert_field_error(page, "name", "请填写项目名称", focused=False)
    assert_field_error(page, "kind", "请选择项目类型", focused=False)
    assert "请先绘制" in page.locator("#site-error").inner_text()
    assert page.locator("#form-message").inner_text() == "表单有误，未保存；请按提示修改。"
    # A code with a zero-width space passes the page's checks; the service refuses it
    # (HTTP 422, problem field "registration_code（列“id”）"), shown under 项目编号.
    _fill_project(page, "WB-ZW\u200b-1")
    for field in ("registration_code", "name", "kind"):
        assert_field_clear(page, field)
    before = _previews(page)
    page.get_by_label("场地坐标").fill("\n".join(f"{x},{y}" for x, y in NEAR_HP))
    page.get_by_role("button", name="按坐标显示场地").click()
    _wait_preview(page, before)
    assert page.evaluate("window.WBPreview.error") is None
    submit_refused(page, "提交", "/api/projects")
    assert_field_error(page, "registration_code", "U+200B")
    assert page.locator("#form-message").inner_text() == "未保存：请按字段旁的提示修改。"
    assert page.locator("#name-error").inner_text() == ""
    assert stored_projects(db_engine, "WB-ZW\u200b-1") == 0
    # Corrected, it is stored.
    page.get_by_label("项目编号").fill("WB-ZW-1")
    assert_field_clear(page, "registration_code")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/builder/projects/*?new=1")
    assert stored_projects(db_engine, "WB-ZW-1") == 1
