"""Pipeline owners in the loop, end to end on a real PostGIS with a local SMTP sink and robot receiver.

A builder registers a site across two owners' pipelines; each owner sees only its own
conflict and gets an e-mail and its group robot's message (WeCom / signed DingTalk);
the owner's reply reaches the builder; the protection plan, the owner's agreement and
the approval form the permit's history; starting work without the procedure raises
a violation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from layers.db import session_factory
from layers.services.users import create_user
from layers.services.workdays import due_date
from tests.factories import site_feature
from tests.receivers import RobotReceiver, SmtpSink, wait_for
from vocabulary import today_in_shanghai

pytestmark = pytest.mark.postgis

OWNER_A, OWNER_B = "上海天然气管网有限公司", "上海崇明燃气有限公司"
BUILDER = "甲建设集团"
PASSWORD = "correct-horse-battery"
SECRET = "SEC-test-secret-0123456789"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture()
def world(database_url, stored_network):
    """An app with SMTP and a fast dispatcher, two owners with robots, users with e-mail."""
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    with SmtpSink() as sink, RobotReceiver() as robots:
        with stored_network.begin() as conn:
            conn.execute(text(
                "INSERT INTO organisation (name, kind, phone, wecom_webhook_url) "
                "VALUES (:a, 'utility', '021-1111', :wecom)"),
                {"a": OWNER_A, "wecom": f"{robots.base}/wecom/a"})
            conn.execute(text(
                "INSERT INTO organisation (name, kind, dingtalk_webhook_url, dingtalk_secret) "
                "VALUES (:b, 'utility', :ding, :secret)"),
                {"b": OWNER_B, "ding": f"{robots.base}/dingtalk/b?access_token=tok", "secret": SECRET})
        settings = Settings(_env_file=None, smtp_url=sink.url, outbox_interval_s=0.2,
                            outbox_dispatch=True, smtp_from="gisapp@example.cn")
        app = create_app(settings, database_url=database_url)
        with TestClient(app) as client:
            headers = {}
            for name, role, org in (("builder", "builder", BUILDER), ("owner_a", "utility", OWNER_A),
                                    ("owner_b", "utility", OWNER_B), ("office", "gas_office", None),
                                    ("other", "builder", "乙市政公司")):
                with session_factory(stored_network).begin() as session:
                    create_user(session, name, PASSWORD, role, org, email=f"{name}@example.cn")
                r = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
                headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield {"client": client, "h": headers, "sink": sink, "robots": robots,
                   "engine": stored_network}


def _site(world, code="PR-1", status="planned"):
    feature = site_feature(code, 121.400, 31.6295, size_deg=0.011, width_deg=0.0015, status=status)
    r = world["client"].post("/api/projects", json=feature, headers=world["h"]["builder"])
    assert r.status_code == 201, r.text
    return r.json()


def test_two_owners_each_see_their_own_conflict_and_are_told(world):
    client, h = world["client"], world["h"]
    project = _site(world)
    assert {c["pipeline_id"] for c in project["conflicts"]} == {"HP-T1", "MP-T1"}
    seen = {}
    for who, pipe in (("owner_a", "HP-T1"), ("owner_b", "MP-T1")):
        conflicts = client.get("/api/conflicts", headers=h[who]).json()["conflicts"]
        assert [c["pipeline_code"] for c in conflicts] == [pipe], who
        seen[who] = conflicts[0]
        pipes = client.get("/api/pipelines", headers=h[who]).json()["features"]
        assert [p["properties"]["external_code"] for p in pipes] == [pipe]
        feature = client.get(f"/api/projects/{project['id']}", headers=h[who])
        assert feature.status_code == 200
        assert [c["pipeline_id"] for c in feature.json()["properties"]["conflicts"]] == [pipe]
        permits = client.get("/api/permits", headers=h[who]).json()["permits"]
        assert [p["pipeline_code"] for p in permits] == [pipe]
        reviews = client.get("/api/owner-reviews", headers=h[who]).json()["reviews"]
        assert [r["pipeline_code"] for r in reviews] == [pipe]
        with session_factory(world["engine"]).begin() as session:
            assert reviews[0]["due_on"] == due_date(session, today_in_shanghai(), 2).isoformat()
    ids = {f["properties"]["external_code"]: f["id"] for f in
           client.get("/api/pipelines", headers=h["office"]).json()["features"]}
    assert client.get(f"/api/pipelines/{ids['MP-T1']}", headers=h["owner_a"]).status_code == 404
    other = client.get(f"/api/conflicts/{seen['owner_b']['id']}/owner-review", headers=h["owner_a"])
    assert other.status_code == 404
    # Answers are the builder's and the office's; an owner is not given them.
    assert client.get(f"/api/projects/{project['id']}/answer", headers=h["owner_a"]).status_code == 403

    sink, robots = world["sink"], world["robots"]
    wait_for(lambda: len(sink.to("office@example.cn")) == 2 and len(sink.to("builder@example.cn")) == 2
             and len(sink.to("owner_a@example.cn")) == 1 and len(sink.to("owner_b@example.cn")) == 1
             and robots.at("/wecom/a") and robots.at("/dingtalk/b"), what="e-mails and robot messages")
    mail = sink.to("owner_a@example.cn")[0]
    assert "HP-T1" in mail["Subject"] and "新冲突" in mail["Subject"]
    assert "答复期限" in mail.get_content() and mail["Message-ID"].endswith("@gisapp>")
    (wecom,) = robots.at("/wecom/a")
    assert wecom["body"]["msgtype"] == "markdown" and "HP-T1" in wecom["body"]["markdown"]["content"]
    assert "MP-T1" not in wecom["body"]["markdown"]["content"]
    assert unquote(wecom["headers"]["X-Gisapp-Event-Key"]).endswith(f"/org:{OWNER_A}")
    (ding,) = robots.at("/dingtalk/b")
    assert ding["body"]["msgtype"] == "markdown" and "MP-T1" in ding["body"]["markdown"]["text"]
    stamp, sign = ding["query"]["timestamp"][0], ding["query"]["sign"][0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign == expected and ding["query"]["access_token"] == ["tok"]
    assert abs(int(stamp) / 1000 - dt.datetime.now().timestamp()) < 120
    # Nothing doubled: each (receiver, key) once.
    keys = [m["X-Gisapp-Event-Key"] + m["To"] for m in (x["message"] for x in sink.messages)]
    assert len(keys) == len(set(keys))


def test_reply_plan_agreement_approval_and_violation(world):
    client, h = world["client"], world["h"]
    project = _site(world, "PR-2")
    conflicts = {c["pipeline_code"]: c for c in
                 client.get("/api/conflicts", headers=h["office"]).json()["conflicts"]}
    a, b = conflicts["HP-T1"], conflicts["MP-T1"]
    # Only the owner of the pipeline replies; bad decisions are refused in Chinese.
    bad = client.post(f"/api/conflicts/{a['id']}/owner-reply", headers=h["owner_a"],
                      data={"decision": "maybe"})
    assert bad.status_code == 422 and "decision" in bad.json()["detail"]
    assert client.post(f"/api/conflicts/{a['id']}/owner-reply", headers=h["owner_b"],
                       data={"decision": "no_objection"}).status_code == 404
    assert client.post(f"/api/conflicts/{a['id']}/owner-reply", headers=h["builder"],
                       data={"decision": "no_objection"}).status_code == 403
    fake = client.post(f"/api/conflicts/{a['id']}/owner-reply", headers=h["owner_a"],
                       data={"decision": "no_objection"},
                       files=[("files", ("plan.pdf", b"not a pdf", "application/pdf"))])
    assert fake.status_code == 422 and "文件头" in fake.json()["detail"]
    r = client.post(f"/api/conflicts/{a['id']}/owner-reply", headers=h["owner_a"],
                    data={"decision": "protection_plan_required", "note": "须编制专项保护方案并现场交底"},
                    files=[("files", ("要求.pdf", PDF, "application/pdf"))])
    assert r.status_code == 200, r.text
    review = r.json()
    assert review["decision"] == "protection_plan_required" and len(review["documents"]) == 1
    doc_id = review["documents"][0]["id"]
    assert client.get(f"/api/documents/{doc_id}", headers=h["builder"]).content == PDF
    assert client.get(f"/api/documents/{doc_id}", headers=h["owner_b"]).status_code == 404
    assert client.get(f"/api/documents/{doc_id}", headers=h["other"]).status_code == 404
    inbox = client.get("/api/notifications", headers=h["builder"]).json()
    assert "owner.reply" in {n["event"] for n in inbox["notifications"]}
    assert inbox["unread"] == len(inbox["notifications"])
    office_inbox = client.get("/api/notifications", headers=h["office"]).json()
    assert "owner.reply" in {n["event"] for n in office_inbox["notifications"]}
    # The other builder's inbox has none of this.
    assert client.get("/api/notifications", headers=h["other"]).json()["notifications"] == []

    permit_id = client.get("/api/permits", headers=h["owner_a"]).json()["permits"][0]["id"]
    assert client.post(f"/api/permits/{permit_id}/owner-decision", headers=h["owner_a"],
                       json={"decision": "agreed"}).status_code == 409  # no plan yet
    up = client.post(f"/api/permits/{permit_id}/documents", headers=h["builder"],
                     data={"note": "第一版"}, files=[("files", ("保护方案.pdf", PDF, "application/pdf")),
                                                     ("files", ("现场.png", PNG, "image/png"))])
    assert up.status_code == 201, up.text
    assert client.post(f"/api/permits/{permit_id}/transitions", headers=h["builder"],
                       json={"to_status": "applied"}).status_code == 200
    until = (today_in_shanghai() + dt.timedelta(days=90)).isoformat()
    refused = client.post(f"/api/permits/{permit_id}/transitions", headers=h["office"],
                          json={"to_status": "approved", "approved_until": until})
    assert refused.status_code == 409 and "保护方案" in refused.json()["detail"]
    assert client.post(f"/api/permits/{permit_id}/owner-decision", headers=h["owner_a"],
                       json={"decision": "agreed", "note": "同意"}).status_code == 200
    ok = client.post(f"/api/permits/{permit_id}/transitions", headers=h["office"],
                     json={"to_status": "approved", "approved_until": until})
    assert ok.status_code == 200, ok.text
    permit = client.get(f"/api/permits/{permit_id}", headers=h["builder"]).json()
    steps = [e["event"] or e["to_status"] for e in permit["history"]]
    assert steps == ["owner_reply", "plan_uploaded", "applied", "plan_agreed", "approved"]
    assert [d["filename"] for d in permit["documents"]] == ["保护方案.pdf", "现场.png"]
    assert permit["owner_review"]["plan_decision"] == "agreed"
    events = {n["event"] for n in client.get("/api/notifications", headers=h["builder"]).json()[
        "notifications"]}
    assert {"conflict.new", "owner.reply", "owner.plan", "permit.change"} <= events
    owner_events = {n["event"] for n in
                    client.get("/api/notifications", headers=h["owner_a"]).json()["notifications"]}
    assert "permit.document" in owner_events

    # Work starts: B's protection-range conflict has no approved permit: violation.
    body = client.get(f"/api/projects/{project['id']}", headers=h["builder"]).json()
    body["properties"]["status"] = "under_construction"
    assert client.put(f"/api/projects/{project['id']}", json=body, headers=h["builder"]).status_code == 200
    violations = client.get("/api/violations", headers=h["office"]).json()["violations"]
    assert [v["kind"] for v in violations] == ["no_permit"]
    assert "MP-T1" in violations[0]["message"] and "HP-T1" not in violations[0]["message"]
    assert [v["kind"] for v in client.get("/api/violations", headers=h["owner_b"]).json()["violations"]] \
        == ["no_permit"]
    b_events = {n["event"] for n in client.get("/api/notifications", headers=h["owner_b"]).json()[
        "notifications"]}
    assert "violation" in b_events
    assert client.get("/api/violations", headers=h["other"]).json()["violations"] == []
    assert b  # B's conflict stays unanswered: the office sees it overdue once its deadline passes


def test_inbox_read_marks_and_overdue_replies(world):
    client, h = world["client"], world["h"]
    _site(world, "PR-3")
    inbox = client.get("/api/notifications", headers=h["builder"]).json()
    first = inbox["notifications"][0]["id"]
    denied = client.post("/api/notifications/read", headers=h["other"], json={"ids": [first]})
    assert denied.status_code == 404
    r = client.post("/api/notifications/read", headers=h["builder"], json={"ids": [first]})
    assert r.json() == {"marked": 1, "unread": inbox["unread"] - 1}
    assert client.post("/api/notifications/read", headers=h["builder"], json={}).json()["unread"] == 0
    assert client.get("/api/notifications", params={"unread": True}, headers=h["builder"]).json()[
        "notifications"] == []
    assert client.get("/api/owner-reviews", params={"overdue": True}, headers=h["office"]).json()[
        "reviews"] == []
    with world["engine"].begin() as conn:
        yesterday = today_in_shanghai() - dt.timedelta(days=1)
        conn.execute(text("UPDATE owner_review SET due_on = :d"), {"d": yesterday})
    overdue = client.get("/api/owner-reviews", params={"overdue": True},
                         headers=h["office"]).json()["reviews"]
    assert {r["pipeline_code"] for r in overdue} == {"HP-T1", "MP-T1"} and all(r["overdue"] for r in overdue)
    mine = client.get("/api/owner-reviews", params={"overdue": True}, headers=h["owner_a"]).json()["reviews"]
    assert [r["pipeline_code"] for r in mine] == ["HP-T1"]
