"""``gisapp db url`` prints what psql accepts; ``db up --readonly-role`` gives desktop GIS a reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from gisapp.localdb import find_pg_bindir

GISAPP = str(Path(sys.executable).with_name("gisapp"))
pytestmark = pytest.mark.postgis
READER = "gis_reader_test"


def _cli(args, database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / ".gisapp"))
    return subprocess.run([GISAPP, *args], env=env, capture_output=True, text=True, timeout=180,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


def _psql(url: str, sql: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([str(find_pg_bindir() / "psql"), url, "-XAtc", sql], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_db_url_is_libpq_and_psql_connects(database_url, stored_network, tmp_path):
    printed = _cli(["db", "url"], database_url, tmp_path)
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    assert url.startswith("postgresql://")
    answer = _psql(url, "SELECT count(*) FROM gas_pipeline")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "2"
    alchemy = _cli(["db", "url", "--sqlalchemy"], database_url, tmp_path).stdout.strip()
    assert alchemy.startswith("postgresql+psycopg2://") and alchemy.split("://")[1] == url.split("://")[1]


def test_readonly_role_reads_layers_only(database_url, stored_network, tmp_path):
    try:
        made = _cli(["db", "up", "--readonly-role", READER, "--readonly-password", "reader-secret-123"],
                    database_url, tmp_path)
        assert made.returncode == 0, made.stderr
        url = made.stdout.strip().splitlines()[-1].split("：", 1)[1]
        assert url.startswith("postgresql://") and READER in url
        assert _psql(url, "SELECT count(*) FROM gas_pipeline").stdout.strip() == "2"
        assert _psql(url, "SELECT ST_SRID(geom) FROM gas_pipeline LIMIT 1").stdout.strip() == "4490"
        for sql in ("SELECT count(*) FROM app_user", "SELECT count(*) FROM api_token",
                    "DELETE FROM gas_pipeline", "INSERT INTO township (code, name, geom) VALUES "
                    "('x', 'x', ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))', 4490))"):
            refused = _psql(url, sql)
            assert refused.returncode != 0 and ("permission denied" in refused.stderr
                                                or "read-only" in refused.stderr), sql
        # Run again: the role is reset, not duplicated; a bad name is refused with its option named.
        again = _cli(["db", "up", "--readonly-role", READER], database_url, tmp_path)
        assert again.returncode == 0, again.stderr
        bad = _cli(["db", "up", "--readonly-role", "Robert'); DROP"], database_url, tmp_path)
        assert bad.returncode == 2 and "--readonly-role" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        with stored_network.begin() as conn:
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": READER}).first():
                conn.execute(text(f"DROP OWNED BY {READER}; DROP ROLE {READER}"))


def test_district_role_from_the_command_line_sees_its_district_only(database_url, stored_network, tmp_path):
    role = "gisapp_district_310151"
    try:
        made = _cli(["db", "up", "--district-role", "崇明区"], database_url, tmp_path)
        assert made.returncode == 0, made.stderr
        url = made.stdout.strip().splitlines()[-1].split("：", 1)[1]
        assert url.startswith("postgresql://") and role in url
        assert _psql(url, "SELECT count(*) FROM gas_pipeline").stdout.strip() == "2"
        # Whatever the session sets, it stays in its district (a RESTRICTIVE policy).
        assert _psql(url, "SET gisapp.district = '310115'; SELECT count(*) FROM gas_pipeline"
                     ).stdout.strip().splitlines()[-1] == "0"
        refused = _psql(url, "DELETE FROM gas_pipeline")
        assert refused.returncode != 0 and "permission denied" in refused.stderr
        bad = _cli(["db", "up", "--district-role", "火星区"], database_url, tmp_path)
        assert bad.returncode == 2 and "--district-role" in bad.stderr and "Traceback" not in bad.stderr
        city = _cli(["db", "up", "--district-role", "shanghai"], database_url, tmp_path)
        assert city.returncode == 2 and "不能是全市" in city.stderr, city.stderr
    finally:
        with stored_network.begin() as conn:
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": role}).first():
                conn.execute(text(f"DROP OWNED BY {role}; DROP ROLE {role}"))
