"""``gisapp db up|down|status|url`` for real: as root (server runs unprivileged) and as a normal user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from gisapp.localdb import free_port

GISAPP = str(Path(sys.executable).with_name("gisapp"))
NORMAL_USER = "gisapp-test"


def _run(args, env, user=None):
    cmd = [GISAPP, *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "GISAPP_DATABASE_URL"}}
    env.update(GISAPP_DATA_DIR=str(data_dir), GISAPP_PG_PORT=str(free_port()), HOME=str(data_dir.parent))
    return env


def _lifecycle(data_dir: Path, user: str | None) -> None:
    env = _env(data_dir)
    try:
        up = _run(["db", "up"], env, user)
        assert up.returncode == 0, up.stderr
        assert "数据库已就绪" in up.stdout
        status = _run(["db", "status"], env, user)
        assert status.returncode == 0 and "运行中" in status.stdout
        url = _run(["db", "url"], env, user).stdout.strip()
        conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            assert cur.fetchone() is not None
            cur.execute("SELECT version_num FROM alembic_version")
            assert cur.fetchone()[0]
            cur.execute("CREATE TABLE survives_restart (x int)")
        conn.commit()
        conn.close()
        # A second ``up`` is a no-op on a running cluster.
        assert _run(["db", "up"], env, user).returncode == 0
        down = _run(["db", "down"], env, user)
        assert down.returncode == 0 and "已停止" in down.stdout
        stopped = _run(["db", "status"], env, user)
        assert stopped.returncode == 3 and "已停止" in stopped.stdout
        # Data survives a restart.
        assert _run(["db", "up"], env, user).returncode == 0
        url = _run(["db", "url"], env, user).stdout.strip()
        conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('survives_restart') IS NOT NULL")
            assert cur.fetchone()[0] is True
        conn.close()
    finally:
        _run(["db", "down"], env, user)


def _server_owner(data_dir: Path) -> str:
    return pwd.getpwuid((data_dir / "pgdata" / "PG_VERSION").stat().st_uid).pw_name


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root; CI runs as root")
def test_db_up_as_root_runs_server_as_unprivileged_user():
    base = Path(tempfile.mkdtemp(prefix="gisapp-root-"))
    os.chmod(base, 0o755)
    try:
        _lifecycle(base / "data", None)
        assert _server_owner(base / "data") != "root"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_db_up_as_normal_user():
    if os.geteuid() == 0:
        subprocess.run(["useradd", "--system", "--no-create-home", NORMAL_USER],
                       capture_output=True, check=False)
        user = NORMAL_USER
    else:
        user = None
    base = Path(tempfile.mkdtemp(prefix="gisapp-user-"))
    os.chmod(base, 0o777)
    try:
        _lifecycle(base / "data", user)
        expected = user or pwd.getpwuid(os.geteuid()).pw_name
        assert _server_owner(base / "data") == expected
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_db_url_without_cluster_says_what_to_do(tmp_path):
    env = _env(tmp_path / "none")
    result = _run(["db", "url"], env)
    assert result.returncode == 2
    assert "gisapp db up" in result.stderr
    assert "Traceback" not in result.stderr


def test_external_database_url_is_used_instead(database_url, tmp_path):
    env = _env(tmp_path / "unused")
    env["DATABASE_URL"] = database_url
    up = _run(["db", "up"], env)
    assert up.returncode == 0, up.stderr
    assert "外部数据库" in up.stdout
    assert not (tmp_path / "unused").exists()
    # libpq form by default (psql, QGIS), the SQLAlchemy form on request.
    assert _run(["db", "url", "--sqlalchemy"], env).stdout.strip() == database_url
    assert _run(["db", "url"], env).stdout.strip() == database_url.replace("+psycopg2", "")
