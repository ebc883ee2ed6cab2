"""Schemathesis over every operation of the real app on the real test database: never a 500.

Cases are generated from the app's own OpenAPI document (valid and invalid input),
sent in-process with a gas_office token, and checked with ``not_a_server_error``.
Derandomized, with a bounded number of examples per operation, so runs repeat.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import text

from gisapp.api.app import create_app
from gisapp.settings import Settings

pytestmark = pytest.mark.postgis

MAX_EXAMPLES = 25


def _truncate(engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
            )
        ).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture(scope="module")
def office_token(db_engine):
    """A gas_office bearer token, on a database holding two pipes and one conflicting project."""
    from layers.db import session_factory
    from layers.services.users import create_user, issue_token

    _truncate(db_engine)
    with session_factory(db_engine).begin() as session:
        user = create_user(session, "office-schemathesis", "correct-horse-battery", "gas_office")
        token, _ = issue_token(session, user, 60)
        session.execute(
            text(
                "INSERT INTO gas_pipeline (external_code, pressure_class, design_pressure_mpa, "
                "outer_diameter_mm, owner, geom) VALUES "
                "('HP-T1', 'high_b', 2.0, 508, '上海天然气管网有限公司', "
                "ST_GeomFromText('MULTILINESTRING((121.38 31.63, 121.42 31.63))', 4490)), "
                "('MP-T1', 'medium_a', 0.3, 160, '上海崇明燃气有限公司', "
                "ST_GeomFromText('MULTILINESTRING((121.38 31.64, 121.42 31.64))', 4490))"
            )
        )
    yield token
    _truncate(db_engine)


@pytest.fixture(scope="module")
def real_app(database_url, office_token):
    """The app on the test database (schemathesis runs its lifespan in-process)."""
    from gisapp.api.app import create_app

    return create_app(Settings(_env_file=None), database_url=database_url)


# The schema is read at import time from an app that never connects (engines are lazy):
# the test database only exists once the fixtures run, and each case is sent to ``real_app``.
# Server-sent event streams stay open until their idle timeout (10 s per case): left out.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(_env_file=None), database_url="postgresql://schema@/none")
).exclude(path_regex=r"/stream$")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_500(case, real_app, office_token):
    headers = {"Authorization": f"Bearer {office_token}"}
    if case.headers and "Authorization" in case.headers:
        headers = {}  # the case tests authentication itself
    case.call_and_validate(app=real_app, headers=headers, checks=[not_a_server_error])
