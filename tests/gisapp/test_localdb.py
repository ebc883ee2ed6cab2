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


def _can_enter(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path)],
                          capture_output=True, check=False).returncode == 0


# In a private mount namespace: the checkout mounted aside, an empty world-enterable
# tmpfs over the private ancestor, the checkout mounted back at its own path.
_VIEW = ('set -e; view=/tmp/gisapp-test-view; mkdir -p "$view"; mount --bind "$1" "$view"; '
         'mount -t tmpfs -o mode=755 tmpfs "$2"; mkdir -p "$1"; mount --bind "$view" "$1"; '
         'user=$3; shift 3; exec runuser -u "$user" -- "$@"')


def _as_user(user: str, cmd: list[str]) -> list[str]:
    """Run ``cmd`` as ``user``; from a checkout that user cannot reach, show it only that checkout.

    A clone in root's home (0700) is out of every other user's reach, its venv included.
    The command then runs in its own mount namespace where root's home is an empty,
    enterable folder holding just this checkout at its usual path: the process is
    ``user`` through and through (its files, its server), and the real /root is untouched.
    """
    if _can_enter(user, Path(GISAPP)):
        return ["runuser", "-u", user, "--", *cmd]
    repo = Path(GISAPP).parents[2]
    hidden = next(p for p in [*reversed(repo.parents), repo] if not _can_enter(user, p))
    assert hidden != repo, f"{repo} itself is closed to {user}"
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", _VIEW, "sh",
            str(repo), str(hidden), user, *cmd]


def _run(args, env, user=None):
    cmd = [GISAPP, *args]
    if user:
        cmd = _as_user(user, cmd)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, cwd="/")


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


def _fail_with_a_value(url: str, value: str) -> None:
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS t_unique (code text PRIMARY KEY)")
        cur.execute("INSERT INTO t_unique VALUES (%s) ON CONFLICT DO NOTHING", (value,))
        conn.commit()
        with pytest.raises(psycopg2.Error):
            cur.execute("INSERT INTO t_unique VALUES (%s)", (value,))  # duplicate key: an ERROR
    conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root; CI runs as root")
def test_db_up_as_root_from_a_private_folder_like_root_home():
    import json

    base = Path(tempfile.mkdtemp(prefix="gisapp-private-"))  # 0700, owned by root: like /root
    assert base.stat().st_mode & 0o077 == 0
    data = base / "clone" / ".gisapp"
    env = _env(data)
    outside = None
    try:
        up = _run(["db", "up"], env)
        assert up.returncode == 0, up.stderr
        recorded = json.loads((data / "cluster.json").read_text(encoding="utf-8"))["pgdata"]
        outside = Path(recorded).parent
        assert outside.parent == Path("/var/lib/gisapp/clusters")
        assert pwd.getpwuid(Path(recorded, "PG_VERSION").stat().st_uid).pw_name != "root"
        assert base.stat().st_mode & 0o077 == 0  # nothing opened in the private folder
        log = outside / "postgres.log"
        assert log.stat().st_mode & 0o077 == 0 and outside.stat().st_mode & 0o077 == 0
        url = _run(["db", "url"], env).stdout.strip()
        _fail_with_a_value(url, "SECRET-VALUE-4711")
        assert _run(["db", "down"], env).returncode == 0
        text_ = log.read_text(encoding="utf-8", errors="replace")
        assert "duplicate key" in text_ and "SECRET-VALUE-4711" not in text_
        assert _run(["db", "up"], env).returncode == 0  # found again through cluster.json
        assert _run(["db", "status"], env).returncode == 0
    finally:
        _run(["db", "down"], env)
        if outside is not None:
            shutil.rmtree(outside, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def test_server_log_is_private_and_holds_no_values(tmp_path):
    from gisapp.localdb import LocalCluster

    base = Path(tempfile.mkdtemp(prefix="gisapp-log-"))
    os.chmod(base, 0o755)
    cluster = LocalCluster(base / "data", port=free_port())
    try:
        url = cluster.start().url()
        assert cluster.log_file.stat().st_mode & 0o077 == 0
        assert (base / "data").stat().st_mode & 0o077 == 0
        _fail_with_a_value(url, "ANOTHER-SECRET-0815")
        cluster.stop()
        text_ = cluster.log_file.read_text(encoding="utf-8", errors="replace")
        assert "duplicate key" in text_ and "ANOTHER-SECRET-0815" not in text_
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
