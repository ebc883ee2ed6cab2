"""The procedure in the workbench, in headless Chromium by role and label: the builder's answer
letter (a PDF that really arrives), protection plan, the owner's reply, the office's decision,
the start notice and the inbox; the admin's organisations with their notification channels and
the user form's e-mail."""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import text

from gisapp import outbox
from layers.db import session_factory
from layers.services.notify import Channels, notify
from layers.services.users import create_user
from tests.factories import site_feature
from tests.receivers import RobotReceiver, wait_for
from tests.web.conftest import PASSWORD, assert_field_clear, assert_field_error, field_state

pytestmark = pytest.mark.postgis

OWNER_ORG = "上海天然气管网有限公司"  # owner of the test pipe HP-T1 (tests/web/conftest.py)
# A 30 x 30 m site 3 m north of HP-T1 (lat 31.70): in its safety protection range.
SITE = "121.3250,31.70003\n121.3253,31.70003\n121.3253,31.7003\n121.3250,31.7003"
# A small but real PDF (the server recognises documents by their first bytes).
PLAN_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>"
            b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _token(server: str, username: str) -> dict:
    r = httpx.post(f"{server}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _register(page, server: str, code: str) -> int:
    page.goto(f"{server}/builder/projects/new")
    page.get_by_label("项目编号").fill(code)
    page.get_by_label("项目名称").fill(f"保护手续测试 {code}")
    page.get_by_label("项目类型").select_option(label="市政工程")
    page.get_by_label("场地坐标").fill(SITE)
    page.get_by_role("button", name="按坐标显示场地").click()
    page.wait_for_function("() => window.WBPreview.done > 0 && window.WBPreview.conflicts !== null")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/builder/projects/*?new=1")
    return int(page.url.split("/builder/projects/")[1].split("?")[0])


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _card(page):
    return page.get_by_role("region", name="管道 HP-T1 的保护方案与答复")


def test_builder_follows_the_procedure_from_answer_letter_to_start_notice(visit, server, db_engine, tmp_path):
    with session_factory(db_engine).begin() as session:
        create_user(session, "wb-proc-owner", PASSWORD, "utility", OWNER_ORG)
    owner = _token(server, "wb-proc-owner")
    office = _token(server, "wb-office")
    v = visit()
    v.login("builder")
    page = v.page
    project_id = _register(page, server, "WB-PROC-1")

    # The answer letter: its number and validity, and the PDF really arrives in the browser.
    page.get_by_role("heading", name="查询答复书").wait_for()
    page.wait_for_function("() => /CM-\\d{4}-\\d{6}/.test(document.getElementById('letter').textContent)")
    letter = page.locator("#letter").inner_text()
    assert "有效期至" in letter and "有效" in letter
    number = page.locator("#letter dd").first.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载答复书").click()
    download = download_info.value
    pdf = (tmp_path / "answer.pdf")
    download.save_as(pdf)
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-") and len(content) > 5000
    assert download.suggested_filename == f"{number}.pdf"

    # Nothing decided yet: the start notice is not offered, and why is said.
    card = _card(page)
    card.wait_for()
    assert "尚未答复" in card.inner_text() and "尚未上传保护方案" in card.inner_text()
    page.get_by_text("暂不能发送开工告知").wait_for()
    assert "HP-T1 安全保护范围内的保护手续尚未批准" in page.locator("#start-blockers").inner_text()
    assert page.get_by_role("button", name="发送开工告知").is_hidden()
    v.check("builder-procedure-start")

    # The owner replies (its own API); the builder's page shows the reply.
    with db_engine.connect() as conn:
        conflict_id, permit_id = conn.execute(text(
            "SELECT c.id, pm.id FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "JOIN permit pm ON pm.conflict_id = c.id WHERE c.project_id = :p AND g.external_code = 'HP-T1'"),
            {"p": project_id}).one()
    r = httpx.post(f"{server}/api/conflicts/{conflict_id}/owner-reply", headers=owner,
                   data={"decision": "protection_plan_required", "note": "请编制管道保护方案"},
                   files={"files": ("答复函.pdf", PLAN_PDF, "application/pdf")})
    assert r.status_code == 200, r.text
    page.reload()
    _card(page).get_by_text("须编制保护方案").wait_for()
    assert "请编制管道保护方案" in _card(page).inner_text()
    _card(page).get_by_role("link", name="答复函.pdf").wait_for()

    # The protection plan: no file and a file that is no PDF are refused next to the field.
    card = _card(page)
    card.get_by_role("button", name="上传保护方案").click()
    assert_field_error(page, f"plan-{permit_id}-files", "请选择保护方案文件")
    fake = tmp_path / "方案.pdf"
    fake.write_text("this is not a pdf", encoding="utf-8")
    card.get_by_label("保护方案文件").set_input_files(str(fake))
    card.get_by_role("button", name="上传保护方案").click()
    card.get_by_text("内容不是 JPEG、PNG 或 PDF").wait_for()
    assert _count(db_engine, "SELECT count(*) FROM procedure_document WHERE permit_id = :p", p=permit_id) == 0
    files_error = card.locator(f"#plan-{permit_id}-files-error")
    assert files_error.inner_text().startswith("文件 方案.pdf 的内容不是")  # without "字段 files："
    assert card.get_by_label("保护方案文件").get_attribute("aria-invalid") == "true"
    plan = tmp_path / "管道保护方案.pdf"
    plan.write_bytes(PLAN_PDF)
    card.get_by_label("保护方案文件").set_input_files(str(plan))
    # A note longer than the service takes: refused next to 方案说明 (WB.placeErrors maps the
    # service's "note" to this card's field), the file field left clear, nothing stored.
    card.get_by_label("方案说明").fill("人工开挖" * 600)
    card.get_by_role("button", name="上传保护方案").click()
    note_error = card.locator(f"#plan-{permit_id}-note-error")
    note_error.filter(has_text="长度不能超过 2000 个字符").wait_for()
    assert card.get_by_label("方案说明").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == f"plan-{permit_id}-note"
    assert files_error.inner_text() == ""
    assert card.get_by_label("保护方案文件").get_attribute("aria-invalid") is None
    assert _count(db_engine, "SELECT count(*) FROM procedure_document WHERE permit_id = :p", p=permit_id) == 0
    card.get_by_label("方案说明").fill("开挖段采用人工开挖并设置警示")
    card.get_by_role("button", name="上传保护方案").click()
    page.get_by_text("已上传保护方案：管道保护方案.pdf").wait_for()
    _card(page).get_by_role("link", name="管道保护方案.pdf").wait_for()
    assert "权属单位意见：待审查" in _card(page).inner_text()
    assert _count(db_engine, "SELECT count(*) FROM procedure_document WHERE permit_id = :p", p=permit_id) == 1
    # The plan downloads as it was uploaded (a link the builder may follow).
    href = _card(page).get_by_role("link", name="管道保护方案.pdf").get_attribute("href")
    fetched = page.evaluate("(u) => fetch(u).then(r => r.arrayBuffer()).then(b => b.byteLength)", href)
    assert fetched == len(PLAN_PDF)

    # The owner agrees; the builder applies on its page; the office rejects, with a reason.
    r = httpx.post(f"{server}/api/permits/{permit_id}/owner-decision", headers=owner,
                   json={"decision": "agreed", "note": "同意"})
    assert r.status_code == 200, r.text
    page.reload()
    _card(page).get_by_text("权属单位意见：同意保护方案").wait_for()
    permits = page.get_by_role("region", name="的保护手续").filter(has_text="HP-T1").first
    permits.get_by_role("button", name="提交申请").click()
    page.get_by_label("批准文号或申请号").fill("崇燃保-2026-001")
    page.get_by_role("button", name="确定").click()
    _card(page).get_by_text("已申请").first.wait_for()
    r = httpx.post(f"{server}/api/permits/{permit_id}/transitions", headers=office,
                   json={"to_status": "rejected", "reason": "保护方案未附开挖断面图"})
    assert r.status_code == 200, r.text
    page.reload()
    _card(page).get_by_text("驳回：保护方案未附开挖断面图").wait_for()
    v.check("builder-procedure-rejected")

    # Applied again and approved with an expiry date: the decision is shown with it.
    permits = page.get_by_role("region", name="的保护手续").filter(has_text="HP-T1").first
    permits.get_by_role("button", name="提交申请").click()
    page.get_by_role("button", name="确定").click()
    _card(page).get_by_text("尚未决定").wait_for()
    until = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    r = httpx.post(f"{server}/api/permits/{permit_id}/transitions", headers=office,
                   json={"to_status": "approved", "approved_until": until, "reference": "崇燃批-88"})
    assert r.status_code == 200, r.text
    page.reload()
    _card(page).get_by_text(f"批准，有效期至 {until}").wait_for()

    # The start notice, now offered: too early is refused next to the field, nothing stored.
    other_blockers = page.locator("#start-blockers").inner_text()
    if other_blockers:  # another pipe's protection range (MP-T1) still needs its own approval
        assert "HP-T1" not in other_blockers
        with db_engine.connect() as conn:
            others = conn.execute(text(
                "SELECT pm.id FROM pipeline_conflict c JOIN permit pm ON pm.conflict_id = c.id "
                "WHERE c.project_id = :p AND c.closed_at IS NULL AND pm.id <> :pm AND c.zone = 'protection'"),
                {"p": project_id, "pm": permit_id}).scalars().all()
        for other in others:
            for body in ({"to_status": "applied"}, {"to_status": "approved", "approved_until": until}):
                assert httpx.post(f"{server}/api/permits/{other}/transitions", headers=office,
                                  json=body).status_code == 200
        page.reload()
    page.get_by_role("button", name="发送开工告知").wait_for()
    page.get_by_role("button", name="发送开工告知").click()  # no date: refused on the page
    assert_field_error(page, "planned_start", "请填写计划开工日期")
    assert "planned_start-hint" in field_state(page, "planned_start")["described"]
    page.get_by_label("计划开工日期").fill(dt.date.today().isoformat())
    assert_field_clear(page, "planned_start")
    page.get_by_role("button", name="发送开工告知").click()
    error = page.locator("#planned_start-error")
    error.filter(has_text="个工作日").wait_for()
    assert error.inner_text().startswith("开工告知须提前")  # without "字段 planned_start："
    assert page.get_by_label("计划开工日期").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "planned_start"
    assert _count(db_engine, "SELECT count(*) FROM start_notice WHERE project_id = :p", p=project_id) == 0
    earliest = page.get_by_label("计划开工日期").get_attribute("min")
    page.get_by_label("计划开工日期").fill(earliest)
    page.get_by_label("告知说明").fill("请安排现场交底")
    page.get_by_role("button", name="发送开工告知").click()
    page.get_by_text("已发送开工告知").wait_for()
    page.get_by_role("cell", name="请安排现场交底").wait_for()
    assert _count(db_engine, "SELECT count(*) FROM start_notice WHERE project_id = :p", p=project_id) == 1
    assert _count(db_engine, "SELECT count(*) FROM notification n JOIN app_user u ON u.id = n.user_id "
                  "WHERE u.username = 'wb-proc-owner' AND n.event = 'start_notice'") == 1
    v.check("builder-procedure-approved")

    # Renewing the answer issues a new number; the old one is superseded.
    page.get_by_role("button", name="复查并更新答复书").click()
    page.get_by_text("已按现行规则复查并签发新的答复书").wait_for()
    page.wait_for_function(f"() => !document.getElementById('letter').textContent.includes('{number}')")
    assert _count(db_engine, "SELECT count(*) FROM answer_letter WHERE project_id = :p", p=project_id) == 2
    old = page.get_by_role("row").filter(has_text=number)
    old.filter(has_text="已被新答复书取代").wait_for()
    assert "续期复查" in page.locator("#answers").inner_text()

    # The inbox: the unread count in the header, a notification read and marked read.
    page.reload()
    unread = _count(db_engine, "SELECT count(*) FROM notification n JOIN app_user u ON u.id = n.user_id "
                    "WHERE u.username = 'wb-builder' AND n.read_at IS NULL")
    assert unread >= 4  # new conflict, owner reply, plan agreed, permit changes
    inbox = page.get_by_role("link", name="通知")
    inbox.filter(has_text=f"{unread} 条未读").wait_for()
    inbox.click()
    page.get_by_role("heading", name="通知", exact=True).wait_for()
    item = page.locator("ul.inbox li").filter(has_text="权属单位答复：项目 WB-PROC-1").first
    item.wait_for()
    assert "请编制管道保护方案" in item.inner_text()
    v.check("notifications")
    item.get_by_role("button", name="标为已读").click()
    page.get_by_text("已将 1 条通知标为已读").wait_for()
    page.get_by_role("link", name="通知").filter(has_text=f"{unread - 1} 条未读").wait_for()
    with db_engine.connect() as conn:
        read = conn.execute(text(
            "SELECT n.title FROM notification n JOIN app_user u ON u.id = n.user_id "
            "WHERE u.username = 'wb-builder' AND n.read_at IS NOT NULL")).scalars().all()
    assert len(read) == 1 and read[0].startswith("权属单位答复：项目 WB-PROC-1")
    page.get_by_label("只看未读").check()
    page.wait_for_function(
        "() => !document.getElementById('notifications').textContent.includes('权属单位答复：项目')")
    assert page.locator("ul.inbox li").count() == unread - 1
    page.get_by_label("只看未读").uncheck()
    page.locator("ul.inbox li").filter(has_text="权属单位答复：项目").first.wait_for()
    # The rest by keyboard alone: Tab reaches 全部标为已读, Enter presses it.
    page.locator("#only-unread").focus()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent") == "全部标为已读":
            break
    page.keyboard.press("Enter")
    page.get_by_text("没有未读通知。").first.wait_for()
    assert _count(db_engine, "SELECT count(*) FROM notification n JOIN app_user u ON u.id = n.user_id "
                  "WHERE u.username = 'wb-builder' AND n.read_at IS NULL") == 0
    assert page.get_by_role("link", name="通知").inner_text() == "通知"
    page.get_by_role("link", name="查看项目").first.click()
    page.wait_for_url("**/builder/projects/*")
    # 我的项目 lists the project with its current answer and the owner's reply done.
    page.get_by_role("link", name="我的项目").first.click()
    row = page.get_by_role("row").filter(has_text="WB-PROC-1").first
    row.wait_for()
    with db_engine.connect() as conn:
        current = conn.execute(text("SELECT number FROM answer_letter WHERE project_id = :p "
                                    "AND superseded_at IS NULL"), {"p": project_id}).scalar_one()
    assert current != number and f"{current}（有效期至" in row.inner_text()
    assert "已答复" in row.inner_text()
    v.check("builder-projects-answers")


def test_another_builder_reaches_neither_the_procedure_nor_its_documents(server, db_engine):
    with session_factory(db_engine).begin() as session:
        create_user(session, "wb-other-builder", PASSWORD, "builder", "另一建设公司")
    mine, other = _token(server, "wb-builder"), _token(server, "wb-other-builder")
    r = httpx.post(f"{server}/api/projects", headers=mine, json=site_feature(
        "WB-PROC-2", 121.3260, 31.70003, status="planned"))
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    procedure = httpx.get(f"{server}/api/workbench/projects/{project_id}/procedure", headers=mine)
    assert procedure.status_code == 200, procedure.text
    permit_id = next(p["permit_id"] for p in procedure.json()["permits"] if p["pipeline_code"] == "HP-T1")
    r = httpx.post(f"{server}/api/permits/{permit_id}/documents", headers=mine,
                   files={"files": ("plan.pdf", PLAN_PDF, "application/pdf")})
    assert r.status_code == 201, r.text
    document_id = r.json()["documents"][0]["id"]
    r = httpx.get(f"{server}/api/workbench/projects/{project_id}/procedure", headers=other)
    assert r.status_code == 404 and "不存在" in r.json()["detail"]
    assert httpx.get(f"{server}/api/documents/{document_id}", headers=other).status_code == 404
    r = httpx.post(f"{server}/api/permits/{permit_id}/documents", headers=other,
                   files={"files": ("plan.pdf", PLAN_PDF, "application/pdf")})
    assert r.status_code == 404
    assert _count(db_engine, "SELECT count(*) FROM procedure_document WHERE permit_id = :p", p=permit_id) == 1
    assert httpx.get(f"{server}/api/organisations/崇明城建集团", headers=other).status_code == 404
    r = httpx.put(f"{server}/api/organisations/崇明城建集团", headers=other,
                  json={"kind": "builder", "wecom_webhook_url": "https://attacker.example/hook"})
    assert r.status_code == 404
    assert _count(db_engine, "SELECT count(*) FROM organisation "
                  "WHERE wecom_webhook_url LIKE '%attacker%'") == 0
    # What the page shows the project's own builder: the plan listed, the start notice held back.
    data = procedure.json()
    assert data["start_notice"]["allowed"] is False
    assert any("HP-T1" in b for b in data["start_notice"]["blockers"])
    again = httpx.get(f"{server}/api/workbench/projects/{project_id}/procedure", headers=mine).json()
    plans = next(p["plans"] for p in again["permits"] if p["pipeline_code"] == "HP-T1")
    assert [d["filename"] for d in plans] == ["plan.pdf"]


def test_admin_edits_an_organisations_channels_and_creates_a_user_with_email(visit, db_engine):
    with ExitStack() as stack:
        _admin_edits(stack, visit, db_engine)


def _admin_edits(stack, visit, db_engine) -> None:
    v = visit()
    v.login("admin")
    page = v.page
    page.get_by_role("link", name="单位管理").click()
    page.get_by_role("heading", name="单位管理").wait_for()
    # The builders' organisation has users but no row yet: one button starts registering it.
    page.get_by_role("button", name="登记 崇明城建集团").click()
    assert page.get_by_label("单位名称").input_value() == "崇明城建集团"
    assert page.get_by_label("单位类型").input_value() == "builder"
    # No name: refused next to 单位名称 before anything is sent (WB.fieldError).
    page.get_by_label("单位名称").fill("")
    page.get_by_role("button", name="保存单位").click()
    assert_field_error(page, "name", "请填写单位名称")
    page.get_by_label("单位名称").fill("崇明城建集团")
    assert_field_clear(page, "name")
    page.get_by_label("单位类型").select_option(label="建设单位")
    page.get_by_label("联系人").fill("张工")
    page.get_by_label("企业微信机器人地址").fill("ftp://qyapi.example/hook")
    page.get_by_role("button", name="保存单位").click()
    error = page.locator("#wecom_webhook_url-error")
    error.filter(has_text="http://").wait_for()
    assert "不是 http:// 或 https:// 开头的完整网址" in error.inner_text()
    assert page.get_by_label("企业微信机器人地址").get_attribute("aria-invalid") == "true"
    assert _count(db_engine, "SELECT count(*) FROM organisation WHERE name = '崇明城建集团'") == 0
    v.check("admin-organisations-refused")

    # The robots' addresses point at a local receiver: a message of the organisation reaches both.
    receiver = stack.enter_context(RobotReceiver())
    wecom = f"{receiver.base}/wecom?key=abc"
    dingtalk = f"{receiver.base}/dingtalk?access_token=xyz"
    page.get_by_label("企业微信机器人地址").fill(wecom)
    page.get_by_label("钉钉机器人地址").fill(dingtalk)
    page.get_by_label("钉钉加签密钥").fill("SECabc123")
    page.get_by_label("电子邮箱").fill("safety@cmcj.example.cn")
    page.get_by_role("button", name="保存单位").click()
    page.get_by_text("已登记单位 崇明城建集团").wait_for()
    page.get_by_role("cell", name=wecom).wait_for()
    page.get_by_role("button", name="登记 崇明城建集团").wait_for(state="detached")
    with db_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT kind, contact_person, email, wecom_webhook_url, dingtalk_webhook_url, dingtalk_secret "
            "FROM organisation WHERE name = '崇明城建集团'")).one()
    assert tuple(row) == ("builder", "张工", "safety@cmcj.example.cn", wecom, dingtalk, "SECabc123")
    assert "SECabc123" not in page.content()  # the secret is write-only
    v.check("admin-organisations")
    with session_factory(db_engine).begin() as session:
        notify(session, Channels(), event="permit.change", key="permit.change:wb-admin-test",
               title="保护手续变更：测试", body="渠道测试", orgs=["崇明城建集团"])
    outbox.deliver_due(db_engine, batch=200, timeout_s=10)
    wait_for(lambda: receiver.at("/wecom") and receiver.at("/dingtalk"), what="both robots")
    assert "保护手续变更：测试" in receiver.at("/wecom")[0]["body"]["markdown"]["content"]
    signed = receiver.at("/dingtalk")[0]["query"]
    assert signed["access_token"] == ["xyz"] and signed["sign"] and signed["timestamp"]

    # Edited: a bad DingTalk address is refused next to its field and nothing changes.
    page.get_by_role("button", name="修改 崇明城建集团").click()
    assert page.get_by_label("企业微信机器人地址").input_value() == wecom
    page.get_by_label("钉钉机器人地址").fill("oapi.dingtalk.com/robot")
    page.get_by_label("联系人").fill("李工")
    page.get_by_role("button", name="保存单位").click()
    page.locator("#dingtalk_webhook_url-error").filter(has_text="完整网址").wait_for()
    assert page.locator("#wecom_webhook_url-error").inner_text() == ""
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT contact_person, dingtalk_webhook_url FROM organisation "
                                 "WHERE name = '崇明城建集团'")).one() == ("张工", dingtalk)
    page.get_by_label("钉钉机器人地址").fill("")
    page.get_by_label("电子邮箱").fill("not-an-address")
    page.get_by_role("button", name="保存单位").click()
    page.locator("#email-error").filter(has_text="电子邮件地址").wait_for()
    page.get_by_label("电子邮箱").fill("")
    page.get_by_role("button", name="保存单位").click()
    page.get_by_text("已保存单位 崇明城建集团").wait_for()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT contact_person, email, dingtalk_webhook_url, dingtalk_secret "
                                 "FROM organisation WHERE name = '崇明城建集团'")).one() == (
            "李工", None, None, "SECabc123")

    # Users: the form takes an e-mail address; a bad one is refused next to the field.
    page.get_by_role("link", name="用户管理").click()
    page.get_by_label("用户名").fill("wb-mail-builder")
    page.get_by_label("初始密码").fill("long-enough-password")
    page.get_by_label("角色").select_option(label="建设单位")
    page.get_by_label("所属单位").fill("崇明城建集团")
    page.get_by_label("电子邮箱").fill("no-at-sign")
    page.get_by_role("button", name="创建用户").click()
    page.locator("#email-error").filter(has_text="电子邮件地址").wait_for()
    assert _count(db_engine, "SELECT count(*) FROM app_user WHERE username = 'wb-mail-builder'") == 0
    page.get_by_label("电子邮箱").fill("builder@cmcj.example.cn")
    page.get_by_role("button", name="创建用户").click()
    page.get_by_role("cell", name="builder@cmcj.example.cn").wait_for()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM app_user WHERE username = 'wb-mail-builder'")
                            ).scalar_one() == "builder@cmcj.example.cn"
    v.check("admin-users-email")
    # An existing user's e-mail, changed in its dialog; a bad one is refused next to the field.
    page.get_by_role("button", name="修改邮箱 wb-mail-builder").click()
    page.get_by_label("新邮箱地址").fill("still wrong")
    page.get_by_role("button", name="保存邮箱").click()
    page.locator("#new_email-error").filter(has_text="电子邮件地址").wait_for()
    v.check("admin-users-email-dialog")
    page.get_by_label("新邮箱地址").fill("safety@cmcj.example.cn")
    page.get_by_role("button", name="保存邮箱").click()
    page.get_by_text("wb-mail-builder 的电子邮箱已保存").wait_for()
    page.get_by_role("cell", name="safety@cmcj.example.cn").wait_for()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM app_user WHERE username = 'wb-mail-builder'")
                            ).scalar_one() == "safety@cmcj.example.cn"
