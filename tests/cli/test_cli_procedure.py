"""``gisapp user create --role utility --email``, ``gisapp calendar`` and ``gisapp org set``."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.cli.test_cli_service import _cli

pytestmark = pytest.mark.postgis


def test_utility_user_with_email(database_url, clean_db, tmp_path):
    ok = _cli(["user", "create", "--username", "gas.owner", "--password", "a-long-secret-1", "--role",
               "utility", "--organisation", "上海天然气管网有限公司", "--email", "duty@shgas.example.cn"],
              database_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    with clean_db.connect() as conn:
        row = conn.execute(text("SELECT role, organisation, email FROM app_user")).one()
    assert tuple(row) == ("utility", "上海天然气管网有限公司", "duty@shgas.example.cn")
    for args, word in ([["--role", "utility"], "organisation"],
                       [["--role", "builder", "--organisation", "甲", "--email", "not-an-email"], "email"]):
        bad = _cli(["user", "create", "--username", "x.y", "--password", "a-long-secret-1", *args],
                   database_url, tmp_path)
        assert bad.returncode == 2 and word in bad.stderr and "Traceback" not in bad.stderr


def test_calendar_and_organisation_commands(database_url, clean_db, tmp_path):
    assert _cli(["calendar", "add", "2099-01-05", "--holiday", "--name", "试验"], database_url,
                tmp_path).returncode == 0
    due = _cli(["calendar", "due", "1", "--from", "2099-01-02"], database_url, tmp_path)
    assert due.returncode == 0 and "2099-01-06" in due.stdout and "2099" in due.stdout
    bad = _cli(["calendar", "add", "2099-02-30", "--holiday"], database_url, tmp_path)
    assert bad.returncode == 2 and "2099-02-30" in bad.stderr
    days = tmp_path / "days.yaml"
    days.write_text("- {day: 2099-01-06, workday: false}\n- {day: 2099-01-07}\n", encoding="utf-8")
    bad = _cli(["calendar", "load", str(days)], database_url, tmp_path)
    assert bad.returncode == 2 and "第 2 项" in bad.stderr
    with clean_db.connect() as conn:  # all or nothing
        assert conn.execute(text("SELECT count(*) FROM calendar_day")).scalar() == 1
    ok = _cli(["org", "set", "上海崇明燃气有限公司", "--kind", "utility", "--phone", "021-6969",
               "--dingtalk-webhook", "https://oapi.dingtalk.com/robot/send?access_token=x",
               "--dingtalk-secret", "SECabc"], database_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = _cli(["org", "set", "上海崇明燃气有限公司", "--kind", "utility", "--wecom-webhook", "ftp://x"],
               database_url, tmp_path)
    assert bad.returncode == 2 and "wecom_webhook_url" in bad.stderr
    with clean_db.connect() as conn:
        row = conn.execute(text("SELECT phone, dingtalk_secret, wecom_webhook_url FROM organisation")).one()
    assert tuple(row) == ("021-6969", "SECabc", None)
