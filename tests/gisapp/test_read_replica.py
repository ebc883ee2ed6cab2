"""A real streaming read replica (pg_basebackup) behind the map data and what lag looks like.

The primary and its standby are clusters this test starts itself. Map data reads go to
the replica while it keeps up; a registration and the builder's own reads stay on the
primary, so a user always sees what they just wrote; a replica further behind than the
allowed lag is skipped until it catches up.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gisapp.api.app import create_app
from gisapp.localdb import LocalCluster, free_port
from gisapp.settings import Settings
from layers.db import make_engine, session_factory
from layers.migrate import upgrade
from layers.services.users import create_user
from tests.factories import site_feature

pytestmark = pytest.mark.postgis

PASSWORD = "correct-horse-battery"
BBOX = "121.37,31.62,121.43,31.65"


@pytest.fixture(scope="module")
def primary_and_replica():
    """A migrated primary with a small network and an office user, and its streaming standby."""
    base = Path(tempfile.mkdtemp(prefix="gisapp-replica-"))
    os.chmod(base, 0o755)
    primary = LocalCluster(base / "primary", port=free_port())
    replica = None
    try:
        url = primary.start().url()
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade(connection=conn)
            conn.execute(text(
                "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
                "outer_diameter_mm, owner, geom) VALUES "
                "('HP-R1', 'high_b', 2.0, 508, '上海天然气管网有限公司', "
                "ST_GeomFromText('MULTILINESTRING((121.38 31.63, 121.42 31.63))', 4490))"))
        with session_factory(engine).begin() as session:
            create_user(session, "office-r", PASSWORD, "gas_office", None)
        engine.dispose()
        replica = primary.create_replica(base / "replica")
        yield url, replica.state().url(), replica.state()
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()


@contextmanager
def client(primary_url: str, replica_url: str, max_lag_s: float):
    settings = Settings(_env_file=None, read_database_url=replica_url, read_max_lag_s=max_lag_s,
                        permit_expiry_interval_s=0)
    with TestClient(create_app(settings, database_url=primary_url)) as api:
        token = api.post("/api/auth/token", data={"username": "office-r", "password": PASSWORD})
        assert token.status_code == 200, token.text
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield api


def _replay(state, paused: bool) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=state.port, user="gisapp", password=state.password,
                            dbname="gisapp")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")
    conn.close()


def _map_codes(api) -> tuple[set[str], str]:
    r = api.get("/maps/data/projects", params={"bbox": BBOX, "zoom": 16, "view": "permits"})
    assert r.status_code == 200, r.text
    return {f["properties"]["code"] for f in r.json()["features"]}, r.headers["X-Gisapp-Read-From"]


def _wait_for(check, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_map_reads_come_from_the_replica_and_writes_stay_readable_on_the_primary(primary_and_replica):
    primary_url, replica_url, replica_state = primary_and_replica
    with client(primary_url, replica_url, max_lag_s=60) as api:
        first = api.post("/api/projects", json=site_feature("REP-001", 121.40, 31.6299))
        assert first.status_code == 201, first.text
        assert _wait_for(lambda: _map_codes(api) == ({"REP-001"}, "replica"))

        _replay(replica_state, paused=True)
        try:
            second = api.post("/api/projects", json=site_feature("REP-002", 121.401, 31.6299))
            assert second.status_code == 201, second.text  # writes never wait for the replica
            # The one who wrote reads it back at once: single reads stay on the primary.
            own = api.get(f"/api/projects/{second.json()['id']}")
            assert own.status_code == 200 and own.json()["properties"]["registration_code"] == "REP-002"
            # The map, read from the paused replica, does not have it yet, and says so.
            time.sleep(1.1)  # past the lag check's period
            codes, source = _map_codes(api)
            assert (codes, source) == ({"REP-001"}, "replica")
        finally:
            _replay(replica_state, paused=False)
        assert _wait_for(lambda: _map_codes(api) == ({"REP-001", "REP-002"}, "replica"))


def test_a_replica_behind_the_allowed_lag_is_skipped_until_it_catches_up(primary_and_replica):
    primary_url, replica_url, replica_state = primary_and_replica
    with client(primary_url, replica_url, max_lag_s=1.0) as api:
        _replay(replica_state, paused=True)
        try:
            created = api.post("/api/projects", json=site_feature("REP-010", 121.402, 31.6299))
            assert created.status_code == 201, created.text
            # Once the replica is more than a second behind, the map reads the primary.
            codes, source = _wait_for(lambda: (lambda c: c if c[1] == "primary" else None)(_map_codes(api)))
            assert source == "primary" and "REP-010" in codes
        finally:
            _replay(replica_state, paused=False)
        codes, source = _wait_for(lambda: (lambda c: c if c[1] == "replica" and "REP-010" in c[0] else None)(
            _map_codes(api)))
        assert source == "replica" and "REP-010" in codes


def test_an_unreachable_replica_sends_reads_to_the_primary(primary_and_replica):
    primary_url, _, _ = primary_and_replica
    dead = f"postgresql://gisapp:x@127.0.0.1:{free_port()}/gisapp"
    with client(primary_url, dead, max_lag_s=60) as api:
        codes, source = _map_codes(api)
        assert source == "primary" and "REP-001" in codes
