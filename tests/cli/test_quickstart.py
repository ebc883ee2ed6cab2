"""The README's main job on the embedded default: a fresh data dir, then quickstart twice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gisapp.localdb import free_port

GISAPP = str(Path(sys.executable).with_name("gisapp"))


def test_quickstart_starts_local_postgis_loads_sample_and_screens():
    base = Path(tempfile.mkdtemp(prefix="gisapp-qs-"))
    os.chmod(base, 0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "GISAPP_DATABASE_URL"}}
    env.update(GISAPP_DATA_DIR=str(base / "data"), GISAPP_PG_PORT=str(free_port()))
    run = lambda *args: subprocess.run(  # noqa: E731
        [GISAPP, *args], env=env, capture_output=True, text=True, timeout=300, cwd=base,
        stdin=subprocess.DEVNULL,
    )
    try:
        first = run("quickstart", "--no-serve")
        assert first.returncode == 0, first.stderr
        assert "已载入崇明区合成示例数据" in first.stdout
        pipes = int(re.search(r"燃气管道：(\d+) 段", first.stdout).group(1))
        projects = int(re.search(r"施工项目：(\d+) 个", first.stdout).group(1))
        conflicts = int(re.search(r"当前冲突 (\d+) 处", first.stdout).group(1))
        assert pipes > 1000 and projects > 100 and conflicts > 10
        assert "乡镇：18 个" in first.stdout
        # A first gas office account, its password shown once and kept in a private file.
        password = re.search(r"初始密码 (\S+)（", first.stdout).group(1)
        credentials = base / "data" / "initial-user.txt"
        assert password in credentials.read_text(encoding="utf-8")
        assert credentials.stat().st_mode & 0o077 == 0
        assert "请登录后立即修改密码" in first.stdout and "/api/auth/password" in first.stdout
        second = run("quickstart", "--no-serve")
        assert "仍在使用初始密码" in second.stderr  # said again until it is changed
        assert second.returncode == 0, second.stderr
        assert "未重新载入" in second.stdout
        assert f"燃气管道：{pipes} 段" in second.stdout
        assert "新增冲突 0 处" in second.stdout  # re-screening finds the same conflicts
        assert f"当前冲突 {conflicts} 处" in second.stdout
        assert "已创建燃气管理所账号" not in second.stdout
        # Without --no-serve the main job ends by serving; the first account can log in.
        port = free_port()
        server = subprocess.Popen([GISAPP, "quickstart", "--port", str(port)], env=env, cwd=base,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL)
        try:
            token = None
            for _ in range(150):
                try:
                    r = httpx.post(f"http://127.0.0.1:{port}/api/auth/token",
                                   data={"username": "office", "password": password}, timeout=2)
                    token = r.json()["access_token"]
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            assert token, "quickstart did not serve"
            alerts = httpx.get(f"http://127.0.0.1:{port}/api/alerts?limit=1000",
                               headers={"Authorization": f"Bearer {token}"}).json()["alerts"]
            assert len(alerts) == conflicts  # one alert per conflict of the sample
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        run("db", "down")
        shutil.rmtree(base, ignore_errors=True)


def test_quickstart_on_an_external_database_loads_no_sample_unless_asked(database_url, clean_db, tmp_path):
    from sqlalchemy import text

    env = dict(os.environ, DATABASE_URL=database_url, GISAPP_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([GISAPP, "quickstart", "--no-serve"], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "未载入示例数据" in r.stdout and "--sample" in r.stdout
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT (SELECT count(*) FROM gas_pipeline) + "
                                   "(SELECT count(*) FROM construction_project)")).scalar_one()
    assert stored == 0
