"""The gas office's lists (filters, CSV/XLSX export) and campaign page in headless Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgis


def test_lists_filter_and_export(visit):
    v = visit()
    v.login("gas_office")
    page = v.page
    for link, heading in (("冲突", "冲突列表"), ("保护手续", "保护手续列表"), ("项目", "项目列表")):
        page.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()
        page.get_by_role("heading", name=heading).wait_for()
        page.wait_for_function("() => document.querySelector('#rows table') !== null")
        v.check(f"office-list-{link}")
    # The township choices: every township of /api/workbench/townships, in code order.
    page.wait_for_function("() => document.querySelectorAll('#township option').length > 1")
    choices = page.locator("#township option").all_inner_texts()
    townships = page.evaluate(
        "() => fetch('/api/workbench/townships', {credentials: 'same-origin'}).then(r => r.json())")
    assert choices[0] == "全部乡镇" and len(choices) > 5, choices
    assert choices[1:] == [f["properties"]["name"] for f in townships["features"]]
    assert all(f["properties"]["code"] for f in townships["features"])
    page.get_by_label("项目状态").select_option(label="在建")
    with page.expect_response(lambda r: "status=under_construction" in r.url):
        page.get_by_role("button", name="筛选").click()
    page.wait_for_function("""() => { var cells = document.querySelectorAll('#rows tbody tr td:nth-child(4)');
        return cells.length > 0 && Array.from(cells).every(c => c.textContent === '在建'); }""")
    statuses = page.locator("#rows tbody tr td:nth-child(4)").all_inner_texts()
    assert statuses and set(statuses) == {"在建"}
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert len(rows) == int(page.locator("#page-message").inner_text().split("共 ")[1].split(" 条")[0])
    assert {r["状态"] for r in rows} == {"在建"}
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 XLSX").click()
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"


def test_campaign_stage_is_drawn_and_redrawn_only_after_confirmation(visit):
    v = visit()
    v.login("gas_office")
    page = v.page
    page.get_by_role("link", name="专项检查").click()
    page.get_by_role("heading", name="区级抽查计划").wait_for()
    page.get_by_label("年度").fill(str(dt.date.today().year + 1))
    page.get_by_role("button", name="查看").click()
    page.get_by_text("尚未抽取任何阶段").wait_for()
    page.get_by_role("button", name="抽取第 1 阶段").click()
    page.get_by_text("第 1 阶段已抽取").wait_for()
    page.get_by_role("region", name="第 1 阶段").wait_for()
    page.get_by_role("button", name="重新抽取第 1 阶段").click()
    page.get_by_role("button", name="取消").click()
    page.get_by_role("button", name="重新抽取第 1 阶段").click()
    page.get_by_role("button", name="确认重新抽取").click()
    page.get_by_text("第 1 阶段已重新抽取").wait_for()
    page.get_by_role("button", name="统计完成情况").click()
    page.get_by_role("cell", name="全区合计").wait_for()
    v.check("office-campaign")
