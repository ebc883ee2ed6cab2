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
