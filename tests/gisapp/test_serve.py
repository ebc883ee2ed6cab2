"""``gisapp serve`` for real: a subprocess on a free port answers /docs and lists the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gisapp.localdb import free_port

pytestmark = pytest.mark.postgis


def test_serve_starts_answers_docs_and_stops_cleanly(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "GISAPP_DATA_DIR": str(tmp_path)}
    env.pop("GISAPP_DATABASE_URL", None)
    env.pop("GISAPP_WEBHOOK_URLS", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gisapp")), "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        docs = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                docs = httpx.get(f"{base}/docs", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert docs is not None, f"server never answered: {proc.poll()=}"
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        paths = httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"]
        assert "/api/projects" in paths and "/api/alerts/stream" in paths
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode in (0, 130), out
    assert f"http://127.0.0.1:{port}/docs" in out and "Traceback" not in out
