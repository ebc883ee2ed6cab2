"""The pipeline owner's pages and the gas office's procedure items, in headless Chromium.

A builder registers a site across two owners' test pipes (HP-T1 of 上海天然气管网有限公司,
MP-T1 of 上海崇明燃气有限公司) and one near HP-T1 alone whose review is past its
deadline. Each owner logs in by label, sees only the conflicts on its own pipes with
their deadline, replies with a note and a document, gives its word on the protection
plan, schedules and records supervision; the other owner reaches none of it (404 on
pages and JSON). The gas office's start page shows the overdue reply and the
unacknowledged damage report, and acknowledges the report.
"""

from __future__ import annotations

import base64
import datetime as dt

import httpx
import pytest
from sqlalchemy import text

from layers.db import session_factory
from tests.factories import site_feature
from tests.web.conftest import PASSWORD, PHONE, USERS, assert_field_clear, assert_field_error
from vocabulary import today_in_shanghai
from vocabulary.clock import SHANGHAI

pytestmark = pytest.mark.postgis

OWNER_A, OWNER_B = "上海天然气管网有限公司", "上海崇明燃气有限公司"
OWNERS = {"owner_a": ("wb-owner-a", OWNER_A), "owner_b": ("wb-owner-b", OWNER_B)}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _token(server: str, username: str) -> dict:
    r = httpx.post(f"{server}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def procedure(server, db_engine):
    """Two owner accounts; WB-OWN-1 across HP-T1 and MP-T1, WB-OWN-2 by HP-T1 (reply overdue)."""
    from layers.services.users import create_user

    with session_factory(db_engine).begin() as session:
        for username, org in OWNERS.values():
            create_user(session, username, PASSWORD, "utility", org)
    builder = _token(server, USERS["builder"][0])
    projects = {}
    # 3 m north of HP-T1 (lat 31.70) up to 2 m south of MP-T1 (lat 31.7008): both protection ranges.
    for code, lat, size in (("WB-OWN-1", 31.70003, 0.00075), ("WB-OWN-2", 31.70003, 0.0002)):
        lon = 121.3150 if code == "WB-OWN-1" else 121.3250
        feature = site_feature(code, lon, lat, size_deg=size, width_deg=0.0004, status="planned")
        r = httpx.post(f"{server}/api/projects", json=feature, headers=builder)
        assert r.status_code == 201, r.text
        projects[code] = r.json()["id"]
    with db_engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT p.registration_code, g.external_code, c.id, pm.id FROM pipeline_conflict c "
            "JOIN construction_project p ON p.id = c.project_id JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "JOIN permit pm ON pm.conflict_id = c.id WHERE p.registration_code LIKE 'WB-OWN-%' "
            "AND c.closed_at IS NULL")).all()
        conflicts = {(r[0], r[1]): r[2] for r in rows}
        permits = {(r[0], r[1]): r[3] for r in rows}
        # The review of WB-OWN-2 was due five days ago and is still unanswered.
        conn.execute(text("UPDATE owner_review SET due_on = :d WHERE conflict_id = :c"),
                     {"d": today_in_shanghai() - dt.timedelta(days=5),
                      "c": conflicts[("WB-OWN-2", "HP-T1")]})
    assert {("WB-OWN-1", "HP-T1"), ("WB-OWN-1", "MP-T1"), ("WB-OWN-2", "HP-T1")} <= set(conflicts)
    return {"projects": projects, "conflicts": conflicts, "permits": permits, "builder": builder,
            "server": server}


