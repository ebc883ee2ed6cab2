"""The README's main job on the embedded default: a fresh data dir, then quickstart twice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
        first = run("quickstart")
        assert first.returncode == 0, first.stderr
        assert "已载入崇明区合成示例数据" in first.stdout
        pipes = int(re.search(r"燃气管道：(\d+) 段", first.stdout).group(1))
        projects = int(re.search(r"施工项目：(\d+) 个", first.stdout).group(1))
        conflicts = int(re.search(r"冲突 (\d+) 处", first.stdout).group(1))
        assert pipes > 1000 and projects > 100 and conflicts > 10
        assert "乡镇：18 个" in first.stdout
        second = run("quickstart")
        assert second.returncode == 0, second.stderr
        assert "未重新载入" in second.stdout
        assert f"燃气管道：{pipes} 段" in second.stdout
        assert "新增冲突 0 处" in second.stdout  # re-screening finds the same conflicts
    finally:
        run("db", "down")
        shutil.rmtree(base, ignore_errors=True)
