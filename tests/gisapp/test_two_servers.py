"""Two ``gisapp serve`` processes on one database, as two hosts would run in production.

What must hold when the load is spread over both: every conflict raises exactly one
alert, the outbox never delivers one message from both servers, and the permit expiry
job expires a permit once. Both servers are real subprocesses on their own ports.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gisapp.localdb import free_port
from layers.db import session_factory
from layers.services.users import create_user
from tests.factories import site_feature
from tests.gisapp.test_outbox import Receiver

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"


@contextmanager
def gisapp_server(database_url: str, tmp_path: Path, *, webhook_url: str):
    """Run ``gisapp serve`` in a subprocess; yield its base URL; stop it with SIGINT."""
    port = free_port()
    data_dir = tmp_path / f"server-{port}"
    data_dir.mkdir()
    env = {**os.environ, "DATABASE_URL": database_url, "GISAPP_DATA_DIR": str(data_dir),
           "GISAPP_WEBHOOK_URLS": webhook_url, "GISAPP_OUTBOX_INTERVAL_S": "0.2",
           "GISAPP_PERMIT_EXPIRY_INTERVAL_S": "0.5"}
    env.pop("GISAPP_DATABASE_URL", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gisapp")), "serve", "--port", str(port)],
        cwd=data_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "server did not start"
            try:
                httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert "Traceback" not in out, out


def _token(base: str, username: str) -> dict:
    r = httpx.post(f"{base}/api/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_two_servers_one_alert_per_conflict_one_delivery_per_message_one_expiry(
        stored_network, database_url, tmp_path):
    engine = stored_network
    with session_factory(engine).begin() as session:
        create_user(session, "office-two", PASSWORD, "gas_office", None)
    with ExitStack() as stack:
        receiver = stack.enter_context(Receiver())
        servers = [stack.enter_context(gisapp_server(database_url, tmp_path, webhook_url=receiver.url))
                   for _ in range(2)]
        headers = [_token(base, "office-two") for base in servers]

        # 1. Creations spread over both servers, each on its own site on the HP-T1 trunk.
        def create(i: int) -> httpx.Response:
            feature = site_feature(f"TWO-{i:03d}", 121.381 + i * 0.0005, 31.6299)
            return httpx.post(f"{servers[i % 2]}/api/projects", json=feature,
                              headers=headers[i % 2], timeout=60)

        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(create, range(40)))
        refused = [r.text for r in created if r.status_code != 201]
        assert not refused, refused

        # 2. The same sites moved into range through both servers at once: racing screens.
        far = [httpx.post(f"{servers[0]}/api/projects",
                          json=site_feature(f"RACE-{i:02d}", 121.381 + i * 0.001, 31.6600),
                          headers=headers[0], timeout=60).json()["id"] for i in range(10)]

        def move(args: tuple[int, int]) -> int:
            project_id, side = args
            i = far.index(project_id)
            feature = site_feature(f"RACE-{i:02d}", 121.381 + i * 0.001, 31.6299)
            return httpx.put(f"{servers[side]}/api/projects/{project_id}", json=feature,
                             headers=headers[side], timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(move, [(pid, side) for pid in far for side in (0, 1)]))
        assert set(statuses) == {200}, statuses

        conflicts = _count(engine, "SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NULL")
        assert conflicts == 50
        assert _count(engine, "SELECT count(*) FROM alert") == conflicts
        assert _count(engine, "SELECT count(DISTINCT conflict_id) FROM alert") == conflicts

        # 3. Every outbox message delivered once although both servers run a dispatcher.
        deadline = time.monotonic() + 60
        while _count(engine, "SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL") and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        messages = _count(engine, "SELECT count(*) FROM outbox_message")
        assert messages == conflicts
        assert _count(engine, "SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL") == 0
        deliveries = receiver.deliveries()
        assert len(deliveries) == messages and len(set(deliveries)) == messages

        # 4. Lapsed approvals expire once, with both servers' expiry jobs running.
        yesterday = dt.date.today() - dt.timedelta(days=1)
        with engine.begin() as conn:
            ids = conn.execute(text(
                "UPDATE permit SET status = 'approved', approved_until = :d, reference = 'T' "
                "WHERE id IN (SELECT id FROM permit ORDER BY id LIMIT 20) RETURNING id"),
                {"d": yesterday}).scalars().all()
        assert len(ids) == 20
        deadline = time.monotonic() + 30
        while _count(engine, "SELECT count(*) FROM permit WHERE status = 'expired'") < 20 and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # both jobs get at least one more pass: nothing may expire twice
        assert _count(engine, "SELECT count(*) FROM permit WHERE status = 'expired'") == 20
        assert _count(engine, "SELECT count(*) FROM permit_event WHERE to_status = 'expired'") == 20