def _login(v, username: str) -> None:
    page = v.page
    page.goto(f"{v.server}/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("networkidle")


def _review(engine, conflict_id: int):
    with engine.connect() as conn:
        review = conn.execute(text(
            "SELECT r.id, r.decision, r.note, r.plan_decision FROM owner_review r WHERE r.conflict_id = :c"),
            {"c": conflict_id}).one()
        documents = conn.execute(text(
            "SELECT filename FROM procedure_document WHERE owner_review_id = :r ORDER BY id"),
            {"r": review.id}).scalars().all()
    return review, documents


def test_owner_sees_its_conflicts_with_deadlines_replies_and_supervises(visit, procedure, db_engine):
    hp1 = procedure["conflicts"][("WB-OWN-1", "HP-T1")]
    mp1 = procedure["conflicts"][("WB-OWN-1", "MP-T1")]
    hp2 = procedure["conflicts"][("WB-OWN-2", "HP-T1")]
    v = visit()
    _login(v, OWNERS["owner_a"][0])
    page = v.page
    assert page.url.endswith("/owner/")
    page.get_by_role("heading", name="本单位管道冲突").wait_for()
    page.get_by_role("link", name=f"冲突 {hp1}", exact=True).wait_for()
    table = page.locator("#rows").inner_text()
    # Only its own pipe: the MP-T1 conflict of the same project belongs to the other owner.
    assert f"冲突 {mp1}" not in table and "MP-T1" not in table
    row1 = page.get_by_role("row").filter(has_text=f"冲突 {hp1}")
    first = row1.inner_text()
    assert "待答复" in first and ("个工作日" in first or "今天到期" in first)
    row2 = page.get_by_role("row").filter(has_text=f"冲突 {hp2}")
    assert "逾期未答复" in row2.inner_text() and "已逾期" in row2.inner_text()
    assert row2.locator(".overdue").count() >= 1
    v.check("owner-home")
    # Filter: only the overdue one.
    page.get_by_label("答复状态").select_option(label="已逾期")
    with page.expect_response(lambda r: "state=overdue" in r.url):
        page.get_by_role("button", name="筛选").click()
    page.wait_for_function(f"() => !document.querySelector('#rows').innerText.includes('冲突 {hp1}')")
    assert f"冲突 {hp2}" in page.locator("#rows").inner_text()
    page.get_by_label("答复状态").select_option(label="全部")
    page.get_by_label("关键词").fill("WB-OWN-1")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_function(f"() => !document.querySelector('#rows').innerText.includes('冲突 {hp2}')")

    # 答复 with a note and a document.
    page.get_by_role("link", name=f"冲突 {hp1}", exact=True).click()
    page.get_by_role("heading", name="填写答复").wait_for()
    page.wait_for_function("() => document.querySelector('#facts dd') !== null")
    assert "HP-T1" in page.locator("#facts").inner_text()
    v.check("owner-conflict")
    page.get_by_label("须编制保护方案").check()
    page.get_by_label("备注").fill("请编制保护方案并报我司审核；联系人 王工 021-12345678")
    page.get_by_label("答复附件").set_input_files(
        files=[{"name": "保护要求.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="提交答复").click()
    page.get_by_text("答复已提交：须编制保护方案（附件 1 个）。").wait_for()
    page.get_by_role("heading", name="更改答复").wait_for()
    shown = page.locator("#review").inner_text()
    assert "须编制保护方案" in shown and "联系人 王工" in shown and "wb-owner-a" in shown
    link = page.get_by_role("link", name="保护要求.pdf")
    download = page.request.get(v.server + link.get_attribute("href"))
    assert download.status == 200 and download.body() == PDF
    review, documents = _review(db_engine, hp1)
    assert review.decision == "protection_plan_required" and "王工" in review.note
    assert documents == ["保护要求.pdf"]
    assert "权属单位答复" in page.locator("#history").inner_text()
    v.check("owner-conflict-replied")

    # The builder uploads its protection plan; the owner agrees on the page.
    r = httpx.post(f"{v.server}/api/permits/{procedure['permits'][('WB-OWN-1', 'HP-T1')]}/documents",
                   files={"files": ("保护方案.pdf", PDF, "application/pdf")}, headers=procedure["builder"])
    assert r.status_code == 201, r.text
    page.reload()
    page.get_by_role("heading", name="对保护方案的意见").wait_for()
    page.get_by_role("link", name="保护方案.pdf").wait_for()
    page.get_by_role("button", name="提交方案意见").click()  # no choice: refused on the page
    assert_field_error(page, "plan_decision", "请选择方案意见")
    page.get_by_label("同意保护方案").check()
    assert_field_clear(page, "plan_decision")
    page.get_by_label("意见说明").fill("方案可行，施工时通知我司到场")
    page.get_by_role("button", name="提交方案意见").click()
    page.get_by_text("方案意见已提交：同意保护方案。").wait_for()
    assert _review(db_engine, hp1)[0].plan_decision == "agreed"
    assert "同意保护方案" in page.locator("#plan-facts").inner_text()

    # Supervision only on a reply that asks for it: the form is offered once the reply
    # is changed to 须现场监护. Then schedule today, record it with a photo.
    assert page.locator("#visit-form").is_hidden()
    assert "未要求现场监护" in page.locator("#visit-rule").inner_text()
    page.get_by_label("须现场监护").check()
    page.get_by_role("button", name="提交答复").click()
    page.get_by_text("答复已提交：须现场监护").wait_for()
    page.locator("#visit-form").wait_for(state="visible")
    assert page.locator("#visit-rule").inner_text() == ""
    # Neither date nor person: both named on the page, the first (the date) focused.
    page.get_by_role("button", name="安排监护").click()
    assert_field_error(page, "scheduled_on", "请填写监护日期")
    assert_field_error(page, "person", "请填写监护人", focused=False)
    # A visit in the past: refused next to the date.
    page.get_by_label("监护日期").fill((today_in_shanghai() - dt.timedelta(days=1)).isoformat())
    page.get_by_label("监护人").fill("李监护")
    page.get_by_role("button", name="安排监护").click()
    page.wait_for_function(
        "() => document.querySelector('#scheduled_on-error').textContent.includes('早于今天')")
    assert page.get_by_label("监护日期").get_attribute("aria-invalid") == "true"
    # The reply changed elsewhere while the form is open: the server's refusal is shown.
    owner = _token(v.server, OWNERS["owner_a"][0])
    other = httpx.post(f"{v.server}/api/conflicts/{hp1}/owner-reply", data={"decision": "no_objection"},
                       headers=owner)
    assert other.status_code == 200, other.text
    page.get_by_label("监护日期").fill(today_in_shanghai().isoformat())
    with page.expect_response(lambda r: r.url.endswith("/supervision-visits")) as refused:
        page.get_by_role("button", name="安排监护").click()
    assert refused.value.status == 409
    page.wait_for_function(
        "() => document.querySelector('#visit-message').textContent.includes('未要求现场监护')")
    assert "答复为“无异议”" in page.locator("#visit-message").inner_text()
    assert httpx.post(f"{v.server}/api/conflicts/{hp1}/owner-reply", headers=owner,
                      data={"decision": "on_site_supervision_required"}).status_code == 200
    page.reload()
    page.locator("#visit-form").wait_for(state="visible")
    today = today_in_shanghai()
    page.get_by_label("监护日期").fill(today.isoformat())
    page.get_by_label("监护人").fill("李监护")
    page.get_by_role("button", name="安排监护").click()
    page.get_by_text(f"已安排 {today.isoformat()} 由 李监护 现场监护").wait_for()
    assert "李监护" in page.locator("#visits").inner_text()
    page.get_by_role("link", name="现场监护", exact=True).click()
    page.get_by_role("heading", name="监护安排").wait_for()
    button = page.get_by_role("button", name=f"记录监护：WB-OWN-1 {today.isoformat()}")
    button.wait_for()
    v.check("owner-supervision-planned")
    button.click()
    now = dt.datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    page.get_by_role("button", name="保存监护记录").click()  # no times: refused on the page
    assert_field_error(page, "arrived_at", "请填写到场时间")
    assert_field_error(page, "left_at", "请填写离场时间", focused=False)
    # An arrival still to come: refused by the server, shown next to its field (WB.placeErrors).
    page.get_by_label("到场时间").fill((now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("离场时间").fill((now + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    with page.expect_response(lambda r: r.url.endswith("/record")) as refused:
        page.get_by_role("button", name="保存监护记录").click()
    assert refused.value.status == 422
    page.locator("#arrived_at-error").filter(has_text="到场时间晚于现在").wait_for()
    assert page.locator("#arrived_at-error").inner_text() == "到场时间晚于现在"
    assert page.get_by_label("到场时间").get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "arrived_at"
    assert page.locator("#record-message").inner_text() == "未保存：请按字段旁的提示修改。"
    page.get_by_label("到场时间").fill((now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("离场时间").fill((now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("监护情况").fill("开挖距管道 3 米，已现场交底，设置警示带")
    page.get_by_label("监护照片").set_input_files(
        files=[{"name": "现场.png", "mimeType": "image/png", "buffer": PNG}])
    page.get_by_role("button", name="保存监护记录").click()
    page.get_by_text("监护记录已保存（WB-OWN-1，照片 1 张）。").wait_for()
    page.get_by_role("link", name="现场.png").wait_for()
    records = page.locator("#records").inner_text()
    assert "开挖距管道 3 米" in records and "60 分钟" in records
    arrived = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    assert arrived in records  # shown in Shanghai time, as entered
    with db_engine.connect() as conn:
        visit_row = conn.execute(text(
            "SELECT v.person, v.notes, (SELECT count(*) FROM procedure_document d WHERE d.visit_id = v.id) "
            "FROM supervision_visit v WHERE v.conflict_id = :c"), {"c": hp1}).one()
    assert visit_row == ("李监护", "开挖距管道 3 米，已现场交底，设置警示带", 1)
    v.check("owner-supervision")

    # The project page shows only the owner's own conflicts.
    page.goto(f"{v.server}/owner/projects/{procedure['projects']['WB-OWN-1']}")
    page.wait_for_function("() => document.querySelector('#conflicts table') !== null")
    conflicts = page.locator("#conflicts").inner_text()
    assert "HP-T1" in conflicts and "MP-T1" not in conflicts
    v.check("owner-project")


def test_another_owner_sees_only_its_own_and_reaches_nothing_else(visit, procedure):
    hp1 = procedure["conflicts"][("WB-OWN-1", "HP-T1")]
    mp1 = procedure["conflicts"][("WB-OWN-1", "MP-T1")]
    hp2 = procedure["conflicts"][("WB-OWN-2", "HP-T1")]
    v = visit(PHONE)
    _login(v, OWNERS["owner_b"][0])
    page = v.page
    page.get_by_role("link", name=f"冲突 {mp1}", exact=True).wait_for()
    table = page.locator("#rows").inner_text()
    assert "HP-T1" not in table and f"冲突 {hp1}" not in table and "WB-OWN-2" not in table
    v.check("owner-home-other-owner")
    for url in (f"/owner/conflicts/{hp1}", f"/owner/conflicts/{hp2}",
                f"/owner/projects/{procedure['projects']['WB-OWN-2']}"):
        response = page.goto(v.server + url)
        assert response.status == 404, url
        assert "不存在" in page.locator("main").inner_text()
    for url in (f"/api/workbench/owner/conflicts/{hp1}", f"/api/conflicts/{hp1}/owner-review",
                f"/api/workbench/projects/{procedure['projects']['WB-OWN-2']}"):
        assert page.request.get(v.server + url).status == 404, url
    # Its own project page (shared with the other owner) lists only its own pipe.
    page.goto(f"{v.server}/owner/projects/{procedure['projects']['WB-OWN-1']}")
    page.wait_for_function("() => document.querySelector('#conflicts table') !== null")
    conflicts = page.locator("#conflicts").inner_text()
    assert "MP-T1" in conflicts and "HP-T1" not in conflicts
    # The gas office's procedure pages are not the owner's.
    assert page.goto(f"{v.server}/office/damage-reports").status == 403


def test_reply_form_refuses_bad_input_next_to_the_field_and_stores_nothing(visit, procedure, db_engine):
    hp2 = procedure["conflicts"][("WB-OWN-2", "HP-T1")]
    v = visit()
    _login(v, OWNERS["owner_a"][0])
    page = v.page
    page.goto(f"{v.server}/owner/conflicts/{hp2}")
    page.get_by_role("heading", name="填写答复").wait_for()
    page.wait_for_function("() => document.querySelector('#facts dd') !== null")
    assert "已逾期" in page.locator("#facts").inner_text()
    # No decision: refused next to the field, nothing sent.
    page.get_by_label("备注").fill("稍后答复")
    page.get_by_role("button", name="提交答复").click()
    # The radio group is the field: marked, described by the message, its first choice focused.
    assert_field_error(page, "decision", "请选择答复意见")
    assert page.locator("#decision-error").inner_text() == "请选择答复意见"
    # A text file: refused by the page before upload.
    page.get_by_label("无异议").check()
    assert_field_clear(page, "decision")
    page.get_by_label("答复附件").set_input_files(
        files=[{"name": "说明.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.get_by_role("button", name="提交答复").click()
    assert_field_error(page, "files", "不是 PDF、JPEG 或 PNG")
    # A "PDF" whose content is not one: refused by the server, shown under the field.
    page.get_by_label("答复附件").set_input_files(
        files=[{"name": "假文件.pdf", "mimeType": "application/pdf", "buffer": b"not a pdf at all"}])
    with page.expect_response(lambda r: r.url.endswith("/owner-reply")) as answer:
        page.get_by_role("button", name="提交答复").click()
    assert answer.value.status == 422
    page.wait_for_function("() => document.querySelector('#files-error').textContent.includes('文件头不符')")
    assert "假文件.pdf" in page.locator("#files-error").inner_text()
    assert "未保存" in page.locator("#reply-message").inner_text()
    review, documents = _review(db_engine, hp2)
    assert review.decision is None and review.note is None and documents == []
    # No supervision before the reply asks for it: no form, the rule instead (the reply
    # stays unanswered: the office's overdue list below counts on it).
    assert page.locator("#visit-form").is_hidden()
    assert "答复为“须现场监护”后才能安排现场监护" in page.locator("#visit-rule").inner_text()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM supervision_visit WHERE conflict_id = :c"),
                            {"c": hp2}).scalar_one() == 0
    v.check("owner-conflict-errors")


def test_office_start_page_shows_overdue_replies_and_unacknowledged_damage(visit, procedure, db_engine):
    with db_engine.connect() as conn:
        pipe = conn.execute(text("SELECT id FROM gas_pipeline WHERE external_code = 'HP-T1'")).scalar_one()
    occurred = (dt.datetime.now(SHANGHAI) - dt.timedelta(minutes=30)).isoformat(timespec="seconds")
    v = visit()
    r = httpx.post(f"{v.server}/api/damage-reports", headers=procedure["builder"],
                   data={"lon": "121.3252", "lat": "31.70001", "occurred_at": occurred,
                         "description": "挖掘机挖破燃气管道防腐层", "pipeline_id": str(pipe),
                         "project_id": str(procedure["projects"]["WB-OWN-2"])},
                   files={"files": ("破损.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    report = r.json()["id"]
    v.login("gas_office")
    page = v.page
    assert page.url.endswith("/office/")
    page.get_by_role("heading", name="管道单位答复逾期").wait_for()
    page.wait_for_function("() => document.querySelector('#overdue-replies table') !== null")
    overdue = page.locator("#overdue-replies").inner_text()
    assert "WB-OWN-2" in overdue and "HP-T1" in overdue and OWNER_A in overdue
    assert "WB-OWN-1" not in overdue  # its reviews are not past their deadline
    damage = page.locator("#damage").inner_text()
    assert "挖掘机挖破燃气管道防腐层" in damage and "WB-OWN-2" in damage
    figures = page.locator("#figures").inner_text()
    assert "管道单位答复逾期" in figures and "未确认的损坏报告" in figures
    v.check("office-home-procedure")
    # The overdue replies' page, where the office follows up with the owner.
    page.get_by_role("link", name="全部逾期未答复").click()
    page.get_by_role("row").filter(has_text="WB-OWN-2").first.wait_for()
    assert "逾期未答复" in page.get_by_role("row").filter(has_text="WB-OWN-2").first.inner_text()
    assert page.get_by_role("link", name="WB-OWN-2", exact=False).first.get_attribute("href") == \
        f"/office/projects/{procedure['projects']['WB-OWN-2']}"
    v.check("office-owner-reviews")
    # The damage report: acknowledged where the office acts.
    page.goto(f"{v.server}/office/")
    page.get_by_role("link", name=f"确认收到损坏报告 {report}").click()
    page.get_by_role("button", name=f"确认收到损坏报告 {report}").wait_for()
    v.check("office-damage-reports")
    page.get_by_role("button", name=f"确认收到损坏报告 {report}").click()
    page.get_by_text(f"已确认收到损坏报告 {report}").wait_for()
    with db_engine.connect() as conn:
        acknowledged = conn.execute(text(
            "SELECT acknowledged_by FROM damage_report WHERE id = :id"), {"id": report}).scalar_one()
    assert acknowledged == USERS["gas_office"][0]
    assert page.get_by_role("button", name=f"确认收到损坏报告 {report}").count() == 0


def test_each_procedure_page_opens_only_for_the_role_it_serves(server, procedure):
    """Owner pages for the owner, the office's procedure pages for the office; others 403.

    Inspectors read every owner review (the permission table's ``review.read``, all), so the
    list of replies opens for them too; acknowledging damage is the office's and the owner's.
    """
    pages = {"/owner/": {"utility"}, "/owner/supervision": {"utility"},
             "/owner/damage-reports": {"utility"},
             f"/owner/conflicts/{procedure['conflicts'][('WB-OWN-1', 'HP-T1')]}": {"utility"},
             "/office/damage-reports": {"gas_office"},
             "/office/owner-reviews": {"gas_office", "inspector"}}
    logins = {"utility": OWNERS["owner_a"][0], **{role: USERS[role][0] for role in USERS}}
    for role, username in logins.items():
        with httpx.Client(base_url=server) as client:
            client.post("/login", data={"username": username, "password": PASSWORD})
            for url, serves in pages.items():
                answer = client.get(url)
                expected = 200 if role in serves else 403
                assert answer.status_code == expected, (role, url, answer.status_code)
    with httpx.Client(base_url=server) as client:  # no session: to the login form and back
        answer = client.get("/owner/supervision")
        assert answer.status_code == 303 and answer.headers["location"] == "/?next=/owner/supervision"


def test_owner_json_is_narrowed_to_its_own_pipes_and_refuses_bad_filters(server, procedure):
    owner_a = _token(server, OWNERS["owner_a"][0])
    project = procedure["projects"]["WB-OWN-1"]
    # The project both owners' pipes cross: each owner gets its own conflict only.
    for who, mine in (("owner_a", "HP-T1"), ("owner_b", "MP-T1")):
        answer = httpx.get(f"{server}/api/workbench/projects/{project}",
                           headers=_token(server, OWNERS[who][0]))
        assert answer.status_code == 200, answer.text
        assert [c["pipeline_code"] for c in answer.json()["conflicts"]] == [mine], who
    listed = httpx.get(f"{server}/api/workbench/owner/conflicts", params={"q": "WB-OWN"}, headers=owner_a)
    assert {(c["project_code"], c["pipeline_code"]) for c in listed.json()["conflicts"]} == {
        ("WB-OWN-1", "HP-T1"), ("WB-OWN-2", "HP-T1")}
    paged = httpx.get(f"{server}/api/workbench/owner/conflicts", headers=owner_a,
                      params={"q": "WB-OWN", "limit": 1, "offset": 1}).json()
    assert (paged["numberMatched"], paged["numberReturned"]) == (2, 1)
    for params, field in (({"state": "late"}, "state"), ({"zone": "near"}, "zone")):
        refused = httpx.get(f"{server}/api/workbench/owner/conflicts", params=params, headers=owner_a)
        assert refused.status_code == 422 and f"字段 {field}" in refused.json()["detail"]
    # The office's own view of the project is not narrowed.
    office = _token(server, USERS["gas_office"][0])
    answer = httpx.get(f"{server}/api/workbench/projects/{project}", headers=office)
    assert {c["pipeline_code"] for c in answer.json()["conflicts"]} == {"HP-T1", "MP-T1"}


def test_owner_on_a_phone_acknowledges_damage_to_its_own_pipe(visit, procedure, db_engine):
    with db_engine.connect() as conn:
        pipes = dict(conn.execute(text(
            "SELECT external_code, id FROM gas_pipeline WHERE external_code IN ('HP-T1', 'MP-T1')")).all())
    occurred = (dt.datetime.now(SHANGHAI) - dt.timedelta(minutes=10)).isoformat(timespec="seconds")
    reports = {}
    for code, description in (("HP-T1", "顶管机碰伤高压管道"), ("MP-T1", "中压管道被挖断")):
        r = httpx.post(f"{procedure['server']}/api/damage-reports", headers=procedure["builder"],
                       data={"lon": "121.3152", "lat": "31.7004", "occurred_at": occurred,
                             "description": description, "pipeline_id": str(pipes[code])})
        assert r.status_code == 201, r.text
        reports[code] = r.json()["id"]
    v = visit(PHONE)
    _login(v, OWNERS["owner_a"][0])
    page = v.page
    page.get_by_role("link", name="损坏报告").click()
    button = page.get_by_role("button", name=f"确认收到损坏报告 {reports['HP-T1']}")
    button.wait_for()
    listed = page.locator("#reports").inner_text()
    assert "顶管机碰伤高压管道" in listed and "中压管道被挖断" not in listed  # not its pipe
    v.check("owner-damage-reports")
    button.click()
    page.get_by_text(f"已确认收到损坏报告 {reports['HP-T1']}").wait_for()
    with db_engine.connect() as conn:
        by = dict(conn.execute(text("SELECT id, acknowledged_by FROM damage_report WHERE id = ANY(:ids)"),
                               {"ids": list(reports.values())}).all())
    assert by == {reports["HP-T1"]: OWNERS["owner_a"][0], reports["MP-T1"]: None}
