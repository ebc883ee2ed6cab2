"""``gisapp user create`` and ``gisapp permits expire`` on the real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

GISAPP = str(Path(sys.executable).with_name("gisapp"))
pytestmark = pytest.mark.postgis


def _cli(args, database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    return subprocess.run([GISAPP, *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


def test_user_create_hashes_the_password_and_refuses_bad_input(database_url, clean_db, tmp_path):
    ok = _cli(["user", "create", "--username", "zhang.san", "--password", "a-long-secret-1",
               "--role", "builder", "--organisation", "崇明建设集团"], database_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT password_hash, role, organisation FROM app_user")).one()
    assert stored.password_hash.startswith("$argon2id$") and "a-long-secret-1" not in stored.password_hash
    assert (stored.role, stored.organisation) == ("builder", "崇明建设集团")
    for args, field in [
        (["--username", "li.si", "--password", "a-long-secret-1", "--role", "boss"], "role"),
        (["--username", "li.si", "--password", "short", "--role", "gas_office"], "password"),
        (["--username", "li.si", "--password", "a-long-secret-1", "--role", "builder"], "organisation"),
        (["--username", "zhang.san", "--password", "a-long-secret-1", "--role", "admin"], "已存在"),
    ]:
        bad = _cli(["user", "create", *args], database_url, tmp_path)
        assert bad.returncode == 2 and field in bad.stderr and "Traceback" not in bad.stderr
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user")).scalar() == 1
        audit = conn.execute(text("SELECT username, action FROM audit_log")).one()
    assert audit.username.startswith("cli:") and audit.action == "user.create"


def test_permits_expire_moves_past_approvals(api, login, stored_network, database_url, tmp_path):
    from tests.factories import site_feature

    office = login("gas_office")
    api.post("/api/projects", json=site_feature("CM-EXP-1", 121.40, 31.6299), headers=office)
    permit = api.get("/api/permits", headers=office).json()["permits"][0]
    for body in ({"to_status": "applied"}, {"to_status": "approved", "approved_until": "2099-01-31"}):
        r = api.post(f"/api/permits/{permit['id']}/transitions", json=body, headers=office)
        assert r.status_code == 200, r.text
    early = _cli(["permits", "expire", "--date", "2099-01-31"], database_url, tmp_path)
    assert early.returncode == 0 and "已过期手续 0 项" in early.stdout
    late = _cli(["permits", "expire", "--date", "2099-02-01"], database_url, tmp_path)
    assert late.returncode == 0 and "已过期手续 1 项" in late.stdout
    expired = api.get(f"/api/permits/{permit['id']}", headers=office).json()
    assert expired["status"] == "expired"
    assert expired["history"][-1]["username"].startswith("cli:")  # who ran the command


def test_user_create_district_and_db_up_district_role(database_url, clean_db, tmp_path):
    ok = _cli(["user", "create", "--username", "cm.office", "--password", "a-long-secret-1",
               "--role", "gas_office", "--district", "崇明区"], database_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = _cli(["user", "create", "--username", "xx.office", "--password", "a-long-secret-1",
                "--role", "gas_office", "--district", "火星区"], database_url, tmp_path)
    assert bad.returncode == 2 and "district" in bad.stderr and "Traceback" not in bad.stderr
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT username, district FROM app_user")).all()
    assert stored == [("cm.office", "310151")]
    up = _cli(["db", "up", "--district-role", "chongming"], database_url, tmp_path)
    assert up.returncode == 0, up.stderr
    assert "gisapp_district_310151" in up.stdout and "崇明区只读账号" in up.stdout
    city = _cli(["db", "up", "--district-role", "shanghai"], database_url, tmp_path)
    assert city.returncode == 2 and "不能是全市" in city.stderr
