"""Test fixtures: a real PostGIS, never a mock.

The database comes from ``--database-url``, then ``TEST_DATABASE_URL``, then a
throwaway cluster this session starts itself (never the development database).
Locally, PostGIS tests skip when no PostGIS can be had; under CI (``CI`` set) that
is a failure instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisapp.localdb import LocalCluster, free_port
from layers.db import make_engine
from layers.migrate import upgrade


def pytest_addoption(parser):
    """Add ``--database-url`` for running against an existing PostGIS."""
    parser.addoption("--database-url", default=None, help="PostGIS URL for tests (emptied!)")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostGIS required under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostGIS: {reason}")


@pytest.fixture(scope="session")
def database_url(request):
    """URL of a migrated, empty PostGIS database for this test session."""
    url = request.config.getoption("--database-url") or os.environ.get("TEST_DATABASE_URL")
    cluster = None
    if not url:
        base = Path(tempfile.mkdtemp(prefix="gisapp-test-"))
        os.chmod(base, 0o755)  # the server may run as another OS user
        cluster = LocalCluster(base / "cluster", port=free_port())
        try:
            url = cluster.start().url()
        except Exception as exc:  # noqa: BLE001 - reported as skip or CI failure
            _unavailable(str(exc))
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(connection=conn)
    engine.dispose()
    yield url
    if cluster is not None:
        cluster.destroy()


@pytest.fixture(scope="session")
def db_engine(database_url):
    """The session's engine on the test database."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def db_session(db_engine):
    """A session inside a transaction rolled back after the test (commits become savepoints)."""
    conn = db_engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    trans.rollback()
    conn.close()


@pytest.fixture()
def clean_db(db_engine):
    """For tests that must commit for real (CLI subprocesses): empty the tables after."""
    yield db_engine
    with db_engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
            )
        ).scalars().all()
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture()
def api(database_url, clean_db):
    """A TestClient on the real app and database; tables are emptied after the test."""
    from fastapi.testclient import TestClient

    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None), database_url=database_url)
    with TestClient(app) as client:
        yield client


@pytest.fixture()
def login(api, db_engine):
    """Return a function role, organisation -> Authorization headers of a new user."""
    from layers.db import session_factory
    from layers.services.users import create_user

    counter = iter(range(1, 10_000))

    def make(role: str, organisation: str | None = None) -> dict:
        name = f"{role}-{next(counter)}"
        password = "correct-horse-battery"
        with session_factory(db_engine).begin() as session:
            create_user(session, name, password, role, organisation)
        token = api.post("/api/auth/token", data={"username": name, "password": password})
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    return make


@pytest.fixture()
def stored_network(db_engine, clean_db):
    """Load a small real network: a high-pressure and a medium-pressure pipe near 城桥镇."""
    with db_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
            "outer_diameter_mm, owner, geom) VALUES "
            "('HP-T1', 'high_b', 2.0, 508, '上海天然气管网有限公司', "
            "ST_GeomFromText('MULTILINESTRING((121.38 31.63, 121.42 31.63))', 4490)), "
            "('MP-T1', 'medium_a', 0.3, 160, '上海崇明燃气有限公司', "
            "ST_GeomFromText('MULTILINESTRING((121.38 31.64, 121.42 31.64))', 4490))"
        ))
    return db_engine
